// What keyrole says about the clock: the offset in words, the operating system's own fix,
// the ClockWrong failure, and the one-line summary for --debug and doctor.

import { KeyroleError } from '../util/errors.ts';
import { formatDuration, signedSeconds } from '../util/duration.ts';
import { classify, IN_SYNC_MS, MAX_CORRECTABLE_MS, type Estimate } from './estimate.ts';

/** "10 min 0 s ahead" (offset < 0: the local clock is later than the server's). */
export function describeOffset(offsetMs: number): string {
  return `${formatDuration(offsetMs)} ${offsetMs < 0 ? 'ahead' : 'behind'}`;
}

/** How to set the clock right, per operating system. */
export function clockFix(platform: string = process.platform): string {
  switch (platform) {
    case 'darwin':
      return 'set the clock right: sudo sntp -sS time.apple.com, and turn on System Settings > General > Date & Time > "Set time and date automatically"';
    case 'win32':
      return 'set the clock right: w32tm /resync in an administrator prompt (or Settings > Time & language > Date & time > Sync now), and make sure the Windows Time service runs';
    case 'linux':
      return 'set the clock right: sudo timedatectl set-ntp true (systemd-timesyncd), or sudo chronyc makestep where chrony runs';
    default:
      return 'set the clock right: synchronise it with NTP (ntpd, chrony or the system settings)';
  }
}

/** The failure for a clock AWS would reject. */
export function clockError(e: Estimate, platform: string = process.platform): KeyroleError {
  return new KeyroleError(
    'ClockWrong',
    `this machine's clock is ${describeOffset(e.offsetMs)} (offset ${signedSeconds(e.offsetMs)}, measured ${e.label}); AWS rejects requests signed more than 15 minutes off, so the AWS CLI's own requests would fail too`,
    clockFix(platform),
  );
}

/** One line for --debug and doctor. */
export function describeEstimate(e: Estimate): string {
  switch (classify(e)) {
    case 'unchecked':
      return 'the clock could not be checked';
    case 'in-sync':
      return `the clock is right (offset ${signedSeconds(e.offsetMs)} ${e.label}, under ${IN_SYNC_MS / 1000} s)`;
    case 'corrected':
      return `the clock is ${describeOffset(e.offsetMs)} (offset ${signedSeconds(e.offsetMs)} ${e.label}): signing on the corrected clock and translating Expiration into the local clock's frame`;
    case 'rejected':
      return `the clock is ${describeOffset(e.offsetMs)} (offset ${signedSeconds(e.offsetMs)} ${e.label}), beyond the ${MAX_CORRECTABLE_MS / 60_000} min keyrole corrects`;
  }
}
