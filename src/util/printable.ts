// Text that came from outside (an STS or SSO error message, a portal's role name, a
// verification URL, a config value) made safe to print on a terminal: escape sequences
// (CSI, OSC, DCS and the two-byte ones) removed whole, then every remaining C0 and C1
// control character and the Unicode bidirectional overrides (which reorder what a person
// reads) removed. One function for the whole program, so no printer forgets a case.

// ESC [ ... final byte; ESC ] ... BEL or ST; ESC P/X/^/_ ... ST; ESC + one byte. The C1
// forms (U+009B CSI, U+009D OSC, U+0090 DCS) are matched too.
// eslint-disable-next-line no-control-regex
const ESCAPES = /(?:\x1b\[|\u009b)[0-?]*[ -/]*[@-~]?|(?:\x1b[\]PX^_]|[\u009d\u0090\u0098\u009e\u009f])[^\x07\x1b\u009c]*(?:\x07|\x1b\\|\u009c)?|\x1b[\s\S]?/g;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` without escape sequences or control characters; newlines and tabs become spaces. */
export function printable(text: string): string {
  return text.replace(ESCAPES, '').replace(/[\t\n\r]+/g, ' ').replace(CONTROLS, '');
}
