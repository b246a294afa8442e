// How keyrole reads its on/off environment variables (KEYROLE_NO_BROWSER, KEYROLE_NO_GUI,
// KEYROLE_KERNEL_CACHE): one rule, so `KEYROLE_NO_BROWSER=0` means what it says (the switch
// is off: the browser opens) instead of "set, so on".

const OFF = /^(0|false|no|off)$/i;

/** A switch such as KEYROLE_NO_BROWSER: on when set to anything but empty, 0, false, no or off. */
export function switchOn(value: string | undefined): boolean {
  const v = (value ?? '').trim();
  return v !== '' && !OFF.test(v);
}

/** A setting such as KEYROLE_KERNEL_CACHE: turned off by 0, false, no or off. */
export function switchedOff(value: string | undefined): boolean {
  return OFF.test((value ?? '').trim());
}
