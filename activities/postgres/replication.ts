// Replication from the primary to the standby: the slot, samples of pg_stat_replication, the catch-up windows
// the workflow waits in, and the checks that the standby streams (and, when asked, is synchronous).
import path from 'node:path';
import { heartbeat, log, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { PgAccess, PgServer } from './types';
import type { PgSession } from '../clients/pg';
import { shq } from '../clients/ssh';
import { bin, CLEAN_ENV, where, type PgContext, type PgNode } from './context';
import { isSafeIdentifier, lsnAtLeast, lsnDiff, parseLsn } from './pg-tools';
import { isRunning } from './servers';

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

/** One window of the guard of a synchronous standby (guardSynchronousStandby). */
export interface GuardWindowResult {
  /** synchronous_standby_names was emptied: the standby had fallen away (or it was empty already). */
  relaxed: boolean;
  /** Why the standby counted as lost (when relaxed). */
  reason: string | null;
  relaxedAt: string | null;
  sample: ReplicationSample;
  /** Since when the standby has not streamed (carried into the next window). */
  lostSince: string | null;
  samples: number;
}

/** One look at the standby from the primary: pg_stat_replication and the slot. */
export async function sampleReplication(q: PgSession, applicationName: string, slot: string): Promise<ReplicationSample> {
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

/** The last lines of a server's log, for a failure's message (empty when the host cannot be reached). */
async function standbyLogTail(pg: PgContext, node: PgNode): Promise<string> {
  return pg.deps
    .withSsh(node.ssh, async (c) => (await c.exec(`tail -n 5 ${shq(node.logFile)}`, { allowFailure: true })).stdout.trim())
    .catch(() => '');
}

export function createReplicationActivities(pg: PgContext) {
  return {
    /** A physical slot on the primary, reserving WAL from now on. Reused when it exists (a retried step). */
    async createSlot(input: { access: PgAccess; server: PgServer; slot: string }): Promise<{ created: boolean; restartLsn: string | null }> {
      return pg.sql(input.access, input.server, `create slot on ${where(input.server)}`, async (q) => {
        const existing = await q.query<{ restart_lsn: string | null }>('select restart_lsn::text from pg_replication_slots where slot_name = $1', [input.slot]);
        if (existing.length) return { created: false, restartLsn: existing[0].restart_lsn };
        const r = await q.one<{ lsn: string }>('select (pg_create_physical_replication_slot($1, true)).lsn::text as lsn', [input.slot]);
        return { created: true, restartLsn: r.lsn };
      });
    },

    /** Drops a slot (on a primary or a standby). Idempotent; a slot still in use is retried. */
    async dropSlot(input: { access: PgAccess; server: PgServer; slot: string }): Promise<{ dropped: boolean }> {
      return pg.sql(input.access, input.server, `drop slot on ${where(input.server)}`, async (q) => {
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

    /** One look at the standby from the primary: pg_stat_replication and the slot. */
    async replicationStatus(input: { access: PgAccess; primary: PgServer; applicationName: string; slot: string }): Promise<ReplicationSample> {
      return pg.sql(input.access, input.primary, 'replication status', (q) => sampleReplication(q, input.applicationName, input.slot));
    },

    /** Wait until the standby streams from the primary (pg_stat_replication.state = streaming). */
    async awaitStreaming(input: { access: PgAccess; primary: PgServer; standby: PgNode; applicationName: string; slot: string; timeoutMs: number }): Promise<ReplicationSample> {
      const deadline = Date.now() + input.timeoutMs;
      return pg.sql(input.access, input.primary, 'confirm streaming', async (q) => {
        for (;;) {
          const s = await sampleReplication(q, input.applicationName, input.slot);
          heartbeat(s);
          // Streaming, and the standby has reported what it replayed (the lag figures need it).
          if (s.state === 'streaming' && s.replayLsn !== null) return s;
          if (Date.now() > deadline) {
            const tail = await standbyLogTail(pg, input.standby);
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
      return pg.sql(input.access, input.primary, 'catch-up', async (q) => {
        for (;;) {
          const s = await sampleReplication(q, input.applicationName, input.slot);
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

    /** Synchronous replication in effect: sync_state = sync and the standby has flushed everything up to now. */
    async confirmSync(input: { access: PgAccess; primary: PgServer; applicationName: string; slot: string; timeoutMs: number }): Promise<ReplicationSample & { waitedMs: number }> {
      const started = Date.now();
      return pg.sql(input.access, input.primary, 'confirm synchronous replication', async (q) => {
        const target = (await q.one<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).lsn;
        for (;;) {
          const s = await sampleReplication(q, input.applicationName, input.slot);
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
     * Keep a synchronous standby from blocking writes once it falls away (what Patroni's `synchronous_mode` does,
     * and `synchronous_mode_strict` does not): for up to `windowMs`, look every `pollMs`; once the standby has
     * not streamed for `lostAfterMs`, or a commit has waited for it that long (a partition can leave the
     * connection up for wal_sender_timeout), set synchronous_standby_names to '' and reload. Commits waiting
     * then return, later ones no longer wait. `synchronous_standby_names = 'ANY 1 (...)'` would not help: with
     * one standby listed, it waits for that one all the same. Its own session commits locally, so the guard
     * never waits on what it watches.
     */
    async guardSynchronousStandby(input: {
      access: PgAccess;
      primary: PgServer;
      applicationName: string;
      slot: string;
      lostAfterMs: number;
      lostSince: string | null;
      windowMs: number;
      pollMs: number;
    }): Promise<GuardWindowResult> {
      const end = Date.now() + input.windowMs;
      let lostSince = input.lostSince ? Date.parse(input.lostSince) : null;
      let samples = 0;
      return pg.sql(input.access, input.primary, `guard of synchronous standby ${input.applicationName}`, async (q) => {
        await q.query('set synchronous_commit = local');
        for (;;) {
          const s = await sampleReplication(q, input.applicationName, input.slot);
          const w = await q.one<{ waited_ms: number | null; names: string }>(
            `select (select max(extract(epoch from clock_timestamp() - query_start) * 1000) from pg_stat_activity
                      where wait_event = 'SyncRep')::float8 as waited_ms,
                    current_setting('synchronous_standby_names') as names`,
          );
          samples++;
          const now = Date.now();
          lostSince = s.state === 'streaming' ? null : (lostSince ?? now);
          const lostForMs = lostSince === null ? 0 : now - lostSince;
          const waitedMs = Math.round(w.waited_ms ?? 0);
          heartbeat({ ...s, lostForMs, commitWaitingMs: waitedMs });
          const done = (relaxed: boolean, reason: string | null) => ({
            relaxed,
            reason,
            relaxedAt: relaxed ? new Date().toISOString() : null,
            sample: s,
            lostSince: lostSince === null ? null : new Date(lostSince).toISOString(),
            samples,
          });
          if (w.names === '') return done(true, 'synchronous_standby_names was already empty');
          if (lostForMs >= input.lostAfterMs || waitedMs >= input.lostAfterMs) {
            const reason =
              lostForMs >= input.lostAfterMs
                ? `${input.applicationName} has not streamed for ${lostForMs} ms (state ${s.state})`
                : `a commit on ${where(input.primary)} waited ${waitedMs} ms for ${input.applicationName}`;
            await q.query("alter system set synchronous_standby_names = ''");
            await q.query('select pg_reload_conf()');
            // This session sees the reload as the other backends do: once it does, waiting commits have returned.
            for (let i = 0; i < 100 && (await q.one<{ v: string }>("select current_setting('synchronous_standby_names') as v")).v !== ''; i++) await sleep(10);
            log.warn('synchronous standby lost: synchronous_standby_names emptied so writes go on', { primary: where(input.primary), reason });
            return done(true, reason);
          }
          if (Date.now() + input.pollMs > end) return done(false, null);
          await sleep(input.pollMs);
        }
      });
    },

    /**
     * Drop a slot left in a stopped server (the old primary after the move): single-user mode takes no
     * connections, so the server cannot take writes while it runs.
     */
    async dropSlotOffline(input: { access: PgAccess; server: PgNode; slot: string }): Promise<{ dropped: boolean; how: string }> {
      const { access, server } = input;
      if (!isSafeIdentifier(input.slot)) throw ApplicationFailure.nonRetryable(`not a slot name: ${input.slot}`, ErrorType.InvalidPlan);
      return pg.onHost(server, `drop slot ${input.slot} on ${where(server)}`, async (c) => {
        if (await isRunning(c, access, server)) {
          throw ApplicationFailure.nonRetryable(`${where(server)} is running: drop slot ${input.slot} with SQL instead`, ErrorType.CommandFailed);
        }
        const present = await c.exec(`test -d ${shq(path.posix.join(server.dataDir, 'pg_replslot', input.slot))}`, { allowFailure: true });
        if (present.code !== 0) return { dropped: false, how: 'not present' };
        // Single-user mode refuses a standby's data directory (and without standby.signal it would end recovery).
        const standby = await c.exec(`test -f ${shq(path.posix.join(server.dataDir, 'standby.signal'))}`, { allowFailure: true });
        if (standby.code === 0) {
          throw ApplicationFailure.nonRetryable(`${where(server)} is a stopped standby: start it and drop slot ${input.slot} with SQL (pg_drop_replication_slot)`, ErrorType.CommandFailed);
        }
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
  };
}
