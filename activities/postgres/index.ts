// PostgreSQL activities for the failover move, one file a stage. SQL goes from the worker through node-postgres
// (superuser logins, passwords read from their references); pg_basebackup, pg_ctl, pg_controldata, pg_waldump,
// pg_rewind and the trigger file run on the servers' hosts over SSH as the OS user that owns the data directories.
//
// Every activity looks before it acts, so a retry after a dead worker is safe: an existing slot is reused, a
// running server is not started twice, a stopped primary is not stopped again, a promoted standby is not
// promoted twice. The replication password reaches a standby host only on SSH stdin, into a 0600 passfile that
// primary_conninfo names: it is never in a command line, a config file, an activity input or a result.
import type { ActivityDeps } from '../deps';
import { postgresContext } from './context';
import { createFenceActivities } from './fence';
import { createPreflightActivities } from './preflight';
import { createPromoteActivities } from './promote';
import { createReplicationActivities } from './replication';
import { createServerActivities } from './servers';
import { createStandbyActivities } from './standby';

export type { TargetState } from '../remote';
export type { PgNode } from './context';
export type { FenceResult } from './fence';
export type { PostgresPreflightInput, PostgresPreflightResult } from './preflight';
export type { PromoteResult } from './promote';
export type { CatchUpWindowResult, GuardWindowResult, ReplicationSample } from './replication';
export type { ServerState } from './servers';
export type { BaseBackupResult, RejoinResult } from './standby';

export function createPostgresActivities(deps: ActivityDeps) {
  const pg = postgresContext(deps);
  return {
    ...createPreflightActivities(pg),
    ...createReplicationActivities(pg),
    ...createStandbyActivities(pg),
    ...createServerActivities(pg),
    ...createFenceActivities(pg),
    ...createPromoteActivities(pg),
  };
}
