// npm run bench: keyrole's speed as medians over repeated runs, and as ratios against a
// baseline measured in the same run (the machines are shared and noisy). Everything runs
// against the emulator, with a real gnome-keyring, in a throw-away HOME.

import { execFileSync, spawn, type StdioOptions } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { startWorld, keyroleProfile } from '../test/support/world.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from '../test/support/emulator.ts';
import { baseEnv, KEYROLE, requireBuild, ROOT } from '../test/support/run.ts';
import { requireTool } from '../test/support/tools.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const NODE24 = join(ROOT, 'node_modules', '.bin', 'node');
const quick = process.argv.includes('--quick');

interface Row { what: string; value: string; target?: string; verdict?: string }
const rows: Row[] = [];
const ms = (x: number) => `${x.toFixed(1)} ms`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** hyperfine's run times (ms) of each command. */
function hyperfineTimes(commands: string[], env: NodeJS.ProcessEnv, runs: number, prepare?: string): number[][] {
  const out = join(env.HOME!, `hf-${Date.now()}.json`);
  const args = ['-N', '--style', 'none', '-w', '3', '-r', String(runs), '--export-json', out];
  if (prepare) args.push('--prepare', prepare);
  execFileSync('hyperfine', [...args, ...commands], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const json = JSON.parse(readFileSync(out, 'utf8')) as { results: { times: number[] }[] };
  return json.results.map((r) => r.times.map((t) => t * 1000));
}

/**
 * Medians (ms) over `runs` runs of each command. hyperfine runs one command's runs after
 * the other's, so a slow spell of the shared machine would land on one of them; here the
 * runs come in blocks whose order rotates, and each median is over all of its blocks.
 */
function hyperfine(commands: string[], env: NodeJS.ProcessEnv, runs: number, prepare?: string): number[] {
  const blocks = Math.min(6, runs);
  const all: number[][] = commands.map(() => []);
  for (let b = 0; b < blocks; b++) {
    const order = commands.map((_, i) => (i + b) % commands.length);
    const times = hyperfineTimes(order.map((i) => commands[i]), env, Math.ceil(runs / blocks), prepare);
    order.forEach((i, j) => all[i].push(...times[j]));
  }
  return all.map(median);
}

function spawnTimed(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdio: StdioOptions = 'ignore'): Promise<{ ms: number; code: number | null }> {
  const t = performance.now();
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, stdio });
    c.stdout?.resume();
    c.stderr?.resume();
    c.on('close', (code) => resolve({ ms: performance.now() - t, code }));
  });
}

