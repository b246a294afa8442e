// doctor's check of a credential endpoint in the environment (`keyrole serve`'s lines, or
// `exec --server`): which token variables are set and which clients read them
// (src/server/clients.ts), and, with the network allowed, the endpoint asked once the way
// an SDK asks, its refusal shown with keyrole's reason.

import { readFileSync } from 'node:fs';
import { printable } from '../../util/printable.ts';
import { oneLine } from '../../util/errors.ts';
import { tokenOnlyClients } from '../../server/clients.ts';
import { ok, problem, warning, type Check } from './check.ts';

const NAME = 'credential endpoint';
const TOKEN = 'AWS_CONTAINER_AUTHORIZATION_TOKEN';
const TOKEN_FILE = 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE';

/** The endpoint's answer to one GET with this token, as a short phrase; undefined when it served credentials. */
async function ask(url: string, token: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { headers: { authorization: token }, signal: AbortSignal.timeout(10_000) });
    const body = (await res.text()).slice(0, 2000);
    if (res.status === 200) return undefined;
    let reason = body;
    try { reason = String((JSON.parse(body) as { Message?: unknown }).Message ?? body); } catch { /* not JSON: the text */ }
    return `it answered ${res.status}: ${oneLine(printable(reason)).slice(0, 300)}`;
  } catch (err) {
    return `it did not answer (${printable(String((err as Error).cause ?? (err as Error).message)).slice(0, 120)}): the keyrole serve or exec --server that printed it has stopped`;
  }
}

export async function endpointCheck(network: boolean, env: NodeJS.ProcessEnv = process.env): Promise<Check | undefined> {
  const url = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  if (!url) {
    if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) return warning(NAME, 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set: SDKs ask the ECS agent at 169.254.170.2 for credentials, not keyrole', 'unset it unless this runs in ECS');
    return undefined;
  }
  const file = env[TOKEN_FILE];
  const value = env[TOKEN];
  let fromFile: string | undefined;
  if (file) {
    try {
      fromFile = readFileSync(file, 'utf8');
    } catch (err) {
      return problem(NAME, `${TOKEN_FILE} names ${printable(file)}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): the keyrole serve that wrote it has stopped`, 'start keyrole serve again and use the lines it prints');
    }
  }
  if (fromFile === undefined && value === undefined) {
    return problem(NAME, `AWS_CONTAINER_CREDENTIALS_FULL_URI is set but neither ${TOKEN} nor ${TOKEN_FILE}: every SDK's request is refused`, 'use the lines keyrole serve prints');
  }
  if (fromFile !== undefined && value !== undefined && fromFile !== value) {
    return problem(NAME, `${TOKEN} and the token in ${TOKEN_FILE} differ: SDKs that read the file send one, older ones the other, and one of them is refused`, 'use the lines keyrole serve printed last');
  }
  const refused = network ? await ask(url, fromFile ?? value!) : undefined;
  if (refused) return problem(NAME, `${printable(url)} refused doctor's request: ${refused}`, 'use the lines the running keyrole serve printed');
  const checked = network ? '; it answered with credentials' : '';
  if (value === undefined) {
    return warning(NAME, `only ${TOKEN_FILE} is set${checked}; clients that read only ${TOKEN} get 403: ${tokenOnlyClients()}`,
      `for those, also: export ${TOKEN}="$(cat ${printable(file!)})"`);
  }
  return ok(NAME, `${printable(url)} with ${TOKEN}${file ? ` and ${TOKEN_FILE}` : ''}, which every SDK reads${checked}`);
}
