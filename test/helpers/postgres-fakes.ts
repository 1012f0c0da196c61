// Fake activities and inputs for postgres-failover workflow tests (real dev server, no PostgreSQL): typed
// against Activities, recording what ran and on which server.
import { ApplicationFailure } from '@temporalio/common';
import { activityInfo, heartbeat, sleep as activitySleep } from '@temporalio/activity';
import type { Activities } from '../../activities';
import type { ReplicationSample } from '../../activities/postgres';
import type { PgServer, PostgresFailoverInput } from '../../workflows/postgres-failover';
import { ErrorType } from '../../workflows/shared';
import { people, signedApproval } from './signing';
import { fakeHost } from './workflows';

export const server = (h: string, address: string, dataDir: string): PgServer => ({
  host: h,
  address,
  port: 5432,
  dataDir,
  logFile: `${dataDir}.log`,
  passfile: `${dataDir}.pgpass`,
  triggerFile: `${dataDir}.promote`,
  settings: {},
});

export function input(overrides: Partial<PostgresFailoverInput> = {}): PostgresFailoverInput {
  return {
    name: 'orders',
    startedBy: 'alice',
    hosts: { dc1: fakeHost('dc1', '127.0.1.1'), dc2: fakeHost('dc2', '127.0.2.1') },
    access: {
      binDir: '/usr/lib/postgresql/15/bin',
      database: 'app',
      superuser: { user: 'postgres', password: { secret: 'pg-superuser' } },
      replication: { user: 'replicator', password: { secret: 'pg-replication' } },
    },
    primary: server('dc1', '127.0.1.1', '/srv/dc1/pg'),
    standby: { ...server('dc2', '127.0.2.1', '/srv/dc2/pg'), overwrite: false, removeOnRollback: true },
    slotName: 'cutover_orders',
    applicationName: 'cutover_orders',
    baseBackupMaxRate: 0,
    catchUp: { maxLagBytes: 1024 * 1024, stableForMs: 100, timeoutMs: 60_000, onTimeout: 'rollback', windowMs: 1000 },
    synchronousCommit: 'on',
    promote: 'trigger-file',
    walRetrieveRetryIntervalMs: 100,
    soakMs: 50,
    approval: signedApproval([people().alice, people().bob]),
    gates: { cutover: { onTimeout: 'wait' }, complete: { onTimeout: 'wait' } },
    traffic: { dns: { server: '127.0.3.1', port: 5053, zone: 'z', tsigKey: { secret: 'tsig' }, name: 'orders.z', ttl: 1 } },
    ...overrides,
  };
}

export const sample = (lagBytes: number, syncState = 'async'): ReplicationSample => ({
  checkedAt: new Date().toISOString(),
  primaryLsn: '0/5000000',
  state: 'streaming',
  syncState,
  sentLsn: '0/5000000',
  flushLsn: '0/5000000',
  replayLsn: '0/5000000',
  lagBytes,
  replayLagMs: lagBytes ? 1500 : 0,
  slot: { active: true, restartLsn: '0/4000000', walStatus: 'reserved' },
});

export interface FakeOptions {
  lagNeverCatchesUp?: boolean;
  /** Catch-up on `host`'s primary: behind for this many windows, then caught up (Infinity: never). */
  behindWindows?: { host: 'dc1' | 'dc2'; windows: number };
  failConfirmSync?: boolean;
  failFirstBackup?: boolean;
  slowSoak?: boolean;
  failFence?: 'dc1' | 'dc2';
  /** The first `times` calls of `activity` fail (non-retryable, so each is one failed step). */
  failFirst?: { activity: 'dropSlotOffline' | 'serverState' | 'promoteStandby' | 'switchDns' | 'rejoinAsStandby'; times: number };
  /** The guard of a synchronous reverse standby finds it lost after this many ms (absent: never). */
  reverseStandbyLostAfterMs?: number;
  /** What the old primary looks like from the new one when the way back checks it (default: streaming, 0 behind). */
  reverseStandby?: { state: string; lagBytes: number };
}

