// Runs a function with some environment variables set (undefined: unset) and others
// cleared, then puts the environment back as it was.
export function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T, clear: readonly string[] = []): T {
  const saved = new Map<string, string | undefined>();
  for (const k of new Set([...clear, ...Object.keys(vars)])) {
    saved.set(k, process.env[k]);
    if (vars[k] === undefined) delete process.env[k];
    else process.env[k] = vars[k];
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
