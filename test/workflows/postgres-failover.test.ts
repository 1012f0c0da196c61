// The postgres-failover workflow against the real Temporal dev server, with typed fake activities: phase order,
// the compensation order on a no-go, the reverse move after the point of no return, the catch-up timeout that
// never offers the gate, a base backup retried after a failure, and a replay of a stored history.
import { type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { activityInfo, sleep as activitySleep } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { ReplicationSample } from '../../activities/postgres';
import { postgresFailover } from '../../workflows';
import type { PgServer, PostgresFailoverInput } from '../../workflows/postgres-failover';
import {
  abortSignal,
  decideUpdate,
  ErrorType,
  statusQuery,
  type MigrationStatus,
} from '../../workflows/shared';
import { historyText, recordHistory } from '../helpers/history';
import { atGate, failureOf, fakeHost } from '../helpers/workflows';
import { eventually, temporalTestEnv, uniqueQueue, withWorker, type TemporalTestEnv } from '../helpers/temporal';

let env: TemporalTestEnv;
beforeAll(async () => {
  env = await temporalTestEnv();
});
afterAll(async () => {
  await env?.close();
});

const server = (h: string, address: string, dataDir: string): PgServer => ({
  host: h,
  address,
  port: 5432,
  dataDir,
  logFile: `${dataDir}.log`,
  passfile: `${dataDir}.pgpass`,
  triggerFile: `${dataDir}.promote`,
  settings: {},
});

function input(overrides: Partial<PostgresFailoverInput> = {}): PostgresFailoverInput {
  return {
    name: 'orders',
    startedBy: 'alice',
    hosts: { dc1: fakeHost('dc1', '127.0.1.1'), dc2: fakeHost('dc2', '127.0.2.1') },
    access: {
      binDir: '/usr/lib/postgresql/15/bin',
      database: 'app',
      superuser: { user: 'postgres', password: { file: '/secrets/pg-superuser' } },
      replication: { user: 'replicator', password: { env: 'REPLICATION_PASSWORD' } },
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
    approval: { approvers: ['alice', 'bob'], requireSecondPerson: true },
    gates: { cutover: { onTimeout: 'wait' }, complete: { onTimeout: 'wait' } },
    traffic: { dns: { server: '127.0.3.1', port: 5053, zone: 'z', tsigKeyFile: '/k', name: 'orders.z', ttl: 1 } },
    ...overrides,
  };
}

const sample = (lagBytes: number, syncState = 'async'): ReplicationSample => ({
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

/** Fake activities recording what ran, with the server each call acted on. */
function fakes(opts: { lagNeverCatchesUp?: boolean; failConfirmSync?: boolean; failFirstBackup?: boolean; slowSoak?: boolean; failFence?: 'dc1' | 'dc2' } = {}) {
  const calls: string[] = [];
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
      if (opts.lagNeverCatchesUp) {
        await activitySleep(100);
        return { caughtUp: false, sample: sample(50e6), underSince: null, samples: 3 };
      }
      return { caughtUp: true, sample: sample(0), underSince: new Date().toISOString(), samples: 3 };
    },
    async replicationStatus() {
      return sample(0);
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
      return { alreadyPromoted: false, method, promoteMs: 120, writableAt: new Date().toISOString(), inRecoveryAt: new Date().toISOString(), timeline: 2, lsn: '0/50000D0' };
    },
    async switchDns({ to }) {
      calls.push(`dns:${to}`);
      return { previous: [], changed: true, confirmedMs: 3 };
    },
    async lookupDns() {
      return { addresses: ['127.0.2.1'] };
    },
    async serverState() {
      if (opts.slowSoak) calls.push('serverState');
      return { checkedAt: new Date().toISOString(), reachable: true, inRecovery: false, acceptsWrites: true, lsn: '0/5000100' };
    },
    async rejoinAsStandby({ node, upstream }) {
      calls.push(`rejoin:${on(node)}->${on(upstream)}`);
      return { rewound: false, reason: 'clean shutdown at 0/5000098, the new timeline branched at 0/5000098: no rewind needed', alreadyStandby: false };
    },
    async dropSlotOffline({ server: s, slot }) {
      calls.push(`dropSlotOffline:${on(s)}:${slot}`);
      return { dropped: true, how: 'single-user mode' };
    },
    async removePassfile({ server: s }) {
      calls.push(`removePassfile:${on(s)}`);
      return { removed: s.passfile };
    },
  };
  return { calls, activities };
}

async function start(queue: string, args: PostgresFailoverInput): Promise<WorkflowHandle<typeof postgresFailover>> {
  return env.client.workflow.start(postgresFailover, { taskQueue: queue, workflowId: uniqueQueue('pgwf'), args: [args] });
}

const go = (h: WorkflowHandle, gate: string) => h.executeUpdate(decideUpdate, { args: [{ gate, decision: 'go', by: 'bob', reason: 'fine' }] });
const noGo = (h: WorkflowHandle, gate: string, reason: string) => h.executeUpdate(decideUpdate, { args: [{ gate, decision: 'no-go', by: 'bob', reason }] });

/** Go at `cutover`, no-go at `complete` (the reverse move runs); the run's failure. */
async function reversedAtComplete(h: WorkflowHandle): Promise<ApplicationFailure> {
  await atGate(h, 'cutover');
  await go(h, 'cutover');
  await atGate(h, 'complete');
  await noGo(h, 'complete', 'p99 latency doubled');
  return failureOf(h);
}

const FORWARD_CALLS = [
  'preflight', 'createSlot:dc1:cutover_orders', 'baseBackup', 'start:dc2', 'awaitStreaming:dc1', 'watchCatchUp:dc1',
  'readAutoConf:dc1', 'applySettings:dc1:FIRST 1 ("cutover_orders")', 'confirmSync:dc1',
  'fence:dc1', 'promote:dc2:trigger-file', 'dns:127.0.2.1',
];

/** The promotion and the DNS switch run side by side: their order between themselves is not fixed. */
function sideBySide(calls: string[]): string[] {
  const out = [...calls];
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i].startsWith('dns:') && out[i + 1].startsWith('promote:')) [out[i], out[i + 1]] = [out[i + 1], out[i]];
  }
  return out;
}

