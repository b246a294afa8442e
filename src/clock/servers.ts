// Which NTP servers keyrole asks (keyrole_ntp_servers, KEYROLE_NTP_SERVERS, default
// time.aws.com), or that NTP is off.

import { KeyroleError } from '../util/errors.ts';

export const DEFAULT_NTP_SERVERS = 'time.aws.com';

export interface NtpServer {
  host: string;
  port: number;
  /** As written, for messages: host or host:port. */
  label: string;
}

export interface ClockConfig {
  ntp: boolean;
  servers: NtpServer[];
  /** Where the setting came from, for --debug. */
  from: string;
}

/** The values of KEYROLE_NTP and keyrole_ntp_servers that turn NTP off. */
export const OFF = new Set(['off', '0', 'false', 'no', 'none', 'disabled']);

/** `host`, `host:port`, IPv4 or a DNS name, separated by commas or spaces. */
export function parseNtpServers(raw: string, from: string): NtpServer[] {
  const out: NtpServer[] = [];
  for (const item of raw.split(/[\s,]+/).filter(Boolean)) {
    const m = /^([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(item);
    const port = m?.[2] === undefined ? 123 : Number(m[2]);
    if (!m || port < 1 || port > 65535) {
      throw new KeyroleError('BadNtpServers', `${from} = ${JSON.stringify(raw)}: ${JSON.stringify(item)} is not host or host:port`, 'list NTP servers as host or host:port (IPv4 or a name), separated by commas, or set KEYROLE_NTP=off');
    }
    out.push({ host: m[1], port, label: item });
  }
  if (out.length === 0) throw new KeyroleError('BadNtpServers', `${from} lists no NTP server`, `name at least one (default ${DEFAULT_NTP_SERVERS}), or set KEYROLE_NTP=off`);
  return out;
}

/** KEYROLE_NTP=off, then KEYROLE_NTP_SERVERS, then the profile's keyrole_ntp_servers, then time.aws.com. */
export function clockConfig(env: NodeJS.ProcessEnv, profileServers: string | undefined): ClockConfig {
  const off = env.KEYROLE_NTP?.trim().toLowerCase();
  if (off && OFF.has(off)) return { ntp: false, servers: [], from: `KEYROLE_NTP=${env.KEYROLE_NTP}` };
  const pick: [string, string] = env.KEYROLE_NTP_SERVERS?.trim()
    ? [env.KEYROLE_NTP_SERVERS, 'KEYROLE_NTP_SERVERS']
    : profileServers?.trim()
      ? [profileServers, 'keyrole_ntp_servers']
      : [DEFAULT_NTP_SERVERS, 'the default'];
  if (OFF.has(pick[0].trim().toLowerCase())) return { ntp: false, servers: [], from: `${pick[1]} = ${pick[0].trim()}` };
  return { ntp: true, servers: parseNtpServers(pick[0], pick[1]), from: pick[1] };
}

export function serversKey(c: ClockConfig): string {
  return c.servers.map((s) => `${s.host}:${s.port}`).join(',');
}
