// Which sign-in `keyrole login` (and a credential_process call at a terminal) runs: the
// browser with PKCE wherever a browser can be opened on this machine, as AWS CLI 2.22+
// does; the device flow (a code to approve on any device) with --use-device-code, over SSH
// (a browser elsewhere cannot reach this machine's 127.0.0.1), or where no browser can be
// opened. --no-browser keeps the browser sign-in but prints its URL.

import { browserCommands } from '../util/browser.ts';
import { switchOn } from '../util/switch.ts';

export interface FlowFlags {
  useDeviceCode?: boolean;
  noBrowser?: boolean;
}

export interface FlowChoice {
  flow: 'browser' | 'device';
  /** Open the page in a browser (else print it). */
  open: boolean;
  /** Why the device flow was chosen by itself: said on the terminal. */
  note?: string;
}

export function chooseFlow(f: FlowFlags, e: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): FlowChoice {
  if (f.useDeviceCode) return { flow: 'device', open: !f.noBrowser };
  if (f.noBrowser) return { flow: 'browser', open: false };
  const ssh = e.SSH_CONNECTION ? 'SSH_CONNECTION' : e.SSH_TTY ? 'SSH_TTY' : undefined;
  if (ssh) {
    return { flow: 'device', open: false, note: `This is an SSH session (${ssh} is set): signing in with a code you approve in any browser (the device flow). keyrole login --no-browser signs in through a browser on this machine instead.` };
  }
  if (!browserCommands({ url: 'https://example.com/' }, platform, e).length) {
    const why = switchOn(e.KEYROLE_NO_BROWSER) ? 'KEYROLE_NO_BROWSER is set' : 'no BROWSER, no display';
    return { flow: 'device', open: false, note: `No browser can be opened here (${why}): signing in with a code you approve in any browser (the device flow).` };
  }
  return { flow: 'browser', open: true };
}
