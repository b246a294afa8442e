// The console sign-in rules (src/aws/federation.ts) on hand-built settings: partitions and
// their hosts, destinations, which credentials a profile gives and the durations and
// refusals that follow, the Session JSON, the answer's checks, the login URL and the page.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { resolveSettings } from '../../src/config/settings.ts';
import { type AwsFiles, type Section } from '../../src/config/files.ts';
import { planProfile } from '../../src/credentials/plan.ts';
import {
  ALLOW_ALL_POLICY, consoleDestination, consoleKind, consolePlan, federationEndpoint, federationName, loginUrl, parseSigninAnswer,
  partitionOf, signinTokenUrl,
} from '../../src/aws/federation.ts';
import { redirectPage } from '../../src/util/pagefile.ts';
import { withEnv } from '../support/env.ts';
import { expectKeyroleError, throwsKeyroleError } from '../support/errors.ts';

const ROLE = 'arn:aws:iam::111122223333:role/Admin';

function settings(profile: Section, extra: Record<string, Section> = {}) {
  const files: AwsFiles = { configPath: '/nonexistent/config', credentialsPath: '/nonexistent/credentials', config: { p: profile, ...extra }, credentials: {} };
  return withEnv({}, () => planProfile(files, resolveSettings(files, 'p', {}, 'me')), ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']);
}

describe('partitions', () => {
  test('each partition has its sign-in host and console domain', () => {
    assert.equal(partitionOf('eu-west-1'), 'aws');
    assert.equal(partitionOf('us-east-1'), 'aws');
    assert.equal(partitionOf('cn-north-1'), 'aws-cn');
    assert.equal(partitionOf('us-gov-west-1'), 'aws-us-gov');
    assert.equal(federationEndpoint('aws', {}), 'https://signin.aws.amazon.com/federation');
    assert.equal(federationEndpoint('aws-cn', {}), 'https://signin.amazonaws.cn/federation');
    assert.equal(federationEndpoint('aws-us-gov', {}), 'https://signin.amazonaws-us-gov.com/federation');
    assert.equal(consoleDestination('cn-north-1', 'aws-cn'), 'https://cn-north-1.console.amazonaws.cn/console/home?region=cn-north-1');
    assert.equal(consoleDestination('us-gov-west-1', 'aws-us-gov'), 'https://us-gov-west-1.console.amazonaws-us-gov.com/console/home?region=us-gov-west-1');
  });

  test('a region that is not a host label, or in a partition without a public console, is refused in one line', () => {
    for (const bad of ['x@127.0.0.1:47443#', 'eu-west-1.evil.com', 'EU-WEST-1', '', 'eu-west-1\n']) assert.throws(() => partitionOf(bad), expectKeyroleError('BadRegion'), bad);
    for (const iso of ['us-iso-east-1', 'us-isob-east-1', 'eu-isoe-west-1']) assert.throws(() => partitionOf(iso), expectKeyroleError('NoConsole'), iso);
  });

  test('KEYROLE_SIGNIN_URL: https anywhere, http only to this machine, no query or user info', () => {
    assert.equal(federationEndpoint('aws', { KEYROLE_SIGNIN_URL: 'http://127.0.0.1:4000/federation' }), 'http://127.0.0.1:4000/federation');
    assert.equal(federationEndpoint('aws', { KEYROLE_SIGNIN_URL: 'https://signin.example.internal/federation' }), 'https://signin.example.internal/federation');
    for (const bad of ['http://signin.example.com/federation', 'https://u:p@x/federation', 'https://x/federation?a=1', 'ftp://x/', 'not a url']) {
      assert.throws(() => federationEndpoint('aws', { KEYROLE_SIGNIN_URL: bad }), expectKeyroleError('BadSigninUrl'), bad);
    }
  });
});

describe('destinations', () => {
  const d = (x?: string) => consoleDestination('eu-west-1', 'aws', x);
  test('nothing: the region\'s console home', () => assert.equal(d(), 'https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1'));
  test('a service name: its home page', () => assert.equal(d('s3'), 'https://eu-west-1.console.aws.amazon.com/s3/home?region=eu-west-1'));
  test('a path, with or without a slash, the region put before a fragment', () => {
    assert.equal(d('s3/buckets'), 'https://eu-west-1.console.aws.amazon.com/s3/buckets?region=eu-west-1');
    assert.equal(d('/ec2/home#Instances:'), 'https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#Instances:');
    assert.equal(d('cloudwatch/home?region=us-east-1#logs:'), 'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logs:', 'a region the page names is kept');
  });
  test('a console URL is kept; another host, plain http or another partition is refused', () => {
    assert.equal(d('https://s3.console.aws.amazon.com/s3/buckets/b'), 'https://s3.console.aws.amazon.com/s3/buckets/b?region=eu-west-1');
    assert.equal(d('https://console.aws.amazon.com/iam/home'), 'https://console.aws.amazon.com/iam/home?region=eu-west-1');
    for (const bad of ['https://evil.com/x', 'http://eu-west-1.console.aws.amazon.com/', 'https://console.aws.amazon.com.evil.com/', 'https://x.console.amazonaws.cn/', 'javascript:alert(1)', 'https://u@console.aws.amazon.com/']) {
      assert.throws(() => d(bad), expectKeyroleError('BadDestination'), bad);
    }
  });
  test('a path never leaves the console host; control characters and markup are refused', () => {
    for (const p of ['//evil.com/x', '@evil.com', '..//evil.com', '\\\\evil.com']) {
      if (p.includes('\\')) assert.throws(() => d(p), expectKeyroleError('BadDestination'), p);
      else assert.equal(new URL(d(p)).host, 'eu-west-1.console.aws.amazon.com', p);
    }
    for (const bad of ['s3\u001b[2J', 'a b', 's3"><script>', 's3\u202e']) assert.throws(() => d(bad), expectKeyroleError('BadDestination'), JSON.stringify(bad));
  });
});

describe('which credentials, which durations', () => {
  const sso = { keyrole_sso_start_url: 'https://x.awsapps.com/start', keyrole_sso_region: 'eu-west-1', keyrole_sso_account_id: '111122223333', keyrole_sso_role_name: 'Admin' };

  test('a role of a keychain source: SessionDuration, from --duration else the profile\'s duration', () => {
    const s = settings({ keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_duration_seconds: '7200' });
    assert.equal(consoleKind(s), 'role');
    assert.deepEqual(consolePlan(s, {}), { kind: 'role', sessionDuration: 7200 });
    assert.deepEqual(consolePlan(s, { duration: 900 }), { kind: 'role', sessionDuration: 900 });
    assert.throws(() => consolePlan(s, { duration: 43201 }), expectKeyroleError('BadDuration'));
  });

  test('IAM Identity Center: SessionDuration too; a role on top of it is chained: none, and --duration is refused', () => {
    assert.deepEqual(consolePlan(settings(sso), {}), { kind: 'sso', sessionDuration: 3600 });
    const chained = settings({ ...sso, keyrole_role_arn: ROLE });
    assert.equal(consoleKind(chained), 'chained');
    assert.deepEqual(consolePlan(chained, {}), { kind: 'chained' });
    assert.throws(() => consolePlan(chained, { duration: 3600 }), expectKeyroleError('ConsoleDurationChained'));
  });

  // AWS's 1-hour rule (src/credentials/assume.ts): a role assumed with temporary credentials
  // of any kind, a GetSessionToken session's included, is role chaining.
  test('a role through another profile is chained, whatever that profile gives (role credentials or a GetSessionToken session)', () => {
    const s = settings({ keyrole_source_profile: 'base', keyrole_role_arn: ROLE }, { base: { keyrole_source: 'alice', keyrole_role_arn: ROLE } });
    assert.deepEqual(consolePlan(s, {}), { kind: 'chained' });
    const overSession = settings({ keyrole_source_profile: 'base', keyrole_role_arn: ROLE }, { base: { keyrole_source: 'alice' } });
    assert.deepEqual(consolePlan(overSession, {}), { kind: 'chained' });
    const overMfa = settings({ keyrole_source_profile: 'base', keyrole_role_arn: ROLE }, { base: { keyrole_source: 'alice', keyrole_mfa_serial: 'arn:aws:iam::111122223333:mfa/alice' } });
    assert.equal(consoleKind(overMfa), 'chained');
  });

  test('an MFA role: chained when the MFA session assumes it (up to an hour), a role when the code goes with AssumeRole (over an hour)', () => {
    const mfa = { keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_mfa_serial: 'arn:aws:iam::111122223333:mfa/alice' };
    assert.deepEqual(consolePlan(settings(mfa), {}), { kind: 'chained' });
    assert.deepEqual(consolePlan(settings({ ...mfa, keyrole_duration_seconds: '43200' }), {}), { kind: 'role', sessionDuration: 43200 });
    assert.deepEqual(consolePlan(settings({ ...mfa, keyrole_mfa_on_assume: 'true' }), {}), { kind: 'role', sessionDuration: 3600 });
  });

  test('no role: GetFederationToken for the profile\'s duration or --duration (up to 36 h), no SessionDuration', () => {
    const s = settings({ keyrole_source: 'alice' });
    assert.deepEqual(consolePlan(s, {}), { kind: 'federation', federationDuration: 3600 });
    assert.deepEqual(consolePlan(s, { duration: 129600 }), { kind: 'federation', federationDuration: 129600 });
  });

  test('no role and an MFA source: refused (no MFA in the console session) unless --no-mfa', () => {
    const s = settings({ keyrole_source: 'alice', keyrole_mfa_serial: 'arn:aws:iam::111122223333:mfa/alice' });
    assert.throws(() => consolePlan(s, {}), expectKeyroleError('ConsoleNeedsMfa', { line: /keyrole_role_arn.*--no-mfa/ }));
    assert.deepEqual(consolePlan(s, { allowNoMfa: true }), { kind: 'federation', federationDuration: 3600 });
    // With a role, the MFA is asked as usual for the AssumeRole: nothing to refuse.
    assert.equal(consolePlan(settings({ keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_mfa_serial: 'arn:aws:iam::111122223333:mfa/alice' }), {}).kind, 'chained');
  });

  test('the federated user\'s name: the source\'s, as STS allows it (2 to 32 characters)', () => {
    assert.equal(federationName('alice'), 'alice');
    assert.equal(federationName('a'), 'keyrole-a');
    assert.equal(federationName('x'.repeat(64)), 'x'.repeat(32));
    for (const n of ['a', 'alice', 'x'.repeat(64), 'we ird/na:me']) assert.match(federationName(n), /^[\w+=,.@-]{2,32}$/);
  });

  test('the session policy allows everything, so the user keeps exactly their own permissions', () => {
    assert.deepEqual(JSON.parse(ALLOW_ALL_POLICY), { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });
  });
});

describe('the exchange', () => {
  const creds = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 's3cr3t/+=', sessionToken: 'tok&en=' };

  test('getSigninToken carries the Session JSON (and SessionDuration only when given), encoded', () => {
    const u = new URL(signinTokenUrl('https://signin.aws.amazon.com/federation', creds, 3600));
    assert.equal(u.searchParams.get('Action'), 'getSigninToken');
    assert.equal(u.searchParams.get('SessionDuration'), '3600');
    assert.deepEqual(JSON.parse(u.searchParams.get('Session')!), { sessionId: 'ASIAEXAMPLE', sessionKey: 's3cr3t/+=', sessionToken: 'tok&en=' });
    assert.equal(new URL(signinTokenUrl('https://signin.aws.amazon.com/federation', creds)).searchParams.has('SessionDuration'), false);
  });

  test('the answer: a token of the right shape, else one line; refusals quote the page\'s title, printable', () => {
    const token = 'A'.repeat(40) + '-_';
    assert.equal(parseSigninAnswer(200, JSON.stringify({ SigninToken: token }), 'h', 'p'), token);
    for (const bad of ['', 'null', '{}', '{"SigninToken":1}', '{"SigninToken":"short"}', JSON.stringify({ SigninToken: `${'A'.repeat(40)}\u001b[2J` }), JSON.stringify({ SigninToken: `${'A'.repeat(40)}"><x` }), '<html>captive portal</html>']) {
      assert.throws(() => parseSigninAnswer(200, bad, 'h', 'p'), expectKeyroleError('SigninMalformed'), bad);
    }
    const page = '<html><head><title>HTTP Status 400 - Invalid credentials parameter\u001b]0;pwned\u0007</title></head></html>';
    const refused = throwsKeyroleError(() => parseSigninAnswer(400, page, 'signin.aws.amazon.com', 'prod'), 'FederationRefused',
      { message: /HTTP 400: HTTP Status 400 - Invalid credentials parameter\)/, line: /run keyrole cache clear prod and retry$/ });
    for (const x of ['\u001b', '\u0007', 'pwned']) assert.ok(!refused.line().includes(x), JSON.stringify(x));
    const long = throwsKeyroleError(() => parseSigninAnswer(503, 'x'.repeat(5000), 'h', 'p'), 'FederationRefused', { line: /retry in a minute/ });
    assert.ok(long.message.length < 300, `${long.message.length} characters`);
  });

  test('the login URL and the page that forwards to it', () => {
    const url = loginUrl('https://signin.aws.amazon.com/federation', 'TOKEN-1', 'https://eu-west-1.console.aws.amazon.com/s3/home?region=eu-west-1');
    const u = new URL(url);
    assert.deepEqual([u.origin + u.pathname, u.searchParams.get('Action'), u.searchParams.get('SigninToken'), u.searchParams.get('Destination')],
      ['https://signin.aws.amazon.com/federation', 'login', 'TOKEN-1', 'https://eu-west-1.console.aws.amazon.com/s3/home?region=eu-west-1']);
    const html = redirectPage(`${url}&x="</script><b>`);
    assert.match(html, /<meta name="referrer" content="no-referrer">/);
    assert.match(html, /location\.replace\(/);
    assert.ok(!html.includes('</script><b>'), 'the URL cannot close the script or the attribute');
    assert.ok(html.includes(`content="0;url=${url.replace(/&/g, '&amp;')}`));
  });
});
