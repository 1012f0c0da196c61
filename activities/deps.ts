// What activities are built over: injected so tests and the dry run can supply their own.
import type { Storage } from '@google-cloud/storage';
import type { SshHost } from '../workflows/shared/types';
import type { PgEndpoint, PgOptions, PgSession } from './clients/pg';
import type { SshConnection } from './clients/ssh';

export interface ActivityDeps {
  withSsh<T>(host: SshHost, fn: (c: SshConnection) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** SQL sessions (node-postgres); the password is read from its reference inside. */
  withPg<T>(endpoint: PgEndpoint, fn: (s: PgSession) => Promise<T>, opts?: PgOptions): Promise<T>;
  /** nsupdate binary on the worker host (bind9-dnsutils). */
  nsupdatePath: string;
  /** GCS client for artifacts, built on first use. */
  storage: () => Storage;
}
