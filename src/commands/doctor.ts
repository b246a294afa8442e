// `keyrole doctor [profile]`: the troubleshooting guides' manual checks, run for the user.
// One line per check (ok / warning / problem) and, for each problem, the fix. The exit
// status says whether a problem was found; --json gives the same for machines.
//
// The checks are in src/commands/doctor/, one file each; run.ts orders them, render.ts
// prints them.

import { KeyroleError, usageError } from '../util/errors.ts';
import { parseCommand } from './args.ts';
import { runChecks } from './doctor/run.ts';
import { render, useColour } from './doctor/render.ts';

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('doctor', argv, { json: { type: 'boolean' }, 'no-network': { type: 'boolean' } });
  if (positionals.length > 1) throw usageError(`doctor takes one profile, got ${positionals.length}`, 'keyrole doctor [profile]');
  const { ctx, checks } = await runChecks(positionals[0], !v['no-network']);
  const problems = checks.filter((c) => c.status === 'problem');
  if (v.json) {
    process.stdout.write(`${JSON.stringify({
      profile: ctx.profile ?? null,
      config: ctx.files?.configPath ?? null,
      ok: problems.length === 0,
      problems: problems.length,
      warnings: checks.filter((c) => c.status === 'warning').length,
      checks,
    }, null, 2)}\n`);
  } else {
    const header = `keyrole doctor: ${ctx.profile ? `profile ${ctx.profile}` : 'no profile'}${ctx.files ? ` (${ctx.files.configPath})` : ''}`;
    process.stdout.write(render(checks, header, useColour(process.stdout)));
  }
  if (problems.length) {
    const names = [...new Set(problems.map((c) => c.name))];
    throw new KeyroleError('DoctorFoundProblems', `doctor found ${problems.length} problem${problems.length === 1 ? '' : 's'} (${names.join(', ')})`, 'fix them as shown on stdout, then run keyrole doctor again');
  }
}