/** Fake activities recording what ran, with the server each call acted on. */
export function fakes(opts: FakeOptions = {}) {
  const calls: string[] = [];
  /** How often each activity was called (replicationStatus is not in `calls`: gates read it in the background). */
  const counts: Record<string, number> = {};
  const count = (name: string) => (counts[name] = (counts[name] ?? 0) + 1);
  const failing = (name: NonNullable<FakeOptions['failFirst']>['activity']) => {
    const n = count(name);
    if (opts.failFirst?.activity === name && n <= opts.failFirst.times) {
      throw ApplicationFailure.nonRetryable(`${name} failed (call ${n} of ${opts.failFirst.times} planned failures)`, ErrorType.CommandFailed);
    }
  };
  const on = (s: { host: string }) => s.host;
  const activities: Partial<Activities> = {
    async preflightPostgres() {
      calls.push('preflight');
      return {
        primaryVersion: '15.18', standbyBinVersion: 'postgres (PostgreSQL) 15.18', walLevel: 'replica', maxWalSenders: 10, walSendersInUse: 0,
        maxReplicationSlots: 10, slotsInUse: 0, primarySizeBytes: 50e6, standbyFreeBytes: 1e10, targetState: 'absent', primaryLsn: '0/3000000',
        systemIdentifier: '7', rewindable: true, dnsAddresses: ['127.0.1.1'],
      };
    },
    async createSlot({ server: s, slot }) {
      calls.push(`createSlot:${on(s)}:${slot}`);
      return { created: true, restartLsn: '0/3000000' };
    },
    async dropSlot({ server: s, slot }) {
      calls.push(`dropSlot:${on(s)}:${slot}`);
      return { dropped: true };
    },
    async baseBackup() {
      calls.push('baseBackup');
      const attempt = activityInfo().attempt;
      if (opts.failFirstBackup && attempt === 1) throw ApplicationFailure.retryable('pg_basebackup: could not read COPY data: server closed the connection', ErrorType.Transient);
      return { bytes: 36e6, durationMs: 1400, rateBytesPerSec: 25e6, attempt, cleanedPartial: attempt > 1, alreadyDone: false };
    },
    async removeStandbyDataDir({ standby }) {
      calls.push(`removeStandbyDataDir:${on(standby)}`);
      return { removed: `${standby.dataDir} removed` };
    },
    async startPostgres({ server: s }) {
      calls.push(`start:${on(s)}`);
      return { alreadyRunning: false, startMs: 300 };
    },
    async stopPostgres({ server: s }) {
      calls.push(`stop:${on(s)}`);
      return { wasRunning: true };
    },
    async awaitStreaming({ primary }) {
      calls.push(`awaitStreaming:${on(primary)}`);
      return sample(4096);
    },
    async watchCatchUp({ primary }) {
      calls.push(`watchCatchUp:${on(primary)}`);
      const n = count(`watchCatchUp:${on(primary)}`);
      if (opts.behindWindows?.host === on(primary) && n <= opts.behindWindows.windows) {
        await activitySleep(5);
        return { caughtUp: false, sample: sample(50e6 + n), underSince: null, samples: 3 };
      }
      if (opts.lagNeverCatchesUp) {
        await activitySleep(100);
        return { caughtUp: false, sample: sample(50e6), underSince: null, samples: 3 };
      }
      return { caughtUp: true, sample: sample(0), underSince: new Date().toISOString(), samples: 3 };
    },
    async replicationStatus({ primary, applicationName }) {
      // Each read differs (lag in bytes = the read's number), so a test can tell which one a decision saw.
      if (!applicationName.endsWith('_reverse')) return sample(count('replicationStatus') - 1);
      // The old primary as the new one sees it (the complete gate's evidence and the way back's check).
      count(`replicationStatus:${on(primary)}:reverse`);
      return { ...sample(opts.reverseStandby?.lagBytes ?? 0, 'async'), state: opts.reverseStandby?.state ?? 'streaming' };
    },
    async guardSynchronousStandby({ primary, applicationName }) {
      calls.push(`guard:${on(primary)}`);
      const lostSince = new Date().toISOString();
      if (opts.reverseStandbyLostAfterMs !== undefined) {
        await activitySleep(opts.reverseStandbyLostAfterMs);
        const reason = `${applicationName} has not streamed for 3000 ms (state absent)`;
        return { relaxed: true, reason, relaxedAt: new Date().toISOString(), sample: { ...sample(9000), state: 'absent' }, lostSince, samples: 20 };
      }
      // Stands guard until the workflow cancels it.
      for (;;) {
        heartbeat();
        await activitySleep(200);
      }
    },
    async readAutoConf({ server: s }) {
      calls.push(`readAutoConf:${on(s)}`);
      return { synchronous_standby_names: null, synchronous_commit: null, default_transaction_read_only: null };
    },
    async applySettings({ server: s, settings }): Promise<{ applied: Record<string, string> }> {
      if ('default_transaction_read_only' in settings) {
        calls.push(`applySettings:${on(s)}:read-only ${settings.default_transaction_read_only ?? 'reset'}`);
        return { applied: { default_transaction_read_only: settings.default_transaction_read_only ?? 'off' } };
      }
      calls.push(`applySettings:${on(s)}:${settings.synchronous_standby_names ?? 'reset'}`);
      return { applied: { synchronous_standby_names: settings.synchronous_standby_names ?? '', synchronous_commit: settings.synchronous_commit ?? 'on' } };
    },
    async confirmSync({ primary }) {
      calls.push(`confirmSync:${on(primary)}`);
      if (opts.failConfirmSync) throw ApplicationFailure.nonRetryable('standby did not become synchronous within 60 s', ErrorType.VerificationFailed);
      return { ...sample(0, 'sync'), waitedMs: 12 };
    },
    async fencePrimary({ primary }) {
      calls.push(`fence:${on(primary)}`);
      if (opts.failFence === on(primary)) {
        throw ApplicationFailure.nonRetryable('standby has not flushed up to 0/5000098 within 15 s of the old primary going read-only', ErrorType.VerificationFailed);
      }
      return {
        readOnlyAt: new Date().toISOString(), terminatedWriters: 0, stoppedAt: new Date().toISOString(), alreadyStopped: false, timings: { readOnlyMs: 5, flushWaitMs: 2, stopMs: 60, verifyMs: 3 },
        finalLsn: '0/5000098', standbyReplayLsn: '0/5000098', timeline: 1,
      };
    },
    async restartFencedPrimary({ primary }) {
      calls.push(`restartFencedPrimary:${on(primary)}`);
      return { alreadyRunning: true, startMs: 0 };
    },
    async promoteStandby({ standby, method }) {
      calls.push(`promote:${on(standby)}:${method}`);
      failing('promoteStandby');
      return { alreadyPromoted: false, method, promoteMs: 120, writableAt: new Date().toISOString(), inRecoveryAt: new Date().toISOString(), timeline: 2, lsn: '0/50000D0' };
    },
    async switchDns({ to }) {
      calls.push(`dns:${to}`);
      failing('switchDns');
      return { previous: [], changed: true, confirmedMs: 3 };
    },
    async lookupDns() {
      return { addresses: ['127.0.2.1'] };
    },
    async serverState() {
      if (opts.slowSoak) calls.push('serverState');
      failing('serverState');
      return { checkedAt: new Date().toISOString(), reachable: true, inRecovery: false, acceptsWrites: true, lsn: '0/5000100' };
    },
    async rejoinAsStandby({ node, upstream }) {
      calls.push(`rejoin:${on(node)}->${on(upstream)}`);
      failing('rejoinAsStandby');
      return { rewound: false, reason: 'clean shutdown at 0/5000098, the new timeline branched at 0/5000098: no rewind needed', alreadyStandby: false };
    },
    async dropSlotOffline({ server: s, slot }) {
      calls.push(`dropSlotOffline:${on(s)}:${slot}`);
      failing('dropSlotOffline');
      return { dropped: true, how: 'single-user mode' };
    },
    async removePassfile({ server: s }) {
      calls.push(`removePassfile:${on(s)}`);
      return { removed: s.passfile };
    },
  };
  return { calls, counts, activities };
}


