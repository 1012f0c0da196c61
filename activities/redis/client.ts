// ioredis clients for cutover's Redis steps: the password read from its reference just before connecting
// (never part of an input or result), no offline queue and no endless retries, so a server that is not there
// fails the step at once with a message naming the server and where the password came from.
import Redis from 'ioredis';
import type { SecretRef } from '../../workflows/shared/types';
import { describeSecret, readSecret } from '../secrets';
import type { RedisEndpoint } from './endpoint';

/** A server as a plan names it: the password by reference. */
export interface RedisServerRef {
  /** Shown in problems and errors: "source", "target". */
  label: string;
  host: string;
  port: number;
  username?: string;
  password?: SecretRef;
}

export class RedisClientError extends Error {
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'auth' | 'command',
  ) {
    super(message);
  }
}

/** Reads the server's password (if any) and returns a complete endpoint. */
export async function resolveEndpoint(ref: RedisServerRef): Promise<RedisEndpoint> {
  const password = ref.password ? await readSecret(ref.password, `redis ${ref.label}`) : undefined;
  return { host: ref.host, port: ref.port, username: ref.username, password, label: `${ref.label} ${ref.host}:${ref.port}` };
}

/** Connects and authenticates; errors say which server and, for a refused login, where the password came from. */
export interface ConnectOptions {
  timeoutMs?: number;
  passwordFrom?: SecretRef;
  /**
   * ioredis's ready check (default on): while the server loads a dump it waits `loading_eta_seconds` (at least
   * 1 s) and looks again, so a connection made during a load opens up to a second after the load ended. Off
   * for a probe that wants to see LOADING itself.
   */
  readyCheck?: boolean;
}

export async function connectRedis(ep: RedisEndpoint, opts: ConnectOptions = {}): Promise<Redis> {
  const r = new Redis({
    host: ep.host,
    port: ep.port,
    username: ep.username,
    password: ep.password,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: opts.timeoutMs ?? 5000,
    retryStrategy: () => null,
    protocol: 2,
    enableReadyCheck: opts.readyCheck ?? true,
  });
  // A refused AUTH closes the connection: connect() then only says "Connection is closed", the reason is here.
  let lastError: Error | undefined;
  r.on('error', (e: Error) => (lastError = e));
  try {
    await r.connect();
    await r.ping();
    return r;
  } catch (err) {
    r.disconnect();
    const m = lastError && /NOAUTH|WRONGPASS|invalid password|invalid username/i.test(lastError.message) ? lastError.message : (err as Error).message;
    const where = ep.label ?? `${ep.host}:${ep.port}`;
    if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(m)) {
      const from = opts.passwordFrom ? ` (password from ${describeSecret(opts.passwordFrom)})` : ep.password === undefined ? ' (no password given)' : '';
      throw new RedisClientError(`${where}: login refused: ${m}${from}`, 'auth');
    }
    throw new RedisClientError(`${where}: unreachable: ${m}`, 'unreachable');
  }
}

/** Connect, use, close. */
export async function withRedis<T>(ref: RedisServerRef, fn: (r: Redis, ep: RedisEndpoint) => Promise<T>, opts: Pick<ConnectOptions, 'readyCheck' | 'timeoutMs'> = {}): Promise<T> {
  const ep = await resolveEndpoint(ref);
  const r = await connectRedis(ep, { ...opts, passwordFrom: ref.password });
  try {
    return await fn(r, ep);
  } finally {
    r.disconnect();
  }
}
