// TLS for the connections PostgreSQL's own tools make from a server's host (pg_basebackup, the standby's
// walreceiver through primary_conninfo, pg_rewind, the preflight's replication login): the same rule as
// cutover's own connections (activities/clients/pg.ts), sslmode=verify-full against the plan's CA unless the plan
// relaxed it. The CA goes to the host as a file beside the passfile (it is public, but only cutover writes it).
// PostgreSQL 15's libpq cannot refuse a clear-text password request (require_auth is 16+): verify-full is what
// keeps the replication password from a server that is not the primary.
import tls from 'node:tls';
import type { PgAccess, PgServer } from './types';
import { DEFAULT_PG_SECURITY } from '../clients/pg';
import { shq, type SshConnection } from '../clients/ssh';
import { writeRemoteFile } from '../remote';
import { readSecretBytes } from '../secrets';

/** Where `node`'s host keeps the CA its connections to the other server verify with. */
export const caFileOf = (node: Pick<PgServer, 'passfile'>): string => `${node.passfile}.root.crt`;

/** libpq connection settings for a connection made on `node`'s host. */
export function libpqTls(access: PgAccess, node: Pick<PgServer, 'passfile'>): Record<string, string> {
  const s = access.tls ?? DEFAULT_PG_SECURITY;
  if (s.tlsMode !== 'verify-full') return { sslmode: s.tlsMode };
  return { sslmode: 'verify-full', sslrootcert: caFileOf(node) };
}

/** The same as environment for a tool's command line: `PGSSLMODE=... PGSSLROOTCERT=...` (quoted). */
export function libpqTlsEnv(access: PgAccess, node: Pick<PgServer, 'passfile'>): string {
  return Object.entries(libpqTls(access, node))
    .map(([k, v]) => `PG${k.toUpperCase()}=${shq(v)}`)
    .join(' ');
}

/** The CA certificates (PEM) a host's libpq verifies with: the plan's CA, else the worker's system CAs; null without verification. */
export async function caPem(access: PgAccess): Promise<string | null> {
  const s = access.tls ?? DEFAULT_PG_SECURITY;
  if (s.tlsMode !== 'verify-full') return null;
  if (s.ca) return (await readSecretBytes(s.ca, 'postgres.tls.ca')).toString('utf8');
  return `${tls.rootCertificates.join('\n')}\n`;
}

/** Puts the CA file on `node`'s host (stdin, never a command line) when connections are verified. */
export async function writeCaFile(c: SshConnection, access: PgAccess, node: Pick<PgServer, 'passfile'>): Promise<void> {
  const pem = await caPem(access);
  if (pem !== null) await writeRemoteFile(c, caFileOf(node), pem);
}