/** Right after the promotion: the old primary rejoins as a standby of the new one and streams (asynchronously). */
export const REVERSE_REPLICATION_CALLS = [
  'createSlot:dc2:cutover_orders_reverse', 'rejoin:dc1->dc2', 'start:dc1', 'awaitStreaming:dc2', 'dropSlot:dc1:cutover_orders',
];

/** `complete` go after a soak with reverse replication: the old side retired. */
export const RETIRE_CALLS = [
  'stop:dc1', 'dropSlot:dc2:cutover_orders_reverse', 'dropSlotOffline:dc1:cutover_orders', 'removePassfile:dc1', 'removePassfile:dc2',
];

export const FORWARD_CALLS = [
  'preflight', 'createSlot:dc1:cutover_orders', 'baseBackup', 'start:dc2', 'awaitStreaming:dc1', 'watchCatchUp:dc1',
  'readAutoConf:dc1', 'applySettings:dc1:FIRST 1 ("cutover_orders")', 'confirmSync:dc1',
  'fence:dc1', 'promote:dc2:trigger-file', 'dns:127.0.2.1',
];

/** The promotion and the DNS switch run side by side: their order between themselves is not fixed. */
export function sideBySide(calls: string[]): string[] {
  const out = [...calls];
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i].startsWith('dns:') && out[i + 1].startsWith('promote:')) [out[i], out[i + 1]] = [out[i + 1], out[i]];
  }
  return out;
}

