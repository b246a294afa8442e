// One provider per layer kind (src/credentials/plan.ts names the kinds).

import type { LayerKind } from '../plan.ts';
import type { Provider } from './types.ts';
import { resolveSession } from './session.ts';
import { resolveMfaSession } from './mfa-session.ts';
import { resolveRole } from './role.ts';
import { resolveSsoRole } from './sso-role.ts';
import { resolveChainedRole } from './chained-role.ts';
import { resolveLogin } from './login.ts';

export const PROVIDERS: Record<LayerKind, Provider> = {
  'session': resolveSession,
  'mfa-session': resolveMfaSession,
  'role': resolveRole,
  'sso-role': resolveSsoRole,
  'login': resolveLogin,
  'chained-role': resolveChainedRole,
};
