// The fence: the old primary stops taking writes, the standby receives all it wrote, the old primary stops
// cleanly, and the standby is seen to have replayed up to its very last WAL byte. And its undo.
import path from 'node:path';
import { activityInfo, heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { PgAccess, PgServer } from './types';
import type { PgSession } from '../clients/pg';
import { shq, type SshConnection } from '../clients/ssh';
import { keepBeating } from '../remote';
import { bin, where, type PgContext, type PgNode } from './context';
import { lsnAtLeast } from './pg-tools';
import { sampleReplication } from './replication';
import { controlData, endOfCheckpoint, isRunning, start } from './servers';

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
    const s = await sampleReplication(q, input.applicationName, input.slot);
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

export function createFenceActivities(pg: PgContext) {
  return {
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
      return pg.sql(access, standby, `standby ${where(standby)} replay`, (sq) =>
        pg.onHost(primary, `fence ${where(primary)}`, async (c) => {
          const running = await isRunning(c, access, primary);
          if (running) {
            await pg.sql(access, primary, `fence ${where(primary)}`, async (q) => {
              // Write dirty buffers out while writes still flow, so the shutdown checkpoint inside the fence is short.
              // On a busy server it takes long: heartbeat meanwhile (a cancel reaches it through pg's cancel).
              stage = 'checkpoint';
              const stopCheckpointBeats = keepBeating(() => ({ stage, readOnlyAt, terminatedWriters, stoppedAt }));
              try {
                await q.query('checkpoint');
              } finally {
                stopCheckpointBeats();
              }
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

    /**
     * Compensation for a fence that failed or was cancelled before the promotion: until then the old primary's
     * data is the only truth, so it may take writes again. Starts it if the fence had stopped it (the workflow
     * then restores the read-only setting). Refuses if the standby is out of recovery: two primaries.
     */
    async restartFencedPrimary(input: { access: PgAccess; primary: PgNode; standby: PgServer }): Promise<{ alreadyRunning: boolean; startMs: number }> {
      const { access, primary, standby } = input;
      const standbyPromoted = await pg.sql(access, standby, `standby ${where(standby)}`, async (q) => !(await q.one<{ r: boolean }>('select pg_is_in_recovery() as r')).r).catch(
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
      return pg.onHost(primary, `restart ${where(primary)}`, (c) => start(c, access, primary));
    },
  };
}
