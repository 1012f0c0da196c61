// A small node-postgres wrapper: passwords come from references (activities/secrets) and are read at
// connection time, so they never travel through workflow inputs, results or history.
// Errors say which server, which user and where the password came from, never the password.
import net from 'node:net';
import { Client, type ClientConfig } from 'pg';
import type { SecretRef } from '../../workflows/shared/types';
import { describeSecret, readSecret } from '../secrets';

export interface PgEndpoint {
  /** Shown in errors: "primary dc1", "standby dc2". */
  label: string;
  address: string;
  port: number;
  database: string;
  user: string;
  password: SecretRef;
}

export class PgError extends Error {
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'auth' | 'query',
    /** SQLSTATE of a server error. */
    readonly code?: string,
  ) {
    super(message);
  }
}

const unreachableCodes = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN']);

function classify(err: unknown, ep: PgEndpoint): PgError {
  if (err instanceof PgError) return err;
  const e = err as Error & { code?: string };
  const where = `${ep.label} (${ep.user}@${ep.address}:${ep.port}/${ep.database})`;
  if (e.code === '28P01' || e.code === '28000') {
    return new PgError(`${where}: ${e.message} (password from ${describeSecret(ep.password)})`, 'auth', e.code);
  }
  // Class 08 (connection exception) and 57P0x (shutting down, starting up): the server is not there right now.
  if ((e.code && unreachableCodes.has(e.code)) || /^08|^57P0/.test(e.code ?? '') || /timeout|terminated unexpectedly|Connection terminated/i.test(e.message)) {
    return new PgError(`${where}: unreachable: ${e.message || e.code}`, 'unreachable', e.code);
  }
  return new PgError(`${where}: ${e.message}`, 'query', e.code);
}

export interface PgSession {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** First row (throws when there is none). */
  one<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R>;
}

/**
 * PostgreSQL's own query cancel (a CancelRequest on a new connection: protocol message 80877102 with the
 * session's backend pid and secret key): what psql's Ctrl-C sends. Best effort, never throws.
 */
export function sendCancelRequest(address: string, port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const s = net.connect({ host: address, port });
    s.setTimeout(2000, () => s.destroy());
    s.once('connect', () => {
      const b = Buffer.alloc(16);
      b.writeInt32BE(16, 0);
      b.writeInt32BE(80877102, 4);
      b.writeInt32BE(processId, 8);
      b.writeInt32BE(secretKey, 12);
      s.end(b);
    });
    s.once('close', () => resolve());
    s.once('error', () => resolve());
  });
}

export interface PgOptions {
  connectTimeoutMs?: number;
  /**
   * The activity's cancellation: when it fires, the running statement (a CHECKPOINT, a wait) is cancelled on
   * the server, not just abandoned by the worker, and the session is closed.
   */
  signal?: AbortSignal;
}

/** Connect, use, close. The password is read from its reference just before connecting. */
export async function withPg<T>(ep: PgEndpoint, fn: (s: PgSession) => Promise<T>, opts: PgOptions = {}): Promise<T> {
  const password = await readSecret(ep.password, `${ep.label} login ${ep.user}`);
  const config: ClientConfig = {
    host: ep.address,
    port: ep.port,
    database: ep.database,
    user: ep.user,
    password,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    statement_timeout: 60_000,
    application_name: 'cutover',
  };
  const client = new Client(config);
  client.on('error', () => undefined); // a server going away mid-session surfaces on the next query
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classify(err, ep);
  }
  const backend = client as unknown as { processID: number | null; secretKey: number | null };
  const onAbort = () => {
    if (backend.processID !== null && backend.secretKey !== null) {
      void sendCancelRequest(ep.address, ep.port, backend.processID, backend.secretKey).then(() => client.end().catch(() => undefined));
    } else {
      void client.end().catch(() => undefined);
    }
  };
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const session: PgSession = {
    async query(sql, params) {
      try {
        return (await client.query(sql, params)).rows;
      } catch (err) {
        throw classify(err, ep);
      }
    },
    async one(sql, params) {
      const rows = await session.query(sql, params);
      if (!rows.length) throw new PgError(`${ep.label}: no row from ${sql.slice(0, 60)}`, 'query');
      return rows[0] as never;
    },
  };
  try {
    return await fn(session);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => undefined);
  }
}
