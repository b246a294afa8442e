// The AWS federation endpoint (signin.aws.amazon.com/federation) and a stub console, strict
// the way AWS is (IAM User Guide, "Enable custom identity broker access to the AWS console";
// the Knowledge Center's "Invalid credentials parameter" article):
//   GET|POST /federation?Action=getSigninToken&Session={"sessionId","sessionKey","sessionToken"}[&SessionDuration=s]
//     → {"SigninToken": …}: only live temporary credentials from AssumeRole, IAM Identity
//     Center or GetFederationToken; GetSessionToken credentials and long-term keys are
//     refused, as is a SessionDuration (900–43200) for federation credentials or a chained role.
//   GET /federation?Action=login&SigninToken=…&Destination=https://….console.aws.amazon.com/…
//     → a console session cookie and a redirect to the stub console; a token is good once,
//     for 15 minutes.
//   GET /console/… → a page that says who is signed in, for the tests and the demo.
// Test controls under /_emulator/signin/.

import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { EmulatorState, Session } from './state.ts';
import { isoSeconds } from './sts.ts';
import { esc, jsonReply, perEmulator, type Reply } from './http.ts';

const TOKEN_LIFETIME_MS = 15 * 60 * 1000;
const CONSOLE_HOSTS = /^(?:[a-z0-9-]+\.)?console\.(?:aws\.amazon\.com|amazonaws\.cn|amazonaws-us-gov\.com)$/;
const COOKIE = 'aws-console-session';

interface SigninToken {
  session: Session;
  issuedAt: number;
  sessionDurationSeconds?: number;
  used: boolean;
}

interface ConsoleSession {
  arn: string;
  accountId: string;
  kind: Session['kind'];
  destination: string;
  expiresAt: number;
  sessionDurationSeconds?: number;
  permissions: string;
}

interface SigninStats {
  getSigninToken: number;
  refused: number;
  login: number;
  loginRefused: number;
}

class SigninState {
  tokens = new Map<string, SigninToken>();
  consoles = new Map<string, ConsoleSession>();
  stats: SigninStats = { getSigninToken: 0, refused: 0, login: 0, loginRefused: 0 };
}

const signinState = perEmulator(() => new SigninState());

/** AWS answers a bad request at the federation endpoint with a servlet-style HTML error page. */
function refusal(message: string): Reply {
  return {
    status: 400,
    contentType: 'text/html; charset=utf-8',
    headers: {},
    body: `<!DOCTYPE html><html><head><title>HTTP Status 400 - ${esc(message)}</title></head><body><h1>HTTP Status 400 - ${esc(message)}</h1><p><b>description</b> The request sent by the client was syntactically incorrect.</p></body></html>\n`,
  };
}

/** What the stub console shows under "permissions": the session policy decides for a federated user. */
function permissionsOf(s: Session): string {
  if (s.kind !== 'federation') return `the role ${s.role?.roleName ?? ''}`.trim();
  if (s.sessionPolicy === undefined) return 'none (no session policy was passed to GetFederationToken)';
  try {
    const doc = JSON.parse(s.sessionPolicy) as { Statement?: unknown };
    const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
    const all = statements.some((st) => {
      const x = st as { Effect?: string; Action?: unknown; Resource?: unknown };
      return x?.Effect === 'Allow' && [x.Action].flat().includes('*') && [x.Resource].flat().includes('*');
    });
    return all ? "the user's own" : 'restricted by the session policy';
  } catch {
    return 'none (unreadable session policy)';
  }
}

function getSigninToken(state: EmulatorState, st: SigninState, q: URLSearchParams): Reply {
  const refuse = (m: string) => {
    st.stats.refused++;
    return refusal(m);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(q.get('Session') ?? '');
  } catch {
    return refuse('Invalid credentials parameter');
  }
  const c = parsed as Record<string, unknown> | null;
  if (!c || typeof c !== 'object' || Array.isArray(c) || Object.keys(c).some((k) => !['sessionId', 'sessionKey', 'sessionToken'].includes(k))) {
    return refuse('Invalid credentials parameter');
  }
  const [id, key, token] = [c.sessionId, c.sessionKey, c.sessionToken];
  if (typeof id !== 'string' || typeof key !== 'string' || typeof token !== 'string') return refuse('Invalid credentials parameter');
  const session = state.sessions.get(id);
  // Long-term keys are never sessions; GetSessionToken's are refused as AWS refuses them.
  if (!session || session.secretAccessKey !== key || session.sessionToken !== token) return refuse('Invalid credentials parameter');
  if (session.expiration <= state.now()) return refuse('Invalid credentials parameter');
  if (session.kind === 'session') return refuse('Invalid credentials parameter');
  const raw = q.get('SessionDuration');
  let sessionDurationSeconds: number | undefined;
  if (raw !== null) {
    if (!/^\d{1,6}$/.test(raw) || Number(raw) < 900 || Number(raw) > 43200) return refuse('Invalid SessionDuration parameter');
    // SessionDuration is for credentials of a role assumed with long-term keys (or SSO's):
    // a chained role or a federated user gets the Knowledge Center's 400.
    if (session.kind === 'federation' || session.chained) return refuse('Invalid credentials parameter');
    sessionDurationSeconds = Number(raw);
  }
  const signinToken = randomBytes(600).toString('base64url');
  st.tokens.set(signinToken, { session, issuedAt: state.now(), used: false, ...(sessionDurationSeconds !== undefined ? { sessionDurationSeconds } : {}) });
  st.stats.getSigninToken++;
  return { status: 200, contentType: 'application/json', headers: {}, body: JSON.stringify({ SigninToken: signinToken }) };
}

