// What keyrole reads back as a JSON object (its keychain records, its cache entries, its
// clock memory, an AWS tool's cache file): the text parsed, and anything that is not an
// object (not JSON at all, null, an array, a number) read as nothing, so each reader then
// checks only its own fields, most of them non-empty strings.

/** `text` as a JSON object; undefined for anything else. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** A non-empty string, else undefined (a field of what was read back). */
export const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
