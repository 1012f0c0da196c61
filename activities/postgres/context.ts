// What every PostgreSQL stage works with: SQL sessions as the superuser, commands on a server's host, the
// server's tools, and names that tell an operator which server a message is about.
import path from 'node:path';
import { cancellationSignal } from '@temporalio/activity';
import type { SshHost } from '../../workflows/shared/types';
import type { PgAccess, PgServer } from './types';
import type { PgEndpoint, PgSession } from '../clients/pg';
import { shq, type SshConnection } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { toFailure } from '../failures';
import { onHost } from '../remote';

/** A server with the SSH login of its host. */
export type PgNode = PgServer & { ssh: SshHost };

export const where = (s: PgServer) => `${s.host} (${s.address}:${s.port})`;
/** A PostgreSQL tool of the plan's binDir, quoted for the shell. */
export const bin = (access: PgAccess, tool: string) => shq(path.posix.join(access.binDir, tool));
/** Servers started over SSH must not inherit a password from the login environment. */
export const CLEAN_ENV = 'env -u PGPASSWORD -u PGPASSFILE';

/** The superuser login to `s`; `role` ("primary", "standby") labels it in errors. */
export function superuser(access: PgAccess, s: PgServer, role: string): PgEndpoint {
  return {
    label: `${role} ${where(s)}`,
    address: s.address,
    port: s.port,
    database: access.database,
    user: access.superuser.user,
    password: access.superuser.password,
    ...(access.tls ? { security: access.tls } : {}),
  };
}

export function postgresContext(deps: ActivityDeps) {
  return {
    deps,

    /** One superuser session on `s`; its errors become failures named by `role`. */
    async sql<T>(access: PgAccess, s: PgServer, role: string, fn: (q: PgSession) => Promise<T>): Promise<T> {
      try {
        // Cancelling the activity cancels the statement on the server (pg's own cancel), not just the wait for it.
        return await deps.withPg(superuser(access, s, role), fn, { signal: cancellationSignal() });
      } catch (err) {
        throw toFailure(err, role);
      }
    },

    /** Commands on the server's host, as the OS user that owns its data directory. */
    onHost<T>(node: PgNode, what: string, fn: (c: SshConnection) => Promise<T>): Promise<T> {
      return onHost(deps, node.ssh, what, fn);
    },
  };
}

export type PgContext = ReturnType<typeof postgresContext>;
