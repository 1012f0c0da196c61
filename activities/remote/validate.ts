// The worker checks its own input: a run started through `temporal workflow start` (or any client) skips the
// plan schema, so every activity input is looked at again before anything reaches a host. What is refused here
// could run a command: an SSH user or address ssh would read as an option (`-oProxyCommand=...`), a path that
// is relative or not normalised (a `..` that leaves the directory a removal was meant for), control characters
// that would add lines to a script. Pure checks, no zod (that stays at the CLI boundary), unit-tested.
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, ActivityExecuteInput, Next } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import { secretNameProblem } from '../secrets';

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DNS_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);
const LOGIN = /^[a-z_][a-z0-9_.-]{0,31}$/;
const CONTROL = /[\x00-\x1f\x7f]/;

/** A plain POSIX login name: never starts with "-", no spaces, no shell or ssh syntax. */
export function loginProblem(user: unknown): string | null {
  if (typeof user !== 'string' || !LOGIN.test(user)) return 'expected a plain user name (a-z, 0-9, _ . -, starting with a letter or _)';
  return null;
}

/** An IPv4 address (no leading zeros) or a DNS name: never starts with "-", nothing ssh could read as an option. */
export function addressProblem(address: unknown): string | null {
  if (typeof address !== 'string' || !(IPV4.test(address) || DNS_NAME.test(address))) return 'expected an IPv4 address or a DNS name';
  return null;
}

/** A DNS name as BIND takes it in an update (no trailing dot). */
export function dnsNameProblem(name: unknown): string | null {
  return typeof name === 'string' && DNS_NAME.test(name) ? null : 'expected a DNS name';
}

/** An absolute, normalised path: no `.`/`..` or empty segments, no control characters. A trailing slash is allowed. */
export function absolutePathProblem(p: unknown): string | null {
  if (typeof p !== 'string' || !p.startsWith('/')) return 'expected an absolute path';
  if (CONTROL.test(p)) return 'control characters are not allowed in a path';
  const inner = p.length > 1 ? p.replace(/\/$/, '') : p;
  if (inner.slice(1).split('/').some((s) => s === '' || s === '.' || s === '..')) {
    return inner === '/' ? null : 'expected a normalised path: no ".", ".." or empty segments';
  }
  return null;
}

function portProblem(port: unknown): string | null {
  return Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535 ? null : 'expected a port 1-65535';
}

/** Keys whose value is a file or directory on a host or on the worker, wherever they appear in an input. */
const PATH_KEYS = new Set(['path', 'dataDir', 'logFile', 'passfile', 'triggerFile', 'binDir', 'knownHostsFile', 'configFile']);

/** Fields of older inputs that pointed the worker at a file: secrets are named in its store now. */
const FORMER_SECRET_KEYS: Record<string, string> = {
  identityFile: 'identity: { secret: NAME }',
  tsigKeyFile: 'tsigKey: { secret: NAME }',
  passwordFile: 'password: { secret: NAME }',
  passwordEnv: 'password: { secret: NAME }',
};

function looksLikeSshHost(v: Record<string, unknown>): boolean {
  return 'user' in v && 'address' in v && ('identity' in v || 'identityFile' in v);
}

/**
 * The first problem in an activity input, as "field: why" (the field as a dotted path from the argument), or
 * null. SSH hosts (anything with user, address and identity) need a plain user and address and a valid
 * port; every `address` is an address; every path-like key an absolute normalised path; a SecretRef a plain
 * name (the old forms that located a secret, { file } and { env }, are refused). Commands (hooks) are commands by design and are not judged here.
 */
export function inputProblem(value: unknown, field = 'input', depth = 0): string | null {
  if (depth > 12 || value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const p = inputProblem(v, `${field}[${i}]`, depth + 1);
      if (p) return p;
    }
    return null;
  }
  const obj = value as Record<string, unknown>;
  const problem = (key: string, why: string | null) => (why ? `${field}.${key}: ${why} (got ${JSON.stringify(obj[key])})` : null);
  const checks: (string | null)[] = [];
  if (looksLikeSshHost(obj)) {
    checks.push(problem('user', loginProblem(obj.user)), problem('port', portProblem(obj.port)));
  }
  if ('address' in obj && typeof obj.address !== 'object') checks.push(problem('address', addressProblem(obj.address)));
  // DNS switches: nsupdate reads a script, so a newline in a name would add a command to it.
  if ('zone' in obj) {
    checks.push(problem('server', addressProblem(obj.server)), problem('zone', dnsNameProblem(obj.zone)));
    if ('name' in obj) checks.push(problem('name', dnsNameProblem(obj.name)));
  }
  if ('zone' in obj || 'dns' in obj) {
    for (const key of ['from', 'to']) if (key in obj) checks.push(problem(key, addressProblem(obj[key])));
  }
  // A SecretRef names a secret in the worker's store: never a file or a variable of the input's choosing.
  if (Object.keys(obj).length === 1 && (typeof obj.file === 'string' || typeof obj.env === 'string')) {
    checks.push(`${field}: secrets are named in the worker's store now: expected { secret: NAME } (got ${JSON.stringify(obj)})`);
  }
  if (Object.keys(obj).length === 1 && 'secret' in obj) checks.push(problem('secret', secretNameProblem(obj.secret)));
  for (const [key, instead] of Object.entries(FORMER_SECRET_KEYS)) {
    if (key in obj) checks.push(`${field}.${key}: no longer accepted: write ${instead}, a name in the worker's secret store`);
  }
  for (const key of Object.keys(obj)) {
    if (PATH_KEYS.has(key) && typeof obj[key] === 'string') checks.push(problem(key, absolutePathProblem(obj[key])));
  }
  const first = checks.find((c) => c !== null);
  if (first) return first;
  for (const [key, v] of Object.entries(obj)) {
    const p = inputProblem(v, `${field}.${key}`, depth + 1);
    if (p) return p;
  }
  return null;
}

/** Throws InvalidPlan (not retryable) naming the field, when an activity's arguments hold something unsafe. */
export function assertSafeInput(activityType: string, args: unknown[]): void {
  for (const [i, arg] of args.entries()) {
    const p = inputProblem(arg, i === 0 ? 'input' : `args[${i}]`);
    if (p) {
      throw ApplicationFailure.nonRetryable(`${activityType}: refusing unsafe input (a run started around the plan schema?): ${p}`, ErrorType.InvalidPlan);
    }
  }
}

class ValidateInbound implements ActivityInboundCallsInterceptor {
  constructor(private readonly activityType: string) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    assertSafeInput(this.activityType, input.args);
    return next(input);
  }
}

/** Worker interceptor: every activity's input is checked before the activity runs (`interceptors: { activity: [...] }`). */
export function validatingInterceptor(): ActivityInterceptorsFactory {
  return (ctx) => ({ inbound: new ValidateInbound(ctx.info.activityType) });
}
