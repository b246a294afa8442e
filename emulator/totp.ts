import { createHmac, randomBytes } from 'node:crypto';

// RFC 4648 base32, the encoding virtual MFA devices use for their seeds.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Buffer {
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const idx = ALPHABET.indexOf(ch);
    if (idx < 0) throw new Error(`invalid base32 character '${ch}'`);
    value = ((value << 5) | idx) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function isBase32(text: string): boolean {
  return /^[A-Z2-7]+=*$/i.test(text.replace(/\s/g, '')) && text.length >= 16;
}

export function randomBase32Secret(bytes = 20): string {
  return base32Encode(randomBytes(bytes));
}

export const TOTP_STEP_SECONDS = 30;

export function totpCounter(timeMs: number): number {
  return Math.floor(timeMs / 1000 / TOTP_STEP_SECONDS);
}

// HOTP (RFC 4226) truncation over HMAC-SHA1; TOTP is HOTP at counter = time / 30 s.
export function hotp(key: Uint8Array, counter: number, digits = 6): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const bin =
    ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** The 6-digit code a virtual MFA device with this base32 secret shows at `timeMs`. */
export function totp(secret: string, timeMs: number = Date.now(), stepOffset = 0): string {
  return hotp(base32Decode(secret), totpCounter(timeMs) + stepOffset);
}

/**
 * The counter the code matches within ±window steps of `timeMs`, or null.
 * The caller decides about reuse; this only checks the arithmetic.
 */
export function matchTotp(secret: string, code: string, timeMs: number, window = 1): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const key = base32Decode(secret);
  const now = totpCounter(timeMs);
  for (let delta = -window; delta <= window; delta++) {
    if (hotp(key, now + delta) === code) return now + delta;
  }
  return null;
}
