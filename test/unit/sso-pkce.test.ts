// The browser sign-in's parts that need no browser: PKCE (RFC 7636), the state compare, the
// loopback redirect listener's refusals, the /authorize URL and the choice of flow.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { codeChallenge, codeVerifier, randomState, sameSecret, VERIFIER_CHARS } from '../../src/sso/pkce.ts';
import { startLoopback, type Loopback } from '../../src/sso/loopback.ts';
import { authorizeUrl, loginTimeoutMs } from '../../src/sso/authcode.ts';
import { chooseFlow } from '../../src/sso/flow.ts';
import { KeyroleError } from '../../src/util/errors.ts';
import { withEnv } from '../support/env.ts';

describe('PKCE', () => {
  test('RFC 7636 appendix B: the S256 challenge of the example verifier', () => {
    assert.equal(codeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  test('verifiers: 43 to 128 unreserved characters, never twice the same; challenges: 43 base64url characters', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const v = codeVerifier();
      assert.match(v, /^[A-Za-z0-9\-._~]+$/);
      assert.ok(v.length >= 43 && v.length <= 128, `${v.length}`);
      assert.match(codeChallenge(v), /^[\w-]{43}$/);
      seen.add(v);
    }
    assert.equal(seen.size, 200);
    assert.ok(VERIFIER_CHARS.test('a'.repeat(43)) && VERIFIER_CHARS.test('~'.repeat(128)));
    for (const bad of ['a'.repeat(42), 'a'.repeat(129), `${'a'.repeat(42)} `, `${'a'.repeat(42)}+`, `${'a'.repeat(42)}/`]) {
      assert.throws(() => codeChallenge(bad), /43 to 128/, bad);
    }
  });

  test('state: random, and compared whole (not a prefix, not another length, not missing)', () => {
    const s = randomState();
    assert.ok(s.length >= 43);
    assert.notEqual(randomState(), s);
    assert.equal(sameSecret(s, s), true);
    for (const bad of [s.slice(0, -1), `${s}x`, '', null, undefined, s.toUpperCase() === s ? s.toLowerCase() : s.toUpperCase()]) assert.equal(sameSecret(bad, s), false, String(bad));
  });
});

/** A raw request to the listener, with whatever method, path and Host header a test chooses. */
function send(l: Loopback, path: string, o: { method?: string; host?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const u = new URL(l.redirectUri);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: u.port, path, method: o.method ?? 'GET', headers: { Host: o.host ?? u.host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the loopback redirect listener', () => {
  const STATE = 'the-state-keyrole-sent-0123456789abcdefghijklmnop';

  test('listens on 127.0.0.1 and an ephemeral port at /oauth/callback', async () => {
    const l = await startLoopback({ state: STATE, timeoutMs: 60_000 });
    try {
      assert.match(l.redirectUri, /^http:\/\/127\.0\.0\.1:\d{4,5}\/oauth\/callback$/);
    } finally {
      l.close();
    }
  });

  test('refuses other methods, paths, Host headers, a wrong or missing state, a repeated parameter, an endless URL: and keeps waiting', async () => {
    const l = await startLoopback({ state: STATE, timeoutMs: 60_000 });
    const port = new URL(l.redirectUri).port;
    try {
      const ok = `/oauth/callback?code=abc&state=${STATE}`;
      const cases: [string, Promise<{ status: number; body: string }>, number][] = [
        ['POST', send(l, ok, { method: 'POST' }), 405],
        ['another path', send(l, `/callback?code=abc&state=${STATE}`), 404],
        ['favicon', send(l, '/favicon.ico'), 404],
        ['rebound DNS name', send(l, ok, { host: `evil.example:${port}` }), 400],
        ['localhost', send(l, ok, { host: `localhost:${port}` }), 400],
        ['another port', send(l, ok, { host: '127.0.0.1:1' }), 400],
        ['wrong state', send(l, '/oauth/callback?code=abc&state=forged'), 400],
        ['state prefix', send(l, `/oauth/callback?code=abc&state=${STATE.slice(0, -1)}`), 400],
        ['missing state', send(l, '/oauth/callback?code=abc'), 400],
        ['error without the state', send(l, '/oauth/callback?error=access_denied'), 400],
        ['state twice', send(l, `/oauth/callback?code=abc&state=${STATE}&state=${STATE}`), 400],
        ['no code', send(l, `/oauth/callback?state=${STATE}`), 400],
        ['a code with spaces', send(l, `/oauth/callback?code=a%20b&state=${STATE}`), 400],
        ['endless URL', send(l, `/oauth/callback?code=${'a'.repeat(5000)}&state=${STATE}`), 414],
      ];
      for (const [why, p, status] of cases) {
        const r = await p;
        assert.equal(r.status, status, why);
        assert.match(r.body, /Sign-in failed/, why);
      }
      assert.equal(l.refused(), cases.length);
      // Still waiting: the real redirect is accepted after all of that.
      const got = send(l, ok);
      const cb = await l.callback;
      assert.equal(cb.code, 'abc');
      cb.finish(true, 'Signed in. You can close this tab.');
      const page = await got;
      assert.equal(page.status, 200);
      assert.match(page.body, /keyrole: Signed in<\/h1><p>Signed in\. You can close this tab\.<\/p>/);
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
      assert.equal(page.headers['cache-control'], 'no-store');
      // One code, then closed: a second redirect finds nobody listening.
      await assert.rejects(send(l, ok), /ECONNREFUSED|ECONNRESET|socket hang up/);
    } finally {
      l.close();
    }
  });

  test('an error with the right state ends the sign-in as denied; the page says so, escaped', async () => {
    const l = await startLoopback({ state: STATE, timeoutMs: 60_000 });
    try {
      const page = send(l, `/oauth/callback?error=access_denied&error_description=${encodeURIComponent('<script>x</script>\x1b[2J')}&state=${STATE}`);
      await assert.rejects(l.callback, (e: Error) => e.name === 'AccessDeniedException' && !e.message.includes('\x1b'));
      const r = await page;
      assert.match(r.body, /Sign-in failed/);
      assert.doesNotMatch(r.body, /<script>/);
    } finally {
      l.close();
    }
  });

  test('a clear timeout: one line naming keyrole login', async () => {
    const l = await startLoopback({ state: STATE, timeoutMs: 200 });
    await assert.rejects(l.callback, (e: KeyroleError) => e.code === 'SsoLoginTimeout' && /did not come back within/.test(e.message) && /keyrole login/.test(e.fix ?? ''));
    await assert.rejects(send(l, `/oauth/callback?code=abc&state=${STATE}`), /ECONNREFUSED|ECONNRESET/);
  });
});

describe('the /authorize URL and the choice of flow', () => {
  const REF = { session: 'my-sso', startUrl: 'https://keyrole-demo.awsapps.com/start', ssoRegion: 'eu-west-1', registrationScopes: ['sso:account:access'] };

  test('the AWS CLI\'s parameters on the regional OIDC endpoint, or the configured one', () => withEnv({ AWS_ENDPOINT_URL_SSO_OIDC: undefined, AWS_ENDPOINT_URL: undefined }, () => {
    const u = new URL(authorizeUrl(REF, { clientId: 'cid', redirectUri: 'http://127.0.0.1:5000/oauth/callback', state: 'st', challenge: 'ch' }));
    assert.equal(`${u.origin}${u.pathname}`, 'https://oidc.eu-west-1.amazonaws.com/authorize');
    assert.deepEqual(Object.fromEntries(u.searchParams), {
      response_type: 'code', client_id: 'cid', redirect_uri: 'http://127.0.0.1:5000/oauth/callback', state: 'st',
      code_challenge: 'ch', code_challenge_method: 'S256', scopes: 'sso:account:access',
    });
    withEnv({ AWS_ENDPOINT_URL_SSO_OIDC: 'http://127.0.0.1:9999/' }, () => {
      assert.match(authorizeUrl(REF, { clientId: 'c', redirectUri: 'r', state: 's', challenge: 'h' }), /^http:\/\/127\.0\.0\.1:9999\/authorize\?/);
    });
  }));

  test('browser where one opens; device flow on request, over SSH or without a browser (with a note); --no-browser prints the browser URL', () => {
    const linux = 'linux' as const;
    assert.deepEqual(chooseFlow({}, { DISPLAY: ':0' }, linux), { flow: 'browser', open: true });
    assert.deepEqual(chooseFlow({}, { BROWSER: 'firefox' }, linux), { flow: 'browser', open: true });
    assert.deepEqual(chooseFlow({}, {}, 'darwin'), { flow: 'browser', open: true });
    assert.deepEqual(chooseFlow({}, {}, 'win32'), { flow: 'browser', open: true });
    assert.deepEqual(chooseFlow({ useDeviceCode: true }, { DISPLAY: ':0' }, linux), { flow: 'device', open: true });
    assert.deepEqual(chooseFlow({ useDeviceCode: true, noBrowser: true }, { DISPLAY: ':0' }, linux), { flow: 'device', open: false });
    assert.deepEqual(chooseFlow({ noBrowser: true }, {}, linux), { flow: 'browser', open: false });
    for (const e of [{ SSH_CONNECTION: '10.0.0.1 5000 10.0.0.2 22', DISPLAY: ':0' }, { SSH_TTY: '/dev/pts/1', BROWSER: 'firefox' }]) {
      const c = chooseFlow({}, e, linux);
      assert.equal(c.flow, 'device');
      assert.match(c.note!, /SSH session .*device flow.*--no-browser/);
    }
    const none = chooseFlow({}, {}, linux);
    assert.equal(none.flow, 'device');
    assert.match(none.note!, /No browser can be opened here \(no BROWSER, no display\)/);
    assert.match(chooseFlow({}, { DISPLAY: ':0', KEYROLE_NO_BROWSER: '1' }, linux).note!, /KEYROLE_NO_BROWSER/);
  });

  test('the sign-in timeout: ten minutes, or KEYROLE_SSO_LOGIN_TIMEOUT seconds', () => {
    assert.equal(loginTimeoutMs({}), 600_000);
    assert.equal(loginTimeoutMs({ KEYROLE_SSO_LOGIN_TIMEOUT: '5' }), 5000);
    for (const bad of ['0', '-1', 'x', '99999']) assert.equal(loginTimeoutMs({ KEYROLE_SSO_LOGIN_TIMEOUT: bad }), 600_000, bad);
  });
});