async function main() {
  requireBuild();
  requireTool('hyperfine');
  const aws = requireTool('aws');
  const w = await startWorld();
  try {
    const creds = join(w.home, '.aws', 'credentials');
    writeFileSync(creds, `[static]\naws_access_key_id = ${DEMO_ACCESS_KEY_ID}\naws_secret_access_key = ${DEMO_SECRET_ACCESS_KEY}\n`, { mode: 0o600 });
    w.writeConfig([
      '[profile static]\nregion = us-east-1\n',
      keyroleProfile('kr', { region: 'us-east-1', keyrole_source: 'alice', keyrole_role_arn: ROLE }),
      keyroleProfile('krfile', { region: 'us-east-1', keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_cache: 'file' }),
      `[profile native]\nregion = us-east-1\nrole_arn = ${ROLE}\nsource_profile = static\n`,
    ].join('\n'));
    await w.setup('alice');
    // The default's kernel-keyring copies on (the test support turns them off for isolation).
    const env = baseEnv({ ...w.env, PATH: process.env.PATH, KEYROLE_KERNEL_CACHE: 'on' });
    const runs = quick ? 10 : 30;

    // 1. cache hit vs the embedded Node's bare start
    await w.keyrole(['process', 'kr'], { env: { KEYROLE_KERNEL_CACHE: 'on' } });
    await w.keyrole(['process', 'krfile']);
    // The encrypted file store (KEYROLE_KEYCHAIN=file) holding the source and the cache,
    // unlocked for the session by the first call (its passphrase from a file).
    const passphrase = join(w.home, 'passphrase');
    writeFileSync(passphrase, 'bench passphrase\n', { mode: 0o600 });
    const fileKeychain = { KEYROLE_KEYCHAIN: 'file', KEYROLE_PASSPHRASE_FILE: passphrase };
    await w.keyrole(['setup', 'alice', '--force', '--no-verify'], { env: fileKeychain, input: `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n` });
    await w.keyrole(['process', 'kr'], { env: fileKeychain });
    const [bare, hitFile, hitKeychain, hitSecretService, hitFileKeychain, hitFileEntry] = hyperfine([`${NODE24} -e 0`, `${KEYROLE} process krfile`, `${KEYROLE} process kr`, `env KEYROLE_KERNEL_CACHE=off ${KEYROLE} process kr`, `env KEYROLE_KEYCHAIN=file ${KEYROLE} process kr`, `env KEYROLE_KEYCHAIN=file KEYROLE_KERNEL_CACHE=off ${KEYROLE} process kr`], env, runs * 2);
    rows.push({ what: '`node -e 0` (Node 24, the one the executable embeds)', value: ms(bare) });
    rows.push({ what: 'cache hit, file store', value: `${ms(hitFile)} (${(hitFile / bare).toFixed(2)}×)`, target: '≤ 1.15×', verdict: hitFile / bare <= 1.15 ? 'met' : 'missed' });
    rows.push({ what: 'cache hit, keychain store (default: the entry\'s copy in the kernel keyring)', value: `${ms(hitKeychain)} (${(hitKeychain / bare).toFixed(2)}×)`, target: '≤ 1.35×', verdict: hitKeychain / bare <= 1.35 ? 'met' : 'missed' });
    rows.push({ what: '… the entry in the Secret Service (where the kernel keyring refuses the copy; KEYROLE_KERNEL_CACHE=off)', value: `${ms(hitSecretService)} (${(hitSecretService / bare).toFixed(2)}×)` });
    rows.push({ what: 'cache hit, encrypted file store as the keychain (KEYROLE_KEYCHAIN=file, unlocked for the session: the entry\'s kernel-keyring copy)', value: `${ms(hitFileKeychain)} (${(hitFileKeychain / bare).toFixed(2)}×)`, target: '≤ 1.35×', verdict: hitFileKeychain / bare <= 1.35 ? 'met' : 'missed' });
    rows.push({ what: '… the entry opened from the file store (no kernel copy: KEYROLE_KERNEL_CACHE=off)', value: `${ms(hitFileEntry)} (${(hitFileEntry / bare).toFixed(2)}×)` });

    // 1b. a cache hit of an AWS Sign-In profile: a session as aws login leaves it, imported.
    const minted = await w.emu.control<{ loginSession: string; token: unknown }>('POST', 'login/cli-session', {});
    const loginDir = join(w.home, '.aws', 'login', 'cache');
    mkdirSync(loginDir, { recursive: true });
    writeFileSync(join(loginDir, `${createHash('sha256').update(minted.loginSession).digest('hex')}.json`), JSON.stringify(minted.token));
    writeFileSync(w.configPath, `${readFileSync(w.configPath, 'utf8')}\n[profile login]\nlogin_session = ${minted.loginSession}\nregion = us-east-1\n`);
    const loginEnv = { AWS_ENDPOINT_URL_SIGNIN: w.emu.url, KEYROLE_KERNEL_CACHE: 'on' };
    const imported = await w.keyrole(['import', '--yes'], { env: loginEnv });
    if (imported.code !== 0) throw new Error(`bench: keyrole import of the login session failed: ${imported.stderr}`);
    await w.keyrole(['process', 'login'], { env: loginEnv });
    const [bareL, hitLogin] = hyperfine([`${NODE24} -e 0`, `${KEYROLE} process login`], { ...env, AWS_ENDPOINT_URL_SIGNIN: w.emu.url }, runs * 2);
    rows.push({ what: 'cache hit, AWS Sign-In profile (`keyrole_login_session`, keychain store)', value: `${ms(hitLogin)} (${(hitLogin / bareL).toFixed(2)}×)`, target: '≤ 1.35×', verdict: hitLogin / bareL <= 1.35 ? 'met' : 'missed' });

    // 2. added time per `aws sts get-caller-identity`
    await w.run(aws, ['sts', 'get-caller-identity', '--profile', 'native']); // warm the CLI's own cache
    // Interleaved rounds (static, keyrole, native in a shuffled order each round), so a
    // slow spell of the shared machine hits all of them alike; hyperfine runs them in blocks.
    // Each figure is the median of the per-round differences against the static-keys run of
    // the same round: the AWS CLI itself takes ~0.8 s here and wanders by more than the
    // few tens of milliseconds being measured.
    // The floors: a credential_process that only prints a fixed blob, as `cat` (what any
    // helper process costs the CLI) and as Node (what any helper in Node costs). keyrole's
    // added time can only be read against these: the CLI's own assume-role runs in-process.
    const blob = join(w.home, 'floor-blob.json');
    writeFileSync(blob, (await w.keyrole(['process', 'kr'])).stdout, { mode: 0o600 });
    const floorScript = join(w.home, 'floor.cjs');
    writeFileSync(floorScript, `require('node:fs').writeSync(1, require('node:fs').readFileSync(${JSON.stringify(blob)}));\n`);
    w.writeConfig([
      readFileSync(w.configPath, 'utf8'),
      `[profile floorcat]\nregion = us-east-1\ncredential_process = cat ${blob}\n`,
      `[profile floornode]\nregion = us-east-1\ncredential_process = ${NODE24} ${floorScript}\n`,
    ].join('\n'));
    const samples: Record<string, number[]> = { static: [], kr: [], krfile: [], native: [], floorcat: [], floornode: [] };
    for (let round = 0; round < (quick ? 8 : 25); round++) {
      for (const p of Object.keys(samples).sort(() => Math.random() - 0.5)) {
        const r = await spawnTimed(aws, ['sts', 'get-caller-identity', '--profile', p], env);
        if (r.code !== 0) throw new Error(`bench: aws sts get-caller-identity --profile ${p} exited ${r.code}`);
        samples[p].push(r.ms);
      }
    }
    const added = (p: string) => median(samples[p].map((t, i) => t - samples.static[i]));
    const signed = (v: number) => `${v >= 0 ? '+' : '−'}${ms(Math.abs(v))}`;
    const [aNative, aKeyrole, aFile] = [added('native'), added('kr'), added('krfile')];
    rows.push({ what: '`aws sts get-caller-identity`, static keys (baseline)', value: ms(median(samples.static)) });
    rows.push({ what: '… the AWS CLI\'s own role_arn/source_profile, warm file cache', value: signed(aNative) });
    rows.push({ what: '… credential_process = `cat` of a fixed blob (the floor of any helper process)', value: signed(added('floorcat')) });
    rows.push({ what: '… credential_process = `node` printing a fixed blob (the floor of a Node helper)', value: signed(added('floornode')) });
    rows.push({ what: '… keyrole (keychain store, warm)', value: signed(aKeyrole), target: `≤ CLI's own + 15 ms (${signed(aNative + 15)})`, verdict: aKeyrole <= aNative + 15 ? 'met' : 'missed' });
    rows.push({ what: '… keyrole (file store, warm)', value: signed(aFile) });
    // The CLI's ~0.6 s runs wander by more than keyrole's share of them, so that share is
    // also measured on its own: the helpers alone, spawned the way botocore does (stdin
    // /dev/null, stdout and stderr pipes), interleaved, against the Node floor.
    const helper: Record<string, string[]> = { floornode: [NODE24, floorScript], kr: [KEYROLE, 'process', 'kr'], krfile: [KEYROLE, 'process', 'krfile'] };
    const alone: Record<string, number[]> = { floornode: [], kr: [], krfile: [] };
    for (let round = 0; round < (quick ? 20 : 60); round++) {
      for (const p of Object.keys(alone).sort(() => Math.random() - 0.5)) {
        const [cmd, ...args] = helper[p];
        const r = await spawnTimed(cmd, args, env, ['ignore', 'pipe', 'pipe']);
        if (r.code !== 0) throw new Error(`bench: ${p} exited ${r.code}`);
        alone[p].push(r.ms);
      }
    }
    const over = (p: string) => median(alone[p].map((t, i) => t - alone.floornode[i]));
    rows.push({ what: '… keyrole\'s own share: helper alone minus the Node floor, keychain / file (pipes, as botocore spawns it)', value: `${signed(over('kr'))} / ${signed(over('krfile'))}` });

    // 3. 64 parallel cold invocations, 100 ms per STS call
    await w.emu.behaviour({ latencyMs: 100 });
    await w.keyrole(['cache', 'clear']);
    await w.emu.resetStats();
    const par = await Promise.all(Array.from({ length: 64 }, () => spawnTimed(KEYROLE, ['process', 'kr'], env)));
    const assumeKr = (await w.emu.stats()).calls.AssumeRole ?? 0;
    const lat = par.map((p) => p.ms);
    rows.push({ what: '64 parallel cold `keyrole process`: AssumeRole calls', value: String(assumeKr), target: 'exactly 1', verdict: assumeKr === 1 && par.every((p) => p.code === 0) ? 'met' : 'missed' });
    rows.push({ what: '… latency p50 / p99', value: `${ms(median(lat))} / ${ms(pct(lat, 99))}` });
    rmSync(join(w.home, '.aws', 'cli', 'cache'), { recursive: true, force: true });
    await w.emu.resetStats();
    const nativePar = await Promise.all(Array.from({ length: 64 }, () => spawnTimed(aws, ['sts', 'get-caller-identity', '--profile', 'native'], env)));
    const assumeNative = (await w.emu.stats()).calls.AssumeRole ?? 0;
    const nlat = nativePar.map((p) => p.ms);
    rows.push({ what: '64 parallel cold `aws … --profile native` (the CLI\'s own cache): AssumeRole calls', value: String(assumeNative) });
    rows.push({ what: '… latency p50 / p99 (whole AWS CLI command)', value: `${ms(median(nlat))} / ${ms(pct(nlat, 99))}` });

    // 4. cold miss with 100 ms STS latency
    const [cold] = hyperfine([`${KEYROLE} process kr`], env, quick ? 5 : 15, `${KEYROLE} cache clear kr`);
    rows.push({ what: 'cold miss (keychain store), STS answering in 100 ms', value: `${ms(cold)} (STS + ${ms(cold - 100)})`, target: '≤ STS + 150 ms', verdict: cold - 100 <= 150 ? 'met' : 'missed' });
    await w.emu.behaviour({ latencyMs: 0 });

    // 5. the credential endpoint of exec --server / serve: one answer for a cached credential
    // (a new connection per request, as the SDKs' container providers make), against the
    // cache hit of `keyrole process` measured above
    {
      const serve = spawn(KEYROLE, ['serve', 'kr'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        let out = '';
        let err = '';
        serve.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
        await new Promise<void>((resolve, reject) => {
          serve.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; if (/serving kr at/.test(err)) resolve(); });
          serve.once('exit', () => reject(new Error(`bench: keyrole serve exited: ${err}`)));
        });
        const url = /AWS_CONTAINER_CREDENTIALS_FULL_URI=(\S+)/.exec(out)![1];
        const token = readFileSync(/AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE='?([^'\n]+)'?/.exec(out)![1], 'utf8');
        const { request } = await import('node:http');
        const once = () => new Promise<number>((resolve, reject) => {
          const t = performance.now();
          request(url, { headers: { authorization: token }, agent: false }, (res) => {
            res.resume().on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`bench: the endpoint answered ${res.statusCode}`))));
          }).on('error', reject).end();
        });
        for (let i = 0; i < 5; i++) await once();
        const times: number[] = [];
        for (let i = 0; i < (quick ? 50 : 200); i++) times.push(await once());
        const answer = median(times);
        rows.push({ what: 'credential endpoint (exec --server, serve): answer for a cached credential, p50 / p99', value: `${ms(answer)} / ${ms(pct(times, 99))} (${(answer / hitKeychain).toFixed(2)}× a \`keyrole process\` keychain hit)` });
      } finally {
        serve.kill('SIGTERM');
      }
    }

    // 6. size and peak memory of a cache hit
    const size = statSync(KEYROLE).size / 1e6;
    rows.push({ what: 'executable size (dist/keyrole, stripped)', value: `${size.toFixed(1)} MB` });
    const maxRss = (...cmd: string[]) => Number(execFileSync('python3', ['-c', 'import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)', ...cmd], { env, encoding: 'utf8' }).trim()) / 1024;
    rows.push({ what: 'peak memory of `node -e 0` / `keyrole --version` (the SEA floor)', value: `${maxRss(NODE24, '-e', '0').toFixed(1)} MB / ${maxRss(KEYROLE, '--version').toFixed(1)} MB` });
    const peak = maxRss(KEYROLE, 'process', 'kr');
    rows.push({ what: 'peak memory (max RSS) of a cache hit', value: `${peak.toFixed(1)} MB`, target: '≤ 60 MB', verdict: peak <= 60 ? 'met' : 'missed' });
  } finally {
    // The kernel keyring's entries outlive the world (the user's persistent keyring).
    await w.keyrole(['cache', 'clear'], { env: { KEYROLE_KERNEL_CACHE: 'on' } }).catch(() => undefined);
    await w.stop();
  }

  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
  console.log(`\nkeyrole benchmark, ${new Date().toISOString().slice(0, 10)}, ${cpu}, ${(await import('node:os')).cpus().length} cores${quick ? ' (quick)' : ''}\n`);
  const header = ['what', 'median', 'target', ''];
  const table = [header, ...rows.map((r) => [r.what, r.value, r.target ?? '', r.verdict ?? ''])];
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  for (const [i, r] of table.entries()) {
    console.log(`| ${r.map((c, j) => c.padEnd(widths[j])).join(' | ')} |`);
    if (i === 0) console.log(`| ${widths.map((x) => '-'.repeat(x)).join(' | ')} |`);
  }
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  writeFileSync(join(ROOT, '.tmp', 'bench.json'), JSON.stringify(rows, null, 2));
}

main().catch((err) => {
  console.error(`bench failed: ${(err as Error).message}${(err as Error).cause ? ` (${String((err as Error).cause)})` : ''}`);
  process.exitCode = 1;
});
