// A small node-postgres wrapper: passwords come from the worker's secret store by name (activities/secrets)
// and are read at connection time, so they never travel through workflow inputs, results or history.
// Connections are TLS with the server's certificate verified (libpq's sslmode=verify-full: signed by the plan's
// CA, naming the address dialled), and the password goes only through SCRAM: a server that asks for it in clear
// text or as MD5 gets nothing, unless the plan relaxes either explicitly (PgSecurity).
// Errors say which server, which user and which secret, never the password.
import net from 'node:net';
import tls from 'node:tls';
import { Client, type ClientConfig } from 'pg';
import type { SecretRef } from '../../workflows/shared/types';
import type { PgSecurity } from '../postgres/types';
import { describeSecret, readSecret, readSecretBytes } from '../secrets';

export interface PgEndpoint {
  /** Shown in errors: "primary dc1", "standby dc2". */
  label: string;
  address: string;
  port: number;
  database: string;
  user: string;
  password: SecretRef;
  /** TLS and password methods; absent: verify-full against the worker's system CAs, SCRAM only. */
  security?: PgSecurity;
  /** A physical replication connection (replication=true): only replication commands such as IDENTIFY_SYSTEM. */
  replication?: boolean;
}

/** What a run without a `tls` setting gets: the strict default. */
export const DEFAULT_PG_SECURITY: PgSecurity = { tlsMode: 'verify-full', allowPasswordAuth: false };

/** One line for reports and preflight: how connections are secured, and any relaxation the plan made. */
export function describePgSecurity(s: PgSecurity = DEFAULT_PG_SECURITY): string {
  const ca = s.ca ? `CA of ${describeSecret(s.ca)}` : "the worker's system CAs";
  const transport =
    s.tlsMode === 'verify-full'
      ? `TLS, certificate verified against ${ca}`
      : s.tlsMode === 'require'
        ? 'TLS WITHOUT certificate verification (relaxed by the plan: tls.mode require)'
        : 'NO TLS: clear text (relaxed by the plan: tls.mode disable)';
  const auth = s.allowPasswordAuth ? 'MD5 and clear-text passwords ALLOWED (relaxed by the plan: allowPasswordAuth)' : 'password only through SCRAM';
  return `${transport}; ${auth}`;
}

export function pgSecurityRelaxed(s: PgSecurity = DEFAULT_PG_SECURITY): boolean {
  return s.tlsMode !== 'verify-full' || s.allowPasswordAuth;
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

/** How a TLS refusal reads: no TLS offered, or a certificate the plan's CA does not vouch for, for this address. */
const TLS_REFUSED_MESSAGE = /does not support SSL|error establishing an SSL connection|self[- ]signed|unable to verify|unable to get (local )?issuer|certificate|Hostname\/IP does not match|wrong version number/i;
const TLS_REFUSED_CODE = /^(ERR_TLS_CERT|ERR_SSL_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|UNABLE_TO_(VERIFY|GET)|CERT_)/;

function classify(err: unknown, ep: PgEndpoint, connecting = false): PgError {
  if (err instanceof PgError) return err;
  const e = err as Error & { code?: string };
  const where = `${ep.label} (${ep.user}@${ep.address}:${ep.port}/${ep.database})`;
  if (e.code === '28P01' || e.code === '28000') {
    return new PgError(`${where}: ${e.message} (password from ${describeSecret(ep.password)})`, 'auth', e.code);
  }
  // TLS refused while connecting: the server does not offer it, or its certificate is not one the plan trusts.
  // Not retried: a server that presents the wrong certificate is not one to send a password to. (A connection
  // reset during the handshake, a server going away, is unreachable, below.)
  if (connecting && !(e.code && unreachableCodes.has(e.code)) && (TLS_REFUSED_MESSAGE.test(e.message) || TLS_REFUSED_CODE.test(e.code ?? ''))) {
    const security = ep.security ?? DEFAULT_PG_SECURITY;
    const ca = security.ca ? describeSecret(security.ca) : "the worker's system CAs";
    return new PgError(
      `${where}: TLS refused: ${e.message}${e.code ? ` (${e.code})` : ''}; cutover verifies the server's certificate against ${ca} and the address ${ep.address} (postgres.tls)`,
      'auth',
      e.code,
    );
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

/** node-postgres's TLS options for `ep`: verify-full (CA, name), require (encrypted only) or none. */
async function tlsOptions(ep: PgEndpoint, security: PgSecurity): Promise<ClientConfig['ssl']> {
  if (security.tlsMode === 'disable') return false;
  if (security.tlsMode === 'require') return { rejectUnauthorized: false };
  // Only the plan's CA when it names one (not the system's as well): a public CA's certificate for the same
  // address must not pass. The name checked is the address dialled, whatever pg passes to tls.connect.
  const ca = security.ca ? (await readSecretBytes(security.ca, `${ep.label} postgres.tls.ca`)).toString('utf8') : undefined;
  return {
    rejectUnauthorized: true,
    ...(ca ? { ca } : {}),
    checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(ep.address, cert),
  };
}

/** The password methods a server may ask for that send the password itself (or its unsalted-for-us MD5). */
const PASSWORD_METHODS = [
  ['_handleAuthCleartextPassword', 'in clear text (AuthenticationCleartextPassword)'],
  ['_handleAuthMD5Password', 'as MD5 (AuthenticationMD5Password)'],
] as const;

/**
 * Makes `client` refuse a server that asks for the password in clear text or as MD5: the handler that would send
 * it fails the connection instead, before a byte of the password leaves. node-postgres has no option for this,
 * so its handlers are replaced on the instance; if a node-postgres upgrade renamed them, connecting fails loudly
 * rather than sending passwords (test/e2e/secrets.test.ts has a server that asks).
 */
function refusePasswordMethods(client: Client, where: string): void {
  const handlers = client as unknown as Record<string, unknown> & { connection: { emit(event: 'error', err: Error): void } };
  for (const [handler, how] of PASSWORD_METHODS) {
    if (typeof handlers[handler] !== 'function') throw new PgError(`${where}: this node-postgres has no ${handler}: cannot refuse password methods, refusing to connect`, 'auth');
    handlers[handler] = () =>
      handlers.connection.emit(
        'error',
        new PgError(
          `${where}: the server asked for the password ${how}: cutover sends it only through SCRAM (scram-sha-256 in pg_hba.conf), ` +
            `so it sent nothing; if this server cannot do SCRAM, the plan may allow it with postgres.allowPasswordAuth: true`,
          'auth',
          'cutover-password-method',
        ),
      );
  }
}

/** Connect, use, close. The password is read from the worker's secret store just before connecting. */
export async function withPg<T>(ep: PgEndpoint, fn: (s: PgSession) => Promise<T>, opts: PgOptions = {}): Promise<T> {
  const security = ep.security ?? DEFAULT_PG_SECURITY;
  const where = `${ep.label} (${ep.user}@${ep.address}:${ep.port}/${ep.database})`;
  const password = await readSecret(ep.password, `${ep.label} login ${ep.user}`);
  const config: ClientConfig = {
    host: ep.address,
    port: ep.port,
    database: ep.database,
    user: ep.user,
    password,
    ssl: await tlsOptions(ep, security),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    statement_timeout: 60_000,
    application_name: 'cutover',
    ...(ep.replication ? { replication: 'true' } : {}),
  };
  const client = new Client(config);
  if (!security.allowPasswordAuth) refusePasswordMethods(client, where);
  client.on('error', () => undefined); // a server going away mid-session surfaces on the next query
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classify(err, ep, true);
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
