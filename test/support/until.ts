// Waiting for a condition a test cannot be told about: polls every 100 ms, with a generous
// bound (never a fixed sleep: the machine may be busy).

export async function until<T>(what: string, get: () => T | undefined | Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