function login(state: EmulatorState, st: SigninState, q: URLSearchParams): Reply {
  const refuse = (m: string) => {
    st.stats.loginRefused++;
    return refusal(m);
  };
  const t = st.tokens.get(q.get('SigninToken') ?? '');
  const now = state.now();
  if (!t || t.used || now - t.issuedAt > TOKEN_LIFETIME_MS) return refuse('Your request included an invalid sign-in token');
  let dest: URL;
  try {
    dest = new URL(q.get('Destination') ?? '');
  } catch {
    return refuse('Invalid Destination parameter');
  }
  if (dest.protocol !== 'https:' || !CONSOLE_HOSTS.test(dest.hostname)) return refuse('Invalid Destination parameter');
  t.used = true;
  st.stats.login++;
  const s = t.session;
  // Without SessionDuration the console session lasts as the credentials do (at most 12 h).
  const expiresAt = t.sessionDurationSeconds !== undefined ? now + t.sessionDurationSeconds * 1000 : Math.min(s.expiration, now + 43200 * 1000);
  const id = randomBytes(24).toString('base64url');
  st.consoles.set(id, {
    arn: s.arn, accountId: s.accountId, kind: s.kind, destination: dest.href, expiresAt, permissions: permissionsOf(s),
    ...(t.sessionDurationSeconds !== undefined ? { sessionDurationSeconds: t.sessionDurationSeconds } : {}),
  });
  return {
    status: 302,
    contentType: 'text/plain',
    headers: { Location: `/console/home?destination=${encodeURIComponent(dest.href)}`, 'Set-Cookie': `${COOKIE}=${id}; Path=/console; HttpOnly; SameSite=Lax` },
    body: '',
  };
}

function consolePage(state: EmulatorState, st: SigninState, headers: IncomingHttpHeaders): Reply {
  const cookie = String(headers.cookie ?? '').split(/;\s*/).find((c) => c.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1);
  const c = cookie ? st.consoles.get(cookie) : undefined;
  if (!c || c.expiresAt <= state.now()) {
    return { status: 401, contentType: 'text/html; charset=utf-8', headers: {}, body: '<!DOCTYPE html><html><head><title>Sign in</title></head><body><h1>Not signed in</h1></body></html>\n' };
  }
  const iso = isoSeconds(c.expiresAt);
  return {
    status: 200,
    contentType: 'text/html; charset=utf-8',
    headers: {},
    body: `<!DOCTYPE html><html><head><title>AWS Management Console (keyrole emulator)</title></head><body>
<h1>Console Home</h1>
<p id="who">Signed in as ${esc(c.arn)}</p>
<p id="account">Account ${esc(c.accountId)}</p>
<p id="destination">Destination ${esc(c.destination)}</p>
<p id="permissions">Permissions: ${esc(c.permissions)}</p>
<p id="expires">Console session ends at ${iso}</p>
</body></html>\n`,
  };
}

function control(st: SigninState, method: string, path: string): Reply {
  switch (`${method} ${path}`) {
    case 'GET /_emulator/signin/stats':
      return jsonReply(200, { ...st.stats, consoles: [...st.consoles.values()] });
    case 'POST /_emulator/signin/reset-stats':
      st.stats = { getSigninToken: 0, refused: 0, login: 0, loginRefused: 0 };
      st.consoles.clear();
      return jsonReply(200, { ok: true });
    case 'POST /_emulator/signin/age-tokens':
      // Moves every unused sign-in token past its 15 minutes, for the expiry test.
      for (const t of st.tokens.values()) t.issuedAt -= TOKEN_LIFETIME_MS + 1000;
      return jsonReply(200, { ok: true });
    default:
      return jsonReply(404, { error: `unknown control endpoint ${method} ${path}` });
  }
}

/** Answers a federation, stub-console or /_emulator/signin/ request; undefined for anything else. */
export function handleSignin(state: EmulatorState, method: string, url: URL, headers: IncomingHttpHeaders, body: Buffer): Reply | undefined {
  const st = signinState(state);
  const path = url.pathname;
  if (path.startsWith('/_emulator/signin/')) return control(st, method, path);
  if (path === '/console' || path.startsWith('/console/')) return consolePage(state, st, headers);
  if (path !== '/federation') return undefined;
  if (method !== 'GET' && method !== 'POST') return refusal('Unsupported method');
  const q = new URLSearchParams(url.search);
  if (method === 'POST' && body.length > 0) for (const [k, v] of new URLSearchParams(body.toString('utf8'))) q.set(k, v);
  switch (q.get('Action')) {
    case 'getSigninToken':
      return getSigninToken(state, st, q);
    case 'login':
      return login(state, st, q);
    default:
      return refusal('Invalid Action parameter');
  }
}
