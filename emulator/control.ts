// Test and benchmark controls. Not part of AWS: unsigned, JSON, under /_emulator/.
import { ERROR_SHAPES, type EmulatorState, type ErrorShape, type Fault, type FaultKind } from './state.ts';
import { totp } from './totp.ts';
import { accessKeysView } from './iam.ts';
import { ControlError, controlBody, type ControlResult } from './http.ts';

const FAULT_KINDS: readonly FaultKind[] = ['error', 'reset', 'hang', 'badxml', 'wrongContentType'];

function object(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new ControlError('expected a JSON object');
  return body as Record<string, unknown>;
}

function optString(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ControlError(`'${key}' must be a string`);
  return v;
}

function reqString(o: Record<string, unknown>, key: string): string {
  const v = optString(o, key);
  if (v === undefined) throw new ControlError(`'${key}' is required`);
  return v;
}

function optNumber(o: Record<string, unknown>, key: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ControlError(`'${key}' must be a number`);
  return v;
}

function parseFault(raw: unknown): Fault {
  const o = object(raw);
  const kind = optString(o, 'kind') ?? 'error';
  if (!FAULT_KINDS.includes(kind as FaultKind)) throw new ControlError(`fault kind must be one of ${FAULT_KINDS.join(', ')}`);
  const times = optNumber(o, 'times') ?? 1;
  if (!Number.isInteger(times) || times < 1) throw new ControlError("'times' must be a positive integer");
  const status = optNumber(o, 'status');
  if (status !== undefined && (!Number.isInteger(status) || status < 100 || status > 599)) {
    throw new ControlError("'status' must be an HTTP status code");
  }
  const code = optString(o, 'code');
  const message = optString(o, 'message');
  return {
    action: optString(o, 'action') ?? '*',
    times,
    kind: kind as FaultKind,
    ...(status !== undefined ? { status } : {}),
    ...(code !== undefined ? { code } : {}),
    ...(message !== undefined ? { message } : {}),
  };
}

function behaviourView(state: EmulatorState) {
  return { ...state.behaviour, faults: state.behaviour.faults.map((f) => ({ ...f })), held: state.held };
}

function route(state: EmulatorState, method: string, path: string, body: unknown): ControlResult {
  const key = `${method} ${path}`;
  switch (key) {
    case 'GET /_emulator/health':
      return { status: 200, body: { ok: true } };
    case 'GET /_emulator/stats':
      return { status: 200, body: state.stats() };
    case 'POST /_emulator/reset-stats':
      state.resetStats();
      return { status: 200, body: { ok: true } };
    case 'POST /_emulator/users': {
      const o = object(body);
      const deny = o['deny'];
      if (deny !== undefined && !(Array.isArray(deny) && deny.every((d) => typeof d === 'string'))) {
        throw new ControlError("'deny' must be an array of action names");
      }
      const added = state.addUser(reqString(o, 'userName'), optString(o, 'accountId'));
      // An explicit Deny in the user's identity policy, e.g. ["sts:GetFederationToken"].
      if (deny !== undefined) state.users.get(added.arn)!.denied = [...(deny as string[])];
      return { status: 200, body: added };
    }
    case 'POST /_emulator/roles': {
      const o = object(body);
      const requireMfa = o['requireMfa'];
      if (requireMfa !== undefined && typeof requireMfa !== 'boolean') throw new ControlError("'requireMfa' must be a boolean");
      const trusted = o['trustedPrincipals'];
      if (trusted !== undefined && !(Array.isArray(trusted) && trusted.every((t) => typeof t === 'string'))) {
        throw new ControlError("'trustedPrincipals' must be an array of strings");
      }
      const max = optNumber(o, 'maxSessionDuration');
      const ext = optString(o, 'requireExternalId');
      const role = state.addRole({
        roleArn: reqString(o, 'roleArn'),
        ...(max !== undefined ? { maxSessionDuration: max } : {}),
        ...(ext !== undefined ? { requireExternalId: ext } : {}),
        ...(requireMfa !== undefined ? { requireMfa } : {}),
        ...(trusted !== undefined ? { trustedPrincipals: trusted as string[] } : {}),
      });
      return { status: 200, body: role };
    }
    case 'POST /_emulator/mfa': {
      const o = object(body);
      const secret = optString(o, 'secret');
      const userName = optString(o, 'userName');
      const device = state.addMfaDevice({
        serial: reqString(o, 'serial'),
        ...(secret !== undefined ? { secret } : {}),
        ...(userName !== undefined ? { userName } : {}),
      });
      return { status: 200, body: { serial: device.serial, secret: device.secret } };
    }
    case 'POST /_emulator/totp': {
      // Lets shell-driven demos get a code on the emulator's (possibly shifted) clock.
      const o = object(body);
      const device = state.mfaDevices.get(reqString(o, 'serial'));
      if (!device) return { status: 404, body: { error: 'no such MFA device' } };
      const steps = optNumber(o, 'offsetSteps') ?? 0;
      return { status: 200, body: { code: totp(device.secret, state.now(), steps) } };
    }
    case 'POST /_emulator/access-keys':
      // IAM's view of a user's access keys (ids and status, no secrets), for rotate tests.
      return { status: 200, body: accessKeysView(state, reqString(object(body), 'userName')) };
    case 'GET /_emulator/behaviour':
      return { status: 200, body: behaviourView(state) };
    case 'POST /_emulator/behaviour': {
      const o = object(body);
      const b = state.behaviour;
      const latency = optNumber(o, 'latencyMs');
      if (latency !== undefined) {
        if (latency < 0) throw new ControlError("'latencyMs' must be >= 0");
        b.latencyMs = latency;
      }
      if ('credentialLifetimeSeconds' in o) {
        const v = o['credentialLifetimeSeconds'];
        if (v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
          throw new ControlError("'credentialLifetimeSeconds' must be a non-negative number or null");
        }
        b.credentialLifetimeSeconds = v as number | null;
      }
      const shape = optString(o, 'errorShape');
      if (shape !== undefined) {
        if (!ERROR_SHAPES.includes(shape as ErrorShape)) throw new ControlError(`'errorShape' must be one of ${ERROR_SHAPES.join(', ')}`);
        b.errorShape = shape as ErrorShape;
      }
      if (o['holdSts'] !== undefined) {
        if (typeof o['holdSts'] !== 'boolean') throw new ControlError("'holdSts' must be true or false");
        state.setHold(o['holdSts']);
      }
      const offset = optNumber(o, 'clockOffsetMs');
      if (offset !== undefined) b.clockOffsetMs = offset;
      if (o['faults'] !== undefined) {
        if (!Array.isArray(o['faults'])) throw new ControlError("'faults' must be an array");
        // Replaces the queue: tests state the whole fault plan in one call.
        b.faults = o['faults'].map(parseFault);
      }
      return { status: 200, body: behaviourView(state) };
    }
    case 'POST /_emulator/expire': {
      const id = reqString(object(body), 'accessKeyId');
      if (!state.expireSession(id)) return { status: 404, body: { error: `no session with access key id ${id}` } };
      return { status: 200, body: { ok: true } };
    }
    default:
      return { status: 404, body: { error: `unknown control endpoint ${key}` } };
  }
}

export function handleControl(state: EmulatorState, method: string, path: string, rawBody: Buffer): ControlResult {
  try {
    return route(state, method, path, controlBody(rawBody));
  } catch (err) {
    // A ControlError, or a state change the emulator refuses (its message says why).
    if (err instanceof Error) return { status: 400, body: { error: err.message } };
    throw err;
  }
}
