// The remembered measurement (<keyrole home>/clock.json), so a burst of misses asks NTP
// once an hour: its format, its validity across clock steps, and reading and writing it.

import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { debug } from '../util/debug.ts';
import { writeAtomic } from '../util/atomic.ts';
import { keyroleHome, privateDir } from '../util/home.ts';
import { writableByOthers } from '../util/platform.ts';
import { jsonObject } from '../util/json.ts';

/** A remembered measurement is dropped when wall and monotonic time disagree by more (the clock was set). */
export const CLOCK_STEP_MS = 2_000;

export interface Stamp {
  /** Local wall clock, ms. */
  at: number;
  /** Monotonic clock, ms (steps of the wall clock do not move it). */
  mono: number;
}

export interface RememberedNtp extends Stamp {
  servers: string;
  ok: boolean;
  offsetMs?: number;
  rttMs?: number;
  server?: string;
  error?: string;
}

export interface RememberedDate extends Stamp {
  offsetMs: number;
  uncertaintyMs: number;
  endpoint?: string;
}

export interface ClockMemory {
  v: 1;
  ntp?: RememberedNtp;
  date?: RememberedDate;
}

export function stampNow(): Stamp {
  return { at: Date.now(), mono: Number(process.hrtime.bigint() / 1_000_000n) };
}

/**
 * Whether a remembered measurement still describes this clock: younger than ttlMs, and the
 * wall clock moved as much as the monotonic one since (a set clock, a reboot or a suspend
 * makes them differ, and the measurement is taken again).
 */
export function stillValid(then: Stamp, now: Stamp, ttlMs: number): boolean {
  const wall = now.at - then.at;
  const mono = now.mono - then.mono;
  return mono >= 0 && wall >= -CLOCK_STEP_MS && wall < ttlMs && Math.abs(wall - mono) <= CLOCK_STEP_MS;
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const optStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The memory file's contents, or an empty memory for anything keyrole did not write whole. */
export function parseMemory(text: string): ClockMemory {
  const v = jsonObject(text);
  if (v?.v !== 1) return { v: 1 };
  const out: ClockMemory = { v: 1 };
  const n = v.ntp as Record<string, unknown> | undefined;
  if (n && typeof n === 'object' && num(n.at) && num(n.mono) && typeof n.servers === 'string' && typeof n.ok === 'boolean' && (!n.ok || num(n.offsetMs))) {
    out.ntp = { at: n.at, mono: n.mono, servers: n.servers, ok: n.ok, offsetMs: num(n.offsetMs) ? n.offsetMs : undefined, rttMs: num(n.rttMs) ? n.rttMs : undefined, server: optStr(n.server), error: optStr(n.error) };
  }
  const d = v.date as Record<string, unknown> | undefined;
  if (d && typeof d === 'object' && num(d.at) && num(d.mono) && num(d.offsetMs) && num(d.uncertaintyMs)) {
    out.date = { at: d.at, mono: d.mono, offsetMs: d.offsetMs, uncertaintyMs: d.uncertaintyMs, endpoint: optStr(d.endpoint) };
  }
  return out;
}

export function memoryPath(): string {
  return join(keyroleHome(), 'clock.json');
}

/** Not a secret, but private all the same: 0600 in keyrole's 0700 directory; never a symlink. */
export function readMemory(path: string = memoryPath()): ClockMemory {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return { v: 1 };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 65_536 || writableByOthers(st.mode)) return { v: 1 };
    return parseMemory(readFileSync(fd, 'utf8'));
  } catch {
    return { v: 1 };
  } finally {
    closeSync(fd);
  }
}

/** Best effort: a clock memory that cannot be written only costs an NTP query next time. */
export function writeMemory(m: ClockMemory, path: string = memoryPath()): void {
  try {
    if (path === memoryPath()) privateDir(keyroleHome());
    writeAtomic(path, JSON.stringify(m));
  } catch (err) {
    debug(`clock: could not remember the measurement in ${path} (${(err as Error).message})`);
  }
}
