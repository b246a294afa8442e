// CommonJS require for the few things keyrole loads at run time (the keychain addon, the
// SDK bundles, node:sea). The bundle has one; the TypeScript sources run as ES modules
// (tests, `node src/main.ts`), where it is made from this file's URL. node:module is
// fetched only then: it is not among the built-ins Node has loaded at start, and loading
// it cost a cache hit ~0.3 ms for nothing.

declare const require: NodeJS.Require | undefined;

export function nodeRequire(): NodeJS.Require {
  if (typeof require === 'function') return require;
  const { createRequire } = process.getBuiltinModule('node:module') as typeof import('node:module');
  return createRequire(import.meta.url);
}
