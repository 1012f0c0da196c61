// The PostgreSQL move's servers and logins, as the activities use them and the workflow input carries them
// (workflows/postgres-failover.ts re-exports them). Plain types: no import reaches back into workflows/ but the
// shared ones.
import type { SecretRef } from '../../workflows/shared/types';

/** One PostgreSQL server of a failover: where it runs, where it listens, where its files are. */
export interface PgServer {
  /** Host alias in `hosts` (the SSH login pg_ctl, pg_basebackup and the trigger file go through). */
  host: string;
  /** Address clients and replication connect to. */
  address: string;
  port: number;
  dataDir: string;
  /** pg_ctl's log file on that host. */
  logFile: string;
  /** Passfile cutover writes on that host when the server becomes a standby (mode 0600, removed when done). */
  passfile: string;
  /** promote_trigger_file of the server when it is a standby. */
  triggerFile: string;
  /** Extra settings written to postgresql.auto.conf when the server becomes a standby (socket dir, ...). */
  settings: Record<string, string>;
}

/**
 * How cutover (and the standby's replication) reach the servers. The default is strict: TLS with the server's
 * certificate verified (sslmode=verify-full), and the password only through SCRAM. A plan relaxes either only
 * explicitly, and the run's figures and report say so.
 */
export interface PgSecurity {
  /** verify-full: TLS, certificate signed by `ca` and naming the address; require: TLS, not verified; disable: none. */
  tlsMode: 'verify-full' | 'require' | 'disable';
  /** The CA certificate (PEM), from the worker's secret store; absent: the worker's system CAs. */
  ca?: SecretRef;
  /** Also answer a server that asks for the password in clear text or as MD5 (default: refuse, send nothing). */
  allowPasswordAuth: boolean;
}

/** PostgreSQL logins and tools shared by both servers. Passwords are references. */
export interface PgAccess {
  binDir: string;
  database: string;
  superuser: { user: string; password: SecretRef };
  replication: { user: string; password: SecretRef };
  /** Absent in runs started before connections were secured: the strict default (verify-full, SCRAM only). */
  tls?: PgSecurity;
}
