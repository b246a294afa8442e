// Loads a subcommand's code when it runs (see src/commands/index.ts for the names and help).
// The Record type makes a command without a loader, or a loader without a command, a
// compile error.

import type { CommandName } from './index.ts';

type Main = { main(argv: string[]): Promise<void> };

const LOADERS: Record<CommandName, () => Promise<Main>> = {
  process: () => import('./process.ts'),
  setup: () => import('./setup.ts'),
  list: () => import('./sources.ts').then((m) => ({ main: m.listMain })),
  remove: () => import('./sources.ts').then((m) => ({ main: m.removeMain })),
  cache: () => import('./cache.ts'),
  doctor: () => import('./doctor.ts'),
  whoami: () => import('./whoami.ts'),
  exec: () => import('./exec.ts'),
  export: () => import('./export.ts'),
  rotate: () => import('./rotate.ts'),
  configure: () => import('./configure.ts'),
  completion: () => import('./completion.ts'),
  login: () => import('./login.ts'),
  logout: () => import('./logout.ts'),
  sso: () => import('./sso.ts'),
  console: () => import('./console.ts'),
  serve: () => import('./serve.ts'),
  status: () => import('./status.ts'),
  import: () => import('./import.ts'),
  store: () => import('./store.ts'),
};

export function loadCommand(name: CommandName): Promise<Main> {
  return LOADERS[name]();
}