describe('postgres-failover workflow', () => {
  it('runs the phases in order, shows lag and slot at the cutover gate, and retires the old slot on go', async () => {
    const q = uniqueQueue('pg-happy');
    const { calls, activities } = fakes();
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const atCutover = await atGate(h, 'cutover');
      expect(atCutover.gate!.evidence).toMatchObject({ lagBytes: 0, replicationState: 'streaming', syncState: 'async', thresholdBytes: 1024 * 1024 });
      expect(String(atCutover.gate!.evidence.slot)).toMatch(/cutover_orders active/);
      expect(atCutover.gate!.evidence.lastCheckAt).toBeTruthy();
      expect(atCutover.pointOfNoReturn.passedAt).toBeNull();
      await go(h, 'cutover');
      const atComplete = await atGate(h, 'complete');
      expect(atComplete.pointOfNoReturn.passedAt).not.toBeNull();
      expect(atComplete.figures.primary).toBe('dc2 (127.0.2.1:5432)');
      expect(atComplete.gate!.evidence).toMatchObject({ acceptsWrites: true, dns: 'orders.z → 127.0.2.1' });
      await go(h, 'complete');
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.compensations).toEqual([]);
      expect(result.steps.map((s) => s.name)).toEqual([
        'preflight', 'create-slot', 'base-backup', 'start-standby', 'confirm-streaming', 'catch-up', 'synchronous-commit',
        'fence', 'promote', 'switch-traffic', 'soak', 'retire-old-primary',
      ]);
      expect(result.figures).toMatchObject({ promoteMs: 120, finalLsn: '0/5000098', standbyReplayLsn: '0/5000098', syncState: 'sync' });
      return h.workflowId;
    });
    expect(sideBySide(calls)).toEqual([...FORWARD_CALLS, 'dropSlotOffline:dc1:cutover_orders', 'removePassfile:dc2']);
    recordHistory('postgres-failover-completed', id);
  });

  it('a no-go at the cutover gate undoes in reverse order and never touches the old primary', async () => {
    const q = uniqueQueue('pg-nogo');
    const { calls, activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await noGo(h, 'cutover', 'batch job running');
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toMatch(/no-go at gate "cutover" by bob: batch job running/);
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([
        ['start-standby', 'done'],
        ['base-backup', 'done'],
        ['create-slot', 'done'],
      ]);
      expect(status.figures.primary).toBe('dc1 (127.0.1.1:5432)');
    });
    expect(calls.slice(calls.indexOf('watchCatchUp:dc1') + 1)).toEqual(['stop:dc2', 'removeStandbyDataDir:dc2', 'dropSlot:dc1:cutover_orders']);
    expect(calls.some((c) => /^(fence|promote|applySettings|dns)/.test(c))).toBe(false);
  });

  it('a failure after synchronous commit restores the settings first, then the rest in reverse', async () => {
    const q = uniqueQueue('pg-sync');
    const { calls, activities } = fakes({ failConfirmSync: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await go(h, 'cutover');
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toMatch(/did not become synchronous/);
      expect(status.compensations.map((c) => c.step)).toEqual(['synchronous-commit', 'start-standby', 'base-backup', 'create-slot']);
      expect(status.pointOfNoReturn.passedAt).toBeNull();
    });
    expect(calls.slice(calls.indexOf('confirmSync:dc1'))).toEqual([
      'confirmSync:dc1', 'applySettings:dc1:reset', 'stop:dc2', 'removeStandbyDataDir:dc2', 'dropSlot:dc1:cutover_orders',
    ]);
  });

  it('a fence that fails is undone before anything else: the old primary takes writes again, then the rest in reverse', async () => {
    const q = uniqueQueue('pg-fence');
    const { calls, activities } = fakes({ failFence: 'dc1' });
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await go(h, 'cutover');
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toMatch(/has not flushed/);
      expect(status.pointOfNoReturn.passedAt).toBeNull();
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([
        ['fence', 'done'], ['synchronous-commit', 'done'], ['start-standby', 'done'], ['base-backup', 'done'], ['create-slot', 'done'],
      ]);
      expect(status.compensations[0].detail).toMatch(/was still running, default_transaction_read_only = off/);
      return h.workflowId;
    });
    recordHistory('postgres-failover-fence-undone', id);
    expect(calls.slice(calls.indexOf('fence:dc1'))).toEqual([
      'fence:dc1', 'restartFencedPrimary:dc1', 'applySettings:dc1:read-only reset', 'applySettings:dc1:reset', 'stop:dc2',
      'removeStandbyDataDir:dc2', 'dropSlot:dc1:cutover_orders',
    ]);
    expect(calls.some((c) => /^(promote|dns)/.test(c))).toBe(false);
  });

  it('a no-go at the complete gate runs the reverse move: dc1 rejoins, catches up, is promoted, DNS back', async () => {
    const q = uniqueQueue('pg-reverse');
    const { calls, activities } = fakes();
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const failure = await reversedAtComplete(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toMatch(/no-go at gate "complete" by bob: p99 latency doubled/);
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-move', 'done']]);
      expect(status.compensations[0].detail).toMatch(/primary is dc1 \(127\.0\.1\.1:5432\)/);
      expect(status.figures.primary).toBe('dc1 (127.0.1.1:5432)');
      expect(status.steps.map((s) => s.name).slice(-11)).toEqual([
        'soak', 'reverse-create-slot', 'reverse-rejoin', 'reverse-start', 'reverse-confirm-streaming', 'reverse-catch-up',
        'reverse-synchronous-commit', 'reverse-fence', 'reverse-promote', 'reverse-switch-traffic', 'reverse-cleanup',
      ]);
      return h.workflowId;
    });
    expect(sideBySide(calls).slice(FORWARD_CALLS.length)).toEqual([
      'createSlot:dc2:cutover_orders_reverse', 'rejoin:dc1->dc2', 'start:dc1', 'awaitStreaming:dc2', 'watchCatchUp:dc2', 'readAutoConf:dc2',
      'applySettings:dc2:FIRST 1 ("cutover_orders_reverse")', 'confirmSync:dc2', 'fence:dc2', 'promote:dc1:trigger-file', 'dns:127.0.1.1',
      'dropSlot:dc1:cutover_orders', 'dropSlotOffline:dc2:cutover_orders_reverse', 'removePassfile:dc1',
    ]);
    // The stored history replays on today's code: no non-determinism in the reverse path.
    const history = await env.client.workflow.getHandle(id).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: env.bundle }, history, id);
    recordHistory('postgres-failover-reverse-move', id);
  });

  it('a reverse move whose fence fails undoes its own steps: dc2 stays primary and takes writes, and the run asks for a decision', async () => {
    const q = uniqueQueue('pg-reverse-fence');
    const { calls, activities } = fakes({ failFence: 'dc2' });
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const failure = await reversedAtComplete(h);
      expect(failure.type).toBe(ErrorType.ManualInterventionRequired);
      const status = failure.details![0] as MigrationStatus;
      expect(status.outcome).toBe('manual-intervention-required');
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([
        ['reverse-fence', 'done'], ['reverse-synchronous-commit', 'done'], ['reverse-start', 'done'], ['reverse-create-slot', 'done'], ['reverse-move', 'failed'],
      ]);
      expect(status.compensations.at(-1)!.error).toMatch(
        /the reverse move failed before dc1 \(127\.0\.1\.1:5432\) was promoted \(standby has not flushed .*\) and was undone: dc2 \(127\.0\.2\.1:5432\) is still the primary and takes writes, orders\.z → 127\.0\.2\.1/,
      );
      expect(status.figures.primary).toBe('dc2 (127.0.2.1:5432)');
      expect(status.manualActions).toEqual([expect.stringMatching(/^reverse by hand: make dc1/)]);
      return h.workflowId;
    });
    recordHistory('postgres-failover-reverse-fence-undone', id);
    expect(calls.slice(calls.indexOf('fence:dc2'))).toEqual([
      'fence:dc2', 'restartFencedPrimary:dc2', 'applySettings:dc2:read-only reset', 'applySettings:dc2:reset', 'stop:dc1', 'dropSlot:dc2:cutover_orders_reverse',
    ]);
    expect(calls.filter((c) => c.startsWith('promote:'))).toEqual(['promote:dc2:trigger-file']);
  });

  it('lag that never catches up: the gate is never offered, the timeout rolls back', async () => {
    const q = uniqueQueue('pg-lag');
    const { calls, activities } = fakes({ lagNeverCatchesUp: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ catchUp: { maxLagBytes: 1024 * 1024, stableForMs: 100, timeoutMs: 1500, onTimeout: 'rollback', windowMs: 1000 } }));
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toMatch(/replay lag of cutover_orders did not stay under 1048576 bytes .*: 50000000 bytes behind/);
      expect(status.decisions).toEqual([]);
      expect(status.steps.find((s) => s.name === 'catch-up')?.state).toBe('failed');
      expect(status.compensations.map((c) => c.step)).toEqual(['start-standby', 'base-backup', 'create-slot']);
      // Never offered: the phase never was "waiting-at-cutover".
      const text = historyText(await h.fetchHistory());
      expect(text).toContain('"catch-up"'); // the phase search attribute is in the decoded history...
      expect(text).not.toContain('waiting-at-cutover'); // ...and the gate's never was
    });
    expect(calls.filter((c) => c.startsWith('watchCatchUp')).length).toBeGreaterThan(3);
    expect(calls).not.toContain('readAutoConf:dc1');
  });

  it('an abort after the point of no return finishes forward, then reverses by design', async () => {
    const q = uniqueQueue('pg-abort');
    const { calls, activities } = fakes({ slowSoak: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ soakMs: 2000 }));
      await atGate(h, 'cutover');
      await go(h, 'cutover');
      await eventually(async () => (await h.query(statusQuery)).phase === 'soak', 'soak');
      await h.signal(abortSignal, { by: 'alice', reason: 'error rate up on dc2' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toBe('aborted by alice: error rate up on dc2');
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-move', 'done']]);
      expect(status.decisions.map((d) => d.gate)).toEqual(['cutover']); // the complete gate was never decided
    });
    expect(calls).toContain('promote:dc1:trigger-file');
    expect(calls.at(-1)).toBe('removePassfile:dc1');
  });

  it('a base backup that fails is retried and the summary says so', async () => {
    const q = uniqueQueue('pg-retry');
    const { calls, activities } = fakes({ failFirstBackup: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const s = await atGate(h, 'cutover');
      expect(s.steps.find((st) => st.name === 'base-backup')?.summary).toMatch(/attempt 2 after removing the partial copy/);
      expect(s.figures.baseBackupAttempts).toBe(2);
      await noGo(h, 'cutover', 'test over');
      await failureOf(h);
    });
    expect(calls.filter((c) => c === 'baseBackup')).toHaveLength(2);
  });
});
