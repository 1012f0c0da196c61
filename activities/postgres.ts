// PostgreSQL activities for the failover move. SQL goes from the worker through node-postgres (superuser
// logins, passwords read from their references); pg_basebackup, pg_ctl, pg_controldata, pg_waldump, pg_rewind
// and the trigger file run on the servers' hosts over SSH as the OS user that owns the data directories.
//
// Every activity looks before it acts, so a retry after a dead worker is safe: an existing slot is reused, a
// running server is not started twice, a stopped primary is not stopped again, a promoted standby is not
// promoted twice. The replication password reaches a standby host only on SSH stdin, into a 0600 passfile that
// primary_conninfo names: it is never in a command line, a config file, an activity input or a result.
import net from 'node:net';
import path from 'node:path';
import { activityInfo, cancellationSignal, cancelled, heartbeat, log, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../workflows/shared/errors';
import type { DnsSwitch, SshHost } from '../workflows/shared/types';
import type { PgAccess, PgServer } from '../workflows/postgres-failover';
import { PgError, type PgEndpoint, type PgSession } from './clients/pg';
import { shq, type SshConnection } from './clients/ssh';
import type { ActivityDeps } from './deps';
import { lookupA } from './dns';
import { toFailure } from './failures';
import { assertRemovable, emptyDirectory, keepBeating, onHost as onSshHost, preflightFailure, restoreTarget, runInOwnSession, stopSession, writeRemoteFile } from './remote';
import { readSecret } from './secrets';
import {
  conninfo,
  editAutoConf,
  isSafeIdentifier,
  lsnAtLeast,
  lsnDiff,
  majorVersion,
  parseBaseBackupProgress,
  parseControlData,
  parseLsn,
  parseTimelineHistory,
  parseWaldumpRecord,
  passfileLine,
  recordEnd,
  type ControlData,
} from './pg-tools';

/** A server with the SSH login of its host. */
export type PgNode = PgServer & { ssh: SshHost };

export type { TargetState } from './remote';
import type { TargetState } from './remote';

export interface PostgresPreflightInput {
  access: PgAccess;
  primary: PgNode;
  standby: PgNode & { overwrite: boolean };
  slotName: string;
  applicationName: string;
  dns: Pick<DnsSwitch, 'server' | 'port' | 'name'>;
}

export interface PostgresPreflightResult {
  primaryVersion: string;
  standbyBinVersion: string;
  walLevel: string;
  maxWalSenders: number;
  walSendersInUse: number;
  maxReplicationSlots: number;
  slotsInUse: number;
  primarySizeBytes: number;
  standbyFreeBytes: number;
  targetState: TargetState;
  primaryLsn: string;
  systemIdentifier: string;
  /** wal_log_hints or data checksums: pg_rewind can bring back a primary that did not shut down cleanly. */
  rewindable: boolean;
  dnsAddresses: string[];
}

export interface ReplicationSample {
  checkedAt: string;
  primaryLsn: string;
  /** pg_stat_replication.state of the standby, or 'absent' when it is not connected. */
  state: string;
  syncState: string | null;
  sentLsn: string | null;
  flushLsn: string | null;
  replayLsn: string | null;
  /** primary's current LSN minus the standby's replay LSN. */
  lagBytes: number;
  replayLagMs: number | null;
  slot: { active: boolean; restartLsn: string | null; walStatus: string | null } | null;
}

export interface CatchUpWindowResult {
  caughtUp: boolean;
  sample: ReplicationSample;
  /** When the lag went under the threshold and stayed there (carried into the next window). */
  underSince: string | null;
  samples: number;
}

export interface BaseBackupResult {
  bytes: number;
  durationMs: number;
  rateBytesPerSec: number;
  attempt: number;
  /** A previous attempt's partial copy was removed first. */
  cleanedPartial: boolean;
  alreadyDone: boolean;
}

export interface FenceResult {
  /** When new transactions on the old primary became read-only and in-flight writers were ended. */
  readOnlyAt: string | null;
  terminatedWriters: number;
  stoppedAt: string | null;
  alreadyStopped: boolean;
  /** End of the old primary's shutdown checkpoint record: the last byte of WAL it will ever write. */
  finalLsn: string;
  standbyReplayLsn: string;
  timeline: number;
  /** Where the fence spent its time (ms): read-only set, standby flushed, clean stop, replay verified. */
  timings: { readOnlyMs: number; flushWaitMs: number; stopMs: number; verifyMs: number };
}

export interface PromoteResult {
  alreadyPromoted: boolean;
  method: 'trigger-file' | 'pg_promote';
  /** From the trigger (or pg_promote) to the first write the new primary accepted. */
  promoteMs: number;
  /** When the promotion was seen done: a client may have committed a few ms earlier (the check polls). */
  writableAt: string;
  /** The last moment the server was seen in recovery (when that check was sent): no commit can precede it. */
  inRecoveryAt: string | null;
  timeline: number;
  lsn: string;
}

export interface RejoinResult {
  rewound: boolean;
  reason: string;
  alreadyStandby: boolean;
}

export interface ServerState {
  checkedAt: string;
  reachable: boolean;
  inRecovery: boolean | null;
  acceptsWrites: boolean;
  lsn: string | null;
  error?: string;
}

const where = (s: PgServer) => `${s.host} (${s.address}:${s.port})`;
const bin = (access: PgAccess, tool: string) => shq(path.posix.join(access.binDir, tool));
/** Servers started over SSH must not inherit a password from the login environment. */
const CLEAN_ENV = 'env -u PGPASSWORD -u PGPASSFILE';

/** ALTER SYSTEM takes no parameters: names are checked, values quoted as SQL literals. */
function sqlLiteral(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}
function settingName(name: string): string {
  if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw ApplicationFailure.nonRetryable(`not a setting name: ${name}`, ErrorType.InvalidPlan);
  return name;
}

export function createPostgresActivities(deps: ActivityDeps) {
  const superuser = (access: PgAccess, s: PgServer, role: string): PgEndpoint => ({
    label: `${role} ${where(s)}`,
    address: s.address,
    port: s.port,
    database: access.database,
    user: access.superuser.user,
    password: access.superuser.password,
  });

  async function sql<T>(access: PgAccess, s: PgServer, role: string, fn: (q: PgSession) => Promise<T>): Promise<T> {
    try {
      return await deps.withPg(superuser(access, s, role), fn);
    } catch (err) {
      throw toFailure(err, role);
    }
  }

  function onHost<T>(node: PgNode, what: string, fn: (c: SshConnection) => Promise<T>): Promise<T> {
    return onSshHost(deps, node.ssh, what, fn);
  }

  /** pg_ctl status: 0 running, 3 not running, 4 no data directory. */
  async function isRunning(c: SshConnection, access: PgAccess, s: PgServer): Promise<boolean> {
    const r = await c.exec(`${bin(access, 'pg_ctl')} status -D ${shq(s.dataDir)}`, { allowFailure: true });
    return r.code === 0;
  }

  async function start(c: SshConnection, access: PgAccess, server: PgServer): Promise<{ alreadyRunning: boolean; startMs: number }> {
    const started = Date.now();
    if (await isRunning(c, access, server)) return { alreadyRunning: true, startMs: 0 };
    const stop = keepBeating(() => ({ stage: 'starting', dataDir: server.dataDir }));
    try {
      const r = await c.exec(`${CLEAN_ENV} ${bin(access, 'pg_ctl')} start -D ${shq(server.dataDir)} -l ${shq(server.logFile)} -w -t 120`, {
        allowFailure: true,
      });
      if (r.code !== 0) {
        const tail = (await c.exec(`tail -n 5 ${shq(server.logFile)}`, { allowFailure: true })).stdout.trim();
        throw ApplicationFailure.nonRetryable(`pg_ctl start of ${where(server)} failed: ${r.stderr.trim() || r.stdout.trim()} | log: ${tail}`, ErrorType.CommandFailed);
      }
    } finally {
      stop();
    }
    return { alreadyRunning: false, startMs: Date.now() - started };
  }

  /** The fence's first act: new transactions read-only, transactions already writing ended; how many were. */
  async function goReadOnly(q: PgSession, primary: PgServer): Promise<number> {
    await q.query('alter system set default_transaction_read_only = on');
    await q.query('select pg_reload_conf()');
    // The postmaster signals every backend once it has reloaded; our session seeing "on" means it has.
    for (let i = 0; (await q.one<{ v: string }>("select current_setting('default_transaction_read_only') as v")).v !== 'on'; i++) {
      if (i > 100) throw ApplicationFailure.retryable(`${where(primary)} did not apply default_transaction_read_only`, ErrorType.Transient);
      await sleep(5);
    }
    // Transactions already writing would still commit: end them (they were never acknowledged).
    const t = await q.one<{ n: number }>(
      `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid() and backend_xid is not null`,
    );
    return t.n;
  }

  /** Waits until the standby has flushed everything the (read-only) primary wrote. */
  async function awaitStandbyFlush(q: PgSession, input: { applicationName: string; slot: string; timeoutMs: number }, onWait: () => void): Promise<void> {
    const deadline = Date.now() + input.timeoutMs;
    for (;;) {
      const s = await sample(q, input.applicationName, input.slot);
      if (s.flushLsn && lsnAtLeast(s.flushLsn, s.primaryLsn)) return;
      if (Date.now() > deadline) {
        // Not retried: the old primary is read-only meanwhile, and a rollback gives it its writes back.
        throw ApplicationFailure.nonRetryable(
          `standby has not flushed up to ${s.primaryLsn} within ${input.timeoutMs / 1000} s of the old primary going read-only (flush ${s.flushLsn ?? 'none'}, state ${s.state})`,
          ErrorType.VerificationFailed,
        );
      }
      onWait();
      await sleep(2);
    }
  }

  /** pg_ctl stop -m fast, then waits for postmaster.pid to go (removed last; pg_ctl -w only looks every 100 ms). */
  async function stopCleanly(c: SshConnection, access: PgAccess, server: PgServer): Promise<void> {
    const pidFile = shq(path.posix.join(server.dataDir, 'postmaster.pid'));
    await c.exec(
      `${bin(access, 'pg_ctl')} stop -D ${shq(server.dataDir)} -m fast -W && ` +
        `for i in $(seq 24000); do [ -f ${pidFile} ] || exit 0; sleep 0.005; done; echo 'still running after 120 s' >&2; exit 1`,
    );
  }

  /**
   * Waits until the standby has replayed up to `finalLsn` (the end of the stopped primary's shutdown checkpoint)
   * and checks it stopped exactly there: past it, it is not a copy of this primary.
   */
  async function awaitReplayOf(sq: PgSession, standby: PgServer, finalLsn: string, timeoutMs: number, onWait: () => void): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await sq.one<{ replay: string | null }>('select pg_last_wal_replay_lsn()::text as replay');
      if (r.replay && lsnAtLeast(r.replay, finalLsn)) {
        if (r.replay !== finalLsn) {
          throw ApplicationFailure.nonRetryable(
            `standby ${where(standby)} replayed up to ${r.replay}, past the old primary's final LSN ${finalLsn}: it is not a copy of this primary`,
            ErrorType.VerificationFailed,
          );
        }
        return r.replay;
      }
      if (Date.now() > deadline) {
        throw ApplicationFailure.nonRetryable(
          `standby ${where(standby)} replayed up to ${r.replay ?? 'nothing'}, the old primary ended at ${finalLsn}: it did not receive all WAL`,
          ErrorType.VerificationFailed,
        );
      }
      onWait();
      await sleep(2);
    }
  }

  async function controlData(c: SshConnection, access: PgAccess, s: PgServer): Promise<ControlData> {
    const r = await c.exec(`LC_ALL=C ${bin(access, 'pg_controldata')} -D ${shq(s.dataDir)}`);
    return parseControlData(r.stdout);
  }

  /** The end of the checkpoint record pg_control points at: after a clean shutdown, the server's last WAL byte. */
  async function endOfCheckpoint(c: SshConnection, access: PgAccess, s: PgServer, cd: ControlData): Promise<string> {
    const r = await c.exec(`${bin(access, 'pg_waldump')} -p ${shq(path.posix.join(s.dataDir, 'pg_wal'))} -t ${cd.timeline} -s ${cd.checkpointLsn} -n 1`);
    const rec = parseWaldumpRecord(r.stdout);
    return recordEnd(rec.lsn, rec.totalLength, cd.wal);
  }

  /** Writes the replication passfile on the standby's host (stdin only: never on a command line). */
  async function writePassfile(c: SshConnection, access: PgAccess, node: PgServer, upstream: PgServer): Promise<void> {
    const password = await readSecret(access.replication.password, 'postgres.replication').catch((err) => {
      throw toFailure(err, 'replication password');
    });
    await writeRemoteFile(c, node.passfile, passfileLine(upstream.address, upstream.port, access.replication.user, password));
  }

  /** postgresql.auto.conf edited like ALTER SYSTEM would (the server is stopped), plus standby.signal. */
  async function configureAsStandby(
    c: SshConnection,
    input: { migrationId: string; access: PgAccess; node: PgServer; upstream: PgServer; slot: string; applicationName: string; walRetrieveRetryIntervalMs: number },
    extra: Record<string, string | null>,
  ): Promise<void> {
    const { access, node, upstream } = input;
    const file = path.posix.join(node.dataDir, 'postgresql.auto.conf');
    const current = (await c.exec(`cat ${shq(file)} 2>/dev/null || true`)).stdout;
    const changes: Record<string, string | null> = {
      ...extra,
      listen_addresses: node.address,
      port: String(node.port),
      primary_conninfo: conninfo({
        host: upstream.address,
        port: upstream.port,
        user: access.replication.user,
        passfile: node.passfile,
        application_name: input.applicationName,
      }),
      primary_slot_name: input.slot,
      promote_trigger_file: node.triggerFile,
      // With the 5 s default, a standby whose primary is gone looks for the trigger file only every 5 s.
      wal_retrieve_retry_interval: `${input.walRetrieveRetryIntervalMs}ms`,
      ...node.settings,
    };
    const text = editAutoConf(current, changes, `cutover ${input.migrationId}: standby of ${upstream.address}:${upstream.port}`);
    await writeRemoteFile(c, file, text);
    // A trigger file left from an earlier run would promote the standby the moment it starts.
    await c.exec(`rm -f ${shq(node.triggerFile)} && touch ${shq(path.posix.join(node.dataDir, 'standby.signal'))} && chmod 700 ${shq(node.dataDir)}`);
  }

  async function sample(q: PgSession, applicationName: string, slot: string): Promise<ReplicationSample> {
    const r = await q.one<{
      primary_lsn: string;
      state: string | null;
      sync_state: string | null;
      sent_lsn: string | null;
      flush_lsn: string | null;
      replay_lsn: string | null;
      replay_lag_ms: number | null;
      slot_name: string | null;
      active: boolean | null;
      restart_lsn: string | null;
      wal_status: string | null;
    }>(
      `select pg_current_wal_lsn()::text as primary_lsn, r.state, r.sync_state, r.sent_lsn::text, r.flush_lsn::text,
              r.replay_lsn::text, (extract(epoch from r.replay_lag) * 1000)::float8 as replay_lag_ms,
              s.slot_name, s.active, s.restart_lsn::text, s.wal_status
         from (select 1) one
         left join pg_stat_replication r on r.application_name = $1
         left join pg_replication_slots s on s.slot_name = $2`,
      [applicationName, slot],
    );
    const behind = r.replay_lsn ?? r.restart_lsn;
    return {
      checkedAt: new Date().toISOString(),
      primaryLsn: r.primary_lsn,
      state: r.state ?? 'absent',
      syncState: r.sync_state,
      sentLsn: r.sent_lsn,
      flushLsn: r.flush_lsn,
      replayLsn: r.replay_lsn,
      lagBytes: behind ? lsnDiff(r.primary_lsn, behind) : Number(parseLsn(r.primary_lsn)),
      replayLagMs: r.replay_lag_ms === null ? (r.state === 'streaming' ? 0 : null) : Math.round(r.replay_lag_ms),
      slot: r.slot_name ? { active: Boolean(r.active), restartLsn: r.restart_lsn, walStatus: r.wal_status } : null,
    };
  }

  async function standbyLogTail(node: PgNode): Promise<string> {
    return deps
      .withSsh(node.ssh, async (c) => (await c.exec(`tail -n 5 ${shq(node.logFile)}`, { allowFailure: true })).stdout.trim())
      .catch(() => '');
  }

  return {
    /** Read-only checks of both servers and hosts; every problem is reported at once, nothing is changed. */
    async preflightPostgres(input: PostgresPreflightInput): Promise<PostgresPreflightResult> {
      const { access, primary, standby } = input;
      const problems: string[] = [];
      const result: PostgresPreflightResult = {
        primaryVersion: '',
        standbyBinVersion: '',
        walLevel: '',
        maxWalSenders: 0,
        walSendersInUse: 0,
        maxReplicationSlots: 0,
        slotsInUse: 0,
        primarySizeBytes: 0,
        standbyFreeBytes: 0,
        targetState: 'absent',
        primaryLsn: '',
        systemIdentifier: '',
        rewindable: false,
        dnsAddresses: [],
      };
      for (const [what, name] of [['options.slotName', input.slotName], ['options.applicationName', input.applicationName]]) {
        if (!isSafeIdentifier(name)) problems.push(`${what} "${name}" must be lowercase letters, digits and _ (at most 63)`);
      }

      // Secrets first: without them there is nothing to log in with. Messages name the reference, not a value.
      let superuserOk = true;
      let replicationPassword: string | null = null;
      await readSecret(access.superuser.password, 'postgres.superuser').catch((err) => {
        superuserOk = false;
        problems.push((err as Error).message);
      });
      replicationPassword = await readSecret(access.replication.password, 'postgres.replication').catch((err) => {
        problems.push((err as Error).message);
        return null;
      });

      let primaryMajor: number | null = null;
      if (superuserOk) {
        await deps
          .withPg(superuser(access, primary, 'primary'), async (q) => {
            const r = await q.one<Record<string, string | number | boolean | null>>(
              `select current_setting('server_version_num')::int as version_num, current_setting('server_version') as version,
                      current_setting('wal_level') as wal_level, current_setting('max_wal_senders')::int as max_wal_senders,
                      current_setting('max_replication_slots')::int as max_slots, current_setting('hot_standby') as hot_standby,
                      current_setting('wal_log_hints') as wal_log_hints, current_setting('data_checksums') as data_checksums,
                      current_setting('data_directory') as data_directory, pg_is_in_recovery() as in_recovery,
                      case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as lsn,
                      (select count(*) from pg_stat_replication)::int as senders,
                      (select count(*) from pg_replication_slots)::int as slots,
                      (select sum(pg_database_size(datname)) from pg_database)::float8 as size,
                      (select coalesce(sum(size), 0) from pg_ls_waldir())::float8 as wal_size,
                      (select system_identifier::text from pg_control_system()) as sysid`,
            );
            result.primaryVersion = String(r.version);
            primaryMajor = majorVersion(Number(r.version_num));
            result.walLevel = String(r.wal_level);
            result.maxWalSenders = Number(r.max_wal_senders);
            result.walSendersInUse = Number(r.senders);
            result.maxReplicationSlots = Number(r.max_slots);
            result.slotsInUse = Number(r.slots);
            result.primarySizeBytes = Number(r.size) + Number(r.wal_size);
            result.primaryLsn = String(r.lsn ?? '');
            result.systemIdentifier = String(r.sysid);
            result.rewindable = r.wal_log_hints === 'on' || r.data_checksums === 'on';
            const p = `primary ${where(primary)}`;
            if (r.in_recovery) problems.push(`${p} is in recovery: it is a standby, not a primary`);
            if (r.wal_level !== 'replica' && r.wal_level !== 'logical') {
              problems.push(`${p}: wal_level is ${r.wal_level}; a standby needs wal_level = replica (or logical), which takes a restart`);
            }
            if (result.maxWalSenders - result.walSendersInUse < 2) {
              problems.push(`${p}: max_wal_senders is ${result.maxWalSenders} with ${result.walSendersInUse} in use; pg_basebackup needs 2 free`);
            }
            if (result.maxReplicationSlots - result.slotsInUse < 1) {
              problems.push(`${p}: max_replication_slots is ${result.maxReplicationSlots} with ${result.slotsInUse} in use; the standby needs 1 free`);
            }
            if (r.hot_standby !== 'on') problems.push(`${p}: hot_standby is off; the standby (which copies postgresql.conf) must accept queries to report replay`);
            if (r.data_directory !== primary.dataDir) {
              problems.push(`primary.dataDir is ${primary.dataDir} but ${p} runs from ${r.data_directory}`);
            }
            const slot = await q.query<{ active: boolean }>('select active from pg_replication_slots where slot_name = $1', [input.slotName]);
            if (slot.length) {
              problems.push(
                `${p}: replication slot ${input.slotName} already exists (${slot[0].active ? 'active' : 'inactive'}); ` +
                  `left by an earlier run? drop it with select pg_drop_replication_slot('${input.slotName}')`,
              );
            }
            const app = await q.query('select pid from pg_stat_replication where application_name = $1', [input.applicationName]);
            if (app.length) problems.push(`${p}: a standby named ${input.applicationName} is already connected`);
            const role = await q.query<{ rolreplication: boolean; rolcanlogin: boolean }>(
              'select rolreplication, rolcanlogin from pg_roles where rolname = $1',
              [access.replication.user],
            );
            if (!role.length) problems.push(`${p}: replication user ${access.replication.user} does not exist`);
            else if (!role[0].rolreplication || !role[0].rolcanlogin) {
              problems.push(`${p}: role ${access.replication.user} needs LOGIN and REPLICATION`);
            }
          })
          .catch((err) => problems.push((err as Error).message));
      }

      // The primary's host: pg_ctl/pg_controldata/pg_waldump fence it at cutover.
      await deps
        .withSsh(primary.ssh, async (c) => {
          const v = await c.exec(`${bin(access, 'postgres')} --version && test -x ${bin(access, 'pg_controldata')} && test -x ${bin(access, 'pg_waldump')}`, {
            allowFailure: true,
          });
          if (v.code !== 0) problems.push(`primary host ${primary.host}: PostgreSQL tools not found in ${access.binDir}`);
          else if (primaryMajor !== null && majorVersion(v.stdout) !== primaryMajor) {
            problems.push(`primary host ${primary.host}: ${access.binDir} holds ${v.stdout.trim()}, the server runs ${result.primaryVersion}`);
          }
          const d = await c.exec(`test -f ${shq(path.posix.join(primary.dataDir, 'PG_VERSION'))}`, { allowFailure: true });
          if (d.code !== 0) problems.push(`primary.dataDir ${primary.dataDir} on ${primary.host} is not a PostgreSQL data directory readable by ${primary.ssh.user}`);
        })
        .catch((err) => problems.push(`primary host ${primary.host}: ${(err as Error).message}`));

      // The standby's host: same major version, an empty (or absent) target, room for a copy, a replication login.
      await deps
        .withSsh(standby.ssh, async (c) => {
          const v = await c.exec(`${bin(access, 'postgres')} --version && test -x ${bin(access, 'pg_basebackup')} && test -x ${bin(access, 'pg_ctl')}`, {
            allowFailure: true,
          });
          if (v.code !== 0) problems.push(`standby host ${standby.host}: PostgreSQL tools (postgres, pg_basebackup, pg_ctl) not found in ${access.binDir}`);
          else {
            result.standbyBinVersion = v.stdout.trim();
            if (primaryMajor !== null && majorVersion(v.stdout) !== primaryMajor) {
              problems.push(`standby host ${standby.host} has ${result.standbyBinVersion}, the primary runs ${result.primaryVersion}: major versions must match`);
            }
          }
          const state = await c.exec(
            `p=${shq(standby.dataDir)}; if [ ! -e "$p" ]; then echo absent; d=$(dirname "$p"); [ -d "$d" ] && [ -w "$d" ] || echo unwritable; ` +
              `elif [ ! -d "$p" ]; then echo not-a-directory; elif [ -z "$(ls -A "$p")" ]; then echo empty; [ -w "$p" ] || echo unwritable; ` +
              `else echo non-empty; [ -w "$p" ] || echo unwritable; if [ -f "$p/postmaster.pid" ] && kill -0 "$(head -1 "$p/postmaster.pid")" 2>/dev/null; then echo running; fi; fi; ` +
              `for f in ${shq(standby.passfile)} ${shq(standby.triggerFile)} ${shq(standby.logFile)}; do [ -w "$(dirname "$f")" ] || echo "cannot-write $f"; done; ` +
              `d="$p"; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -PB1 "$d" | awk 'NR==2 {print "free " $4}'`,
          );
          const lines = state.stdout.trim().split('\n');
          const kind = lines[0];
          if (kind === 'not-a-directory') problems.push(`standby.dataDir ${standby.dataDir} on ${standby.host} exists and is not a directory`);
          else result.targetState = kind as TargetState;
          if (lines.includes('running')) problems.push(`standby.dataDir ${standby.dataDir} on ${standby.host}: a PostgreSQL server is running in it`);
          else if (kind === 'non-empty' && !standby.overwrite) {
            problems.push(`standby.dataDir ${standby.dataDir} on ${standby.host} is not empty: cutover never overwrites it unless the plan sets standby.overwrite: true`);
          }
          if (lines.includes('unwritable')) problems.push(`standby.dataDir ${standby.dataDir} on ${standby.host} is not writable by ${standby.ssh.user}`);
          for (const l of lines.filter((x) => x.startsWith('cannot-write '))) {
            problems.push(`standby host ${standby.host}: ${standby.ssh.user} cannot write ${l.slice('cannot-write '.length)}`);
          }
          result.standbyFreeBytes = Number(lines.find((l) => l.startsWith('free '))?.slice(5)) || 0;

          // The real test of pg_hba.conf and the replication password: log in from the standby's host.
          if (replicationPassword !== null) {
            const info = conninfo({
              host: primary.address,
              port: primary.port,
              user: access.replication.user,
              dbname: 'replication',
              replication: 'true',
              connect_timeout: 5,
              application_name: 'cutover_preflight',
            });
            const r = await c.exec(`IFS= read -r PGPASSWORD; export PGPASSWORD; exec ${bin(access, 'psql')} -X -tA -c IDENTIFY_SYSTEM ${shq(info)}`, {
              allowFailure: true,
              stdin: `${replicationPassword}\n`,
            });
            if (r.code !== 0) {
              const why = r.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' ');
              problems.push(
                `replication login from standby host ${standby.host} as ${access.replication.user} to ${primary.address}:${primary.port} failed ` +
                  `(check pg_hba.conf and postgres.replication): ${why}`,
              );
            } else if (result.systemIdentifier && !r.stdout.startsWith(result.systemIdentifier)) {
              problems.push(`replication login from ${standby.host} reached a different cluster than the primary (system identifier ${r.stdout.split('|')[0]})`);
            }
          }
        })
        .catch((err) => problems.push(`standby host ${standby.host}: ${(err as Error).message}`));

      if (result.primarySizeBytes > 0 && result.standbyFreeBytes > 0 && result.standbyFreeBytes < result.primarySizeBytes) {
        problems.push(`standby host ${standby.host} has ${result.standbyFreeBytes} bytes free for ${standby.dataDir}; the primary holds ${result.primarySizeBytes}`);
      }

      // Nothing may already answer where the standby will listen.
      const listening = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: standby.address, port: standby.port, timeout: 1000 });
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
        s.once('timeout', () => (s.destroy(), resolve(false)));
      });
      if (listening) problems.push(`something already listens on ${standby.address}:${standby.port} (standby.address/port)`);

      try {
        result.dnsAddresses = await lookupA(input.dns);
        if (result.dnsAddresses.length === 0) problems.push(`traffic.dns: ${input.dns.name} has no A record at ${input.dns.server}:${input.dns.port}`);
        else if (!(result.dnsAddresses.length === 1 && result.dnsAddresses[0] === primary.address)) {
          problems.push(`traffic.dns: ${input.dns.name} resolves to ${result.dnsAddresses.join(', ')}, the primary is ${primary.address}`);
        }
      } catch (err) {
        problems.push(`traffic.dns: ${(err as Error).message}`);
      }

      if (problems.length > 0) throw preflightFailure(problems);
      return result;
    },

    /** A physical slot on the primary, reserving WAL from now on. Reused when it exists (a retried step). */
    async createSlot(input: { access: PgAccess; server: PgServer; slot: string }): Promise<{ created: boolean; restartLsn: string | null }> {
      return sql(input.access, input.server, `create slot on ${where(input.server)}`, async (q) => {
        const existing = await q.query<{ restart_lsn: string | null }>('select restart_lsn::text from pg_replication_slots where slot_name = $1', [input.slot]);
        if (existing.length) return { created: false, restartLsn: existing[0].restart_lsn };
        const r = await q.one<{ lsn: string }>('select (pg_create_physical_replication_slot($1, true)).lsn::text as lsn', [input.slot]);
        return { created: true, restartLsn: r.lsn };
      });
    },

    /** Drops a slot (on a primary or a standby). Idempotent; a slot still in use is retried. */
    async dropSlot(input: { access: PgAccess; server: PgServer; slot: string }): Promise<{ dropped: boolean }> {
      return sql(input.access, input.server, `drop slot on ${where(input.server)}`, async (q) => {
        for (let i = 0; ; i++) {
          const s = await q.query<{ active_pid: number | null }>('select active_pid from pg_replication_slots where slot_name = $1', [input.slot]);
          if (!s.length) return { dropped: false };
          if (s[0].active_pid === null) break;
          // A walsender lets go of its slot a moment after its standby stops.
          if (i >= 50) {
            throw ApplicationFailure.retryable(`slot ${input.slot} on ${where(input.server)} is still in use by pid ${s[0].active_pid}`, ErrorType.Transient);
          }
          await sleep(100);
        }
        await q.query('select pg_drop_replication_slot($1)', [input.slot]);
        return { dropped: true };
      });
    },

    /**
     * pg_basebackup on the standby's host, streaming WAL through the slot, then the standby configuration.
     * A retry first stops a previous attempt's pg_basebackup and removes its partial copy: that is safe
     * because the directory was absent or empty before cutover (preflight), or the plan allows overwriting.
     */
    async baseBackup(input: {
      migrationId: string;
      access: PgAccess;
      primary: PgNode;
      standby: PgNode;
      slot: string;
      applicationName: string;
      maxRateBytesPerSec: number;
      previousState: TargetState;
      overwrite: boolean;
      walRetrieveRetryIntervalMs: number;
    }): Promise<BaseBackupResult> {
      const { access, primary, standby } = input;
      const info = activityInfo();
      const started = Date.now();
      const dir = assertRemovable(standby.dataDir);
      const pidFile = shq(`${dir}.basebackup.pid`);
      const marker = `cutover ${input.migrationId}: standby of`;
      if (input.previousState === 'non-empty' && !input.overwrite) {
        throw ApplicationFailure.nonRetryable(`standby.dataDir ${dir} was not empty before the move and the plan does not allow overwriting it`, ErrorType.InvalidPlan);
      }
      return onHost(standby, `base backup on ${standby.host}`, async (c) => {
        // Stop a pg_basebackup left running by an earlier attempt, so two never write the same directory.
        await c.exec(stopSession(pidFile));
        const state = (
          await c.exec(
            `p=${shq(dir)}; if [ -f "$p/postmaster.pid" ] && kill -0 "$(head -1 "$p/postmaster.pid")" 2>/dev/null; then echo running; ` +
              `elif [ -f "$p/standby.signal" ] && [ -f "$p/backup_label" -o -f "$p/backup_manifest" ] && grep -qF ${shq(marker)} "$p/postgresql.auto.conf" 2>/dev/null; then echo done; ` +
              `elif [ -d "$p" ] && [ -n "$(ls -A "$p")" ]; then echo partial; else echo clean; fi`,
          )
        ).stdout.trim();
        if (state === 'running') {
          throw ApplicationFailure.nonRetryable(`a PostgreSQL server is running in ${dir} on ${standby.host}: refusing to touch it`, ErrorType.CommandFailed);
        }
        if (state === 'done') {
          const du = await c.exec(`du -sb ${shq(dir)} | cut -f1`);
          return { bytes: Number(du.stdout.trim()), durationMs: 0, rateBytesPerSec: 0, attempt: info.attempt, cleanedPartial: false, alreadyDone: true };
        }
        const cleanedPartial = state === 'partial';
        if (cleanedPartial) {
          log.info('removing a partial base backup before starting again', { dir, attempt: info.attempt });
          await c.exec(emptyDirectory(dir));
        }
        await writePassfile(c, access, standby, primary);

        const args = [
          `env -u PGPASSWORD PGPASSFILE=${shq(standby.passfile)}`,
          bin(access, 'pg_basebackup'),
          `-h ${shq(primary.address)} -p ${primary.port} -U ${shq(access.replication.user)}`,
          `-D ${shq(dir)} -X stream -S ${shq(input.slot)} -c fast -P -v -w`,
          input.maxRateBytesPerSec > 0 ? `-r ${Math.max(32, Math.floor(input.maxRateBytesPerSec / 1024))}k` : '',
        ].filter(Boolean);
        const command = runInOwnSession(pidFile, args.join(' '));
        let progress = { doneBytes: 0, totalBytes: 0, percent: 0 };
        let rate = 0;
        // `bytes`, `percent` and `rate` are what `cutover watch` draws its progress bar from.
        const beat = () => ({
          stage: 'copying',
          ...progress,
          bytes: progress.doneBytes,
          rateBytesPerSec: rate,
          rate: `${(rate / 1024 / 1024).toFixed(1)}MB/s`,
          attempt: info.attempt,
          cleanedPartial,
        });
        const stop = keepBeating(beat);
        try {
          await c.exec(command, {
            signal: cancellationSignal(),
            onStderr: (chunk) => {
              const p = parseBaseBackupProgress(chunk);
              if (p) {
                progress = p;
                rate = Math.round(p.doneBytes / Math.max(0.001, (Date.now() - started) / 1000));
                heartbeat(beat());
              }
            },
          });
        } catch (err) {
          // Cancelled or failed: make sure no pg_basebackup keeps writing after this attempt.
          await deps.withSsh(standby.ssh, (k) => k.exec(stopSession(pidFile))).catch(() => undefined);
          if (cancellationSignal().aborted) await cancelled(); // report the cancellation, not a failure to retry
          throw ApplicationFailure.retryable(`pg_basebackup into ${dir} on ${standby.host} failed: ${(err as Error).message}`, ErrorType.Transient);
        } finally {
          stop();
        }
        await configureAsStandby(c, { ...input, node: standby, upstream: primary }, {});
        const durationMs = Date.now() - started;
        const bytes = progress.totalBytes || Number((await c.exec(`du -sb ${shq(dir)} | cut -f1`)).stdout.trim());
        return { bytes, durationMs, rateBytesPerSec: Math.round(bytes / Math.max(0.001, durationMs / 1000)), attempt: info.attempt, cleanedPartial, alreadyDone: false };
      });
    },

    /** Compensation: remove what the base backup created (the plan allowed it), and the passfile. */
    async removeStandbyDataDir(input: { access: PgAccess; standby: PgNode; previousState: TargetState }): Promise<{ removed: string }> {
      const { access, standby } = input;
      const dir = assertRemovable(standby.dataDir);
      return onHost(standby, `remove ${dir}`, async (c) => {
        if (await isRunning(c, access, standby)) {
          await c.exec(`${bin(access, 'pg_ctl')} stop -D ${shq(dir)} -m fast -w -t 120`);
        }
        await c.exec(`${stopSession(shq(`${dir}.basebackup.pid`))}; rm -f ${shq(standby.passfile)} ${shq(standby.triggerFile)}`);
        const done = await restoreTarget(c, dir, input.previousState);
        const was = done === 'removed' ? 'cutover created it' : `it was ${input.previousState} before`;
        return { removed: `${dir} ${done} (${was}); passfile removed; log kept at ${standby.logFile}` };
      });
    },

    /** pg_ctl start -w; a running server is left alone. */
    async startPostgres(input: { access: PgAccess; server: PgNode }): Promise<{ alreadyRunning: boolean; startMs: number }> {
      const { access, server } = input;
      return onHost(server, `start ${where(server)}`, (c) => start(c, access, server));
    },

    /**
     * Compensation for a fence that failed or was cancelled before the promotion: until then the old primary's
     * data is the only truth, so it may take writes again. Starts it if the fence had stopped it (the workflow
     * then restores the read-only setting). Refuses if the standby is out of recovery: two primaries.
     */
    async restartFencedPrimary(input: { access: PgAccess; primary: PgNode; standby: PgServer }): Promise<{ alreadyRunning: boolean; startMs: number }> {
      const { access, primary, standby } = input;
      const standbyPromoted = await sql(access, standby, `standby ${where(standby)}`, async (q) => !(await q.one<{ r: boolean }>('select pg_is_in_recovery() as r')).r).catch(
        (err) => {
          // A standby that is down takes no writes; anything else is a question to answer before restarting.
          if (err instanceof ApplicationFailure && err.type === ErrorType.HostUnreachable && err.nonRetryable !== true) return false;
          throw err;
        },
      );
      if (standbyPromoted) {
        throw ApplicationFailure.nonRetryable(
          `${where(standby)} is out of recovery (promoted): not restarting the old primary ${where(primary)}, that would make two primaries`,
          ErrorType.VerificationFailed,
        );
      }
      return onHost(primary, `restart ${where(primary)}`, (c) => start(c, access, primary));
    },

    /** pg_ctl stop (fast: open sessions are ended, a shutdown checkpoint is written); a stopped server is left alone. */
    async stopPostgres(input: { access: PgAccess; server: PgNode }): Promise<{ wasRunning: boolean }> {
      const { access, server } = input;
      return onHost(server, `stop ${where(server)}`, async (c) => {
        if (!(await isRunning(c, access, server))) return { wasRunning: false };
        const stop = keepBeating(() => ({ stage: 'stopping' }));
        try {
          await c.exec(`${bin(access, 'pg_ctl')} stop -D ${shq(server.dataDir)} -m fast -w -t 120`);
        } finally {
          stop();
        }
        return { wasRunning: true };
      });
    },

    /** One look at the standby from the primary: pg_stat_replication and the slot. */
    async replicationStatus(input: { access: PgAccess; primary: PgServer; applicationName: string; slot: string }): Promise<ReplicationSample> {
      return sql(input.access, input.primary, 'replication status', (q) => sample(q, input.applicationName, input.slot));
    },

    /** Wait until the standby streams from the primary (pg_stat_replication.state = streaming). */
    async awaitStreaming(input: { access: PgAccess; primary: PgServer; standby: PgNode; applicationName: string; slot: string; timeoutMs: number }): Promise<ReplicationSample> {
      const deadline = Date.now() + input.timeoutMs;
      return sql(input.access, input.primary, 'confirm streaming', async (q) => {
        for (;;) {
          const s = await sample(q, input.applicationName, input.slot);
          heartbeat(s);
          // Streaming, and the standby has reported what it replayed (the lag figures need it).
          if (s.state === 'streaming' && s.replayLsn !== null) return s;
          if (Date.now() > deadline) {
            const tail = await standbyLogTail(input.standby);
            throw ApplicationFailure.nonRetryable(
              `standby ${input.applicationName} is not streaming from ${where(input.primary)} after ${Math.round(input.timeoutMs / 1000)} s ` +
                `(state ${s.state}); standby log: ${tail}`,
              ErrorType.CommandFailed,
            );
          }
          await sleep(250);
        }
      });
    },

    /**
     * Watch replay lag for up to `windowMs`: returns as soon as it has stayed under the threshold for
     * `stableForMs` (counting from `underSince`, carried over from the previous window), or when the window ends.
     */
    async watchCatchUp(input: {
      access: PgAccess;
      primary: PgServer;
      applicationName: string;
      slot: string;
      maxLagBytes: number;
      stableForMs: number;
      underSince: string | null;
      windowMs: number;
      pollMs: number;
    }): Promise<CatchUpWindowResult> {
      const end = Date.now() + input.windowMs;
      let underSince = input.underSince ? Date.parse(input.underSince) : null;
      let samples = 0;
      return sql(input.access, input.primary, 'catch-up', async (q) => {
        for (;;) {
          const s = await sample(q, input.applicationName, input.slot);
          samples++;
          const under = s.state === 'streaming' && s.lagBytes <= input.maxLagBytes;
          underSince = under ? (underSince ?? Date.now()) : null;
          heartbeat({ ...s, underSince });
          const caughtUp = underSince !== null && Date.now() - underSince >= input.stableForMs;
          if (caughtUp || Date.now() + input.pollMs > end) {
            return { caughtUp, sample: s, underSince: underSince === null ? null : new Date(underSince).toISOString(), samples };
          }
          await sleep(input.pollMs);
        }
      });
    },

    /** Current values of settings in postgresql.auto.conf (null: not set there), so an undo can restore them. */
    async readAutoConf(input: { access: PgAccess; server: PgServer; names: string[] }): Promise<Record<string, string | null>> {
      return sql(input.access, input.server, `read settings of ${where(input.server)}`, async (q) => {
        const rows = await q.query<{ name: string; setting: string | null }>(
          `select name, setting from pg_file_settings where sourcefile like '%/postgresql.auto.conf' and name = any($1) order by seqno`,
          [input.names],
        );
        const out: Record<string, string | null> = Object.fromEntries(input.names.map((n) => [n, null]));
        for (const r of rows) out[r.name] = r.setting;
        return out;
      });
    },

    /** ALTER SYSTEM SET (or RESET for null) and reload; waits until a session sees the new values. */
    async applySettings(input: { access: PgAccess; server: PgServer; settings: Record<string, string | null> }): Promise<{ applied: Record<string, string> }> {
      return sql(input.access, input.server, `settings on ${where(input.server)}`, async (q) => {
        for (const [name, value] of Object.entries(input.settings)) {
          await q.query(value === null ? `alter system reset ${settingName(name)}` : `alter system set ${settingName(name)} = ${sqlLiteral(value)}`);
        }
        await q.query('select pg_reload_conf()');
        const names = Object.keys(input.settings);
        for (let i = 0; ; i++) {
          const rows = await q.query<{ name: string; setting: string; pending: boolean }>(
            `select name, current_setting(name) as setting, pending_restart as pending from pg_settings where name = any($1)`,
            [names],
          );
          const applied = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
          const ok = Object.entries(input.settings).every(([n, v]) => v === null || applied[n] === v);
          if (ok || i >= 50) return { applied };
          await sleep(100);
        }
      });
    },

    /** Synchronous replication in effect: sync_state = sync and the standby has flushed everything up to now. */
    async confirmSync(input: { access: PgAccess; primary: PgServer; applicationName: string; slot: string; timeoutMs: number }): Promise<ReplicationSample & { waitedMs: number }> {
      const started = Date.now();
      return sql(input.access, input.primary, 'confirm synchronous replication', async (q) => {
        const target = (await q.one<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).lsn;
        for (;;) {
          const s = await sample(q, input.applicationName, input.slot);
          heartbeat(s);
          if (s.syncState === 'sync' && s.flushLsn && lsnAtLeast(s.flushLsn, target)) return { ...s, waitedMs: Date.now() - started };
          if (Date.now() - started > input.timeoutMs) {
            throw ApplicationFailure.nonRetryable(
              `standby ${input.applicationName} did not become synchronous within ${Math.round(input.timeoutMs / 1000)} s (sync_state ${s.syncState ?? 'none'}, state ${s.state})`,
              ErrorType.VerificationFailed,
            );
          }
          await sleep(100);
        }
      });
    },

    /**
     * Fence the old primary: read-only for new transactions, in-flight writers ended, wait until the standby
     * has flushed all its WAL, then a clean (fast) shutdown: the walsender ships the shutdown checkpoint, so
     * the standby ends exactly where the primary did, and the old primary can later rejoin without pg_rewind.
     * Confirms the standby's replay LSN equals the end of the primary's shutdown checkpoint record.
     * Idempotent: a stopped primary is only verified (a retry after a dead worker lands here).
     */
    async fencePrimary(input: { access: PgAccess; primary: PgNode; standby: PgNode; applicationName: string; slot: string; timeoutMs: number }): Promise<FenceResult> {
      const { access, primary, standby } = input;
      const previous = (activityInfo().heartbeatDetails ?? {}) as Partial<FenceResult>;
      let readOnlyAt: string | null = previous.readOnlyAt ?? null;
      let terminatedWriters = previous.terminatedWriters ?? 0;
      let stoppedAt: string | null = previous.stoppedAt ?? null;
      let stage = 'checking';
      const beat = () => heartbeat({ stage, readOnlyAt, terminatedWriters, stoppedAt });
      const timings = { readOnlyMs: 0, flushWaitMs: 0, stopMs: 0, verifyMs: 0 };
      let mark = Date.now();
      const lap = () => {
        const now = Date.now();
        const ms = now - mark;
        mark = now;
        return ms;
      };
      // Every session is opened before the old primary stops taking writes (one SSH session to its host, one
      // connection to the standby): a handshake inside the fence is time the database takes no writes.
      return sql(access, standby, `standby ${where(standby)} replay`, (sq) =>
        onHost(primary, `fence ${where(primary)}`, async (c) => {
          const running = await isRunning(c, access, primary);
          if (running) {
            await sql(access, primary, `fence ${where(primary)}`, async (q) => {
              // Write dirty buffers out while writes still flow, so the shutdown checkpoint inside the fence is short.
              await q.query('checkpoint');
              mark = Date.now();
              terminatedWriters += await goReadOnly(q, primary);
              readOnlyAt ??= new Date().toISOString();
              timings.readOnlyMs = lap();
              stage = 'read-only';
              beat();
              await awaitStandbyFlush(q, input, beat);
              timings.flushWaitMs = lap();
              stage = 'standby-has-all-wal';
              beat();
            });
            const stop = keepBeating(() => ({ stage: 'stopping', readOnlyAt, terminatedWriters, stoppedAt }));
            try {
              await stopCleanly(c, access, primary);
            } finally {
              stop();
            }
            stoppedAt = new Date().toISOString();
            timings.stopMs = lap();
            stage = 'stopped';
            beat();
          }
          const cd = await controlData(c, access, primary);
          if (cd.state !== 'shut down') {
            throw ApplicationFailure.nonRetryable(
              `old primary ${where(primary)} is stopped but not cleanly (pg_control state "${cd.state}"): its last WAL may not be on the standby; ` +
                'do not promote before checking, and rejoin it with pg_rewind',
              ErrorType.VerificationFailed,
            );
          }
          const finalLsn = await endOfCheckpoint(c, access, primary, cd);
          const standbyReplayLsn = await awaitReplayOf(sq, standby, finalLsn, input.timeoutMs, () => {
            stage = 'waiting-for-replay';
            beat();
          });
          timings.verifyMs = lap();
          return { readOnlyAt, terminatedWriters, stoppedAt, alreadyStopped: !running, finalLsn, standbyReplayLsn, timeline: cd.timeline, timings };
        }),
      );
    },

    /** Promote by the trigger file (or pg_promote) and wait until the server is out of recovery and takes a write. */
    async promoteStandby(input: { access: PgAccess; standby: PgNode; method: 'trigger-file' | 'pg_promote'; timeoutMs: number }): Promise<PromoteResult> {
      const { access, standby } = input;
      const where_ = `promote ${where(standby)}`;
      const status = async (q: PgSession) =>
        q.one<{ recovery: boolean; lsn: string | null; walfile: string | null }>(
          `select pg_is_in_recovery() as recovery,
                  case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as lsn,
                  case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end as walfile`,
        );
      return sql(access, standby, where_, async (q) => {
        const before = await status(q);
        if (!before.recovery) {
          return { alreadyPromoted: true, method: input.method, promoteMs: 0, writableAt: new Date().toISOString(), inRecoveryAt: null, timeline: parseInt(before.walfile!.slice(0, 8), 16), lsn: before.lsn! };
        }
        const trigger = async () => {
          if (input.method === 'pg_promote') {
            const t0 = Date.now();
            await q.query('select pg_promote(false)');
            return t0;
          }
          // The standby's own server writes the trigger file (COPY TO a server file, as the superuser): the
          // session is open already, so no SSH handshake sits inside the write outage. The server can always
          // write there, since it removes the file itself when it promotes.
          const t0 = Date.now();
          await q.query(`copy (select where false) to ${sqlLiteral(standby.triggerFile)}`);
          return t0;
        };
        const t0 = await trigger();
        let inRecoveryAt = t0;
        for (;;) {
          const sentAt = Date.now();
          const s = await status(q);
          if (!s.recovery) {
            // Out of recovery is not yet "takes writes": assigning a transaction id is.
            await q.query('select txid_current()');
            const promoteMs = Date.now() - t0;
            return {
              alreadyPromoted: false,
              method: input.method,
              promoteMs,
              writableAt: new Date().toISOString(),
              inRecoveryAt: new Date(inRecoveryAt).toISOString(),
              timeline: parseInt(s.walfile!.slice(0, 8), 16),
              lsn: s.lsn!,
            };
          }
          inRecoveryAt = sentAt;
          if (Date.now() - t0 > input.timeoutMs) {
            throw ApplicationFailure.nonRetryable(
              `${where(standby)} is still in recovery ${Math.round(input.timeoutMs / 1000)} s after ${input.method === 'pg_promote' ? 'pg_promote()' : `touching ${standby.triggerFile}`}`,
              ErrorType.CommandFailed,
            );
          }
          heartbeat({ stage: 'waiting-for-promotion', sinceMs: Date.now() - t0 });
          await sleep(10);
        }
      });
    },

    /** Is the server up, a primary, taking writes? For the soak and the reports; never throws for a down server. */
    async serverState(input: { access: PgAccess; server: PgServer }): Promise<ServerState> {
      const checkedAt = new Date().toISOString();
      try {
        return await deps.withPg(superuser(input.access, input.server, 'server'), async (q) => {
          const r = await q.one<{ recovery: boolean; ro: string; lsn: string }>(
            `select pg_is_in_recovery() as recovery, current_setting('default_transaction_read_only') as ro,
                    (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end)::text as lsn`,
          );
          return { checkedAt, reachable: true, inRecovery: r.recovery, acceptsWrites: !r.recovery && r.ro === 'off', lsn: r.lsn };
        });
      } catch (err) {
        if (err instanceof PgError && err.kind === 'unreachable') return { checkedAt, reachable: false, inRecovery: null, acceptsWrites: false, lsn: null, error: err.message };
        throw toFailure(err, `state of ${where(input.server)}`);
      }
    },

    /**
     * The reverse move's first step: the old primary (stopped cleanly by the fence) becomes a standby of the new
     * primary. Its last checkpoint is at or before the point where the new primary's timeline branched, so it
     * can follow the new timeline as it is; if not (it crashed, or wrote after the fence), pg_rewind first.
     * The settings the forward move changed (read-only fence, synchronous standby) are restored as they were.
     */
    async rejoinAsStandby(input: {
      migrationId: string;
      access: PgAccess;
      node: PgNode;
      upstream: PgNode;
      slot: string;
      applicationName: string;
      walRetrieveRetryIntervalMs: number;
      restore: Record<string, string | null>;
      /** Settings of the other server that pg_rewind would copy over and that must not stay. */
      foreignSettings: string[];
    }): Promise<RejoinResult> {
      const { access, node, upstream } = input;
      const history = await sql(access, upstream, `timeline of ${where(upstream)}`, async (q) => {
        const r = await q.one<{ walfile: string }>('select pg_walfile_name(pg_current_wal_lsn()) as walfile');
        const tli = parseInt(r.walfile.slice(0, 8), 16);
        if (tli === 1) return new Map<number, string>();
        const name = `${r.walfile.slice(0, 8)}.history`;
        const h = await q.one<{ text: string }>('select pg_read_file($1) as text', [`pg_wal/${name}`]);
        return parseTimelineHistory(h.text);
      });
      return onHost(node, `rejoin ${where(node)} as a standby of ${where(upstream)}`, async (c) => {
        if (await isRunning(c, access, node)) {
          const inRecovery = await sql(access, node, 'rejoin', async (q) => (await q.one<{ r: boolean }>('select pg_is_in_recovery() as r')).r);
          if (inRecovery) return { rewound: false, reason: 'already running as a standby', alreadyStandby: true };
          throw ApplicationFailure.nonRetryable(`${where(node)} is running as a primary: refusing to turn it into a standby`, ErrorType.CommandFailed);
        }
        const cd = await controlData(c, access, node);
        const branch = history.get(cd.timeline);
        let reason: string;
        let rewind: boolean;
        if (cd.state !== 'shut down') {
          rewind = true;
          reason = `it was not shut down cleanly (state "${cd.state}")`;
        } else if (!branch) {
          rewind = true;
          reason = `the new primary's history has no branch from timeline ${cd.timeline}`;
        } else {
          const end = await endOfCheckpoint(c, access, node, cd);
          rewind = !lsnAtLeast(branch, end);
          reason = rewind
            ? `its WAL goes on to ${end}, past the branch point ${branch}`
            : `clean shutdown at ${end}, the new timeline branched at ${branch}: no rewind needed`;
        }
        if (rewind) {
          log.warn('old primary diverged: running pg_rewind', { node: where(node), reason });
          // pg_rewind logs in as the superuser; its password goes through a temporary passfile, never a command line.
          const su = await readSecret(access.superuser.password, 'postgres.superuser').catch((err) => {
            throw toFailure(err, 'superuser password');
          });
          const tmp = `${node.passfile}.rewind`;
          await writeRemoteFile(c, tmp, passfileLine(upstream.address, upstream.port, access.superuser.user, su));
          const source = conninfo({ host: upstream.address, port: upstream.port, user: access.superuser.user, dbname: access.database, passfile: tmp });
          const stop = keepBeating(() => ({ stage: 'pg_rewind' }));
          try {
            await c.exec(`${CLEAN_ENV} ${bin(access, 'pg_rewind')} --target-pgdata=${shq(node.dataDir)} --source-server=${shq(source)} --progress`);
          } finally {
            stop();
            await c.exec(`rm -f ${shq(tmp)}`, { allowFailure: true });
          }
        }
        await writePassfile(c, access, node, upstream);
        // pg_rewind copies the source's config files: drop what belongs to the other server.
        const dropForeign = Object.fromEntries((rewind ? input.foreignSettings : []).map((n) => [n, null]));
        await configureAsStandby(c, { ...input, upstream }, { ...dropForeign, ...input.restore });
        return { rewound: rewind, reason, alreadyStandby: false };
      });
    },

    /**
     * Drop a slot left in a stopped server (the old primary after the move): single-user mode takes no
     * connections, so the server cannot take writes while it runs.
     */
    async dropSlotOffline(input: { access: PgAccess; server: PgNode; slot: string }): Promise<{ dropped: boolean; how: string }> {
      const { access, server } = input;
      if (!isSafeIdentifier(input.slot)) throw ApplicationFailure.nonRetryable(`not a slot name: ${input.slot}`, ErrorType.InvalidPlan);
      return onHost(server, `drop slot ${input.slot} on ${where(server)}`, async (c) => {
        if (await isRunning(c, access, server)) {
          throw ApplicationFailure.nonRetryable(`${where(server)} is running: drop slot ${input.slot} with SQL instead`, ErrorType.CommandFailed);
        }
        const present = await c.exec(`test -d ${shq(path.posix.join(server.dataDir, 'pg_replslot', input.slot))}`, { allowFailure: true });
        if (present.code !== 0) return { dropped: false, how: 'not present' };
        const r = await c.exec(`${CLEAN_ENV} ${bin(access, 'postgres')} --single -D ${shq(server.dataDir)} postgres`, {
          stdin: `select pg_drop_replication_slot('${input.slot}');\n`,
          allowFailure: true,
        });
        if (r.code !== 0 || /ERROR:/.test(r.stdout + r.stderr)) {
          throw ApplicationFailure.nonRetryable(`single-user drop of slot ${input.slot} on ${where(server)} failed: ${(r.stdout + r.stderr).trim().slice(-300)}`, ErrorType.CommandFailed);
        }
        return { dropped: true, how: 'single-user mode' };
      });
    },

    /** Remove the replication passfile of a server that is no longer a standby. */
    async removePassfile(input: { server: PgNode }): Promise<{ removed: string }> {
      await onHost(input.server, `remove passfile on ${input.server.host}`, (c) => c.exec(`rm -f ${shq(input.server.passfile)}`));
      return { removed: input.server.passfile };
    },
  };
}

