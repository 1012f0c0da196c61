// The postgres-failover workflow against the real Temporal dev server, with typed fake activities: phase order,
// the compensation order on a no-go, the old primary streaming from the new one during the soak (asynchronous,
// synchronous with its guard, or not at all), the switch back after the point of no return, the catch-up timeout
// that never offers the gate, a base backup retried after a failure, the dry run's record, and replays.
import { type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresFailover } from '../../workflows';
import type { PostgresFailoverInput } from '../../workflows/postgres-failover';
import {
  DRY_RUN_MEMO,
  dryRunTaskQueue,
  ErrorType,
  statusQuery,
  type MigrationStatus,
} from '../../workflows/shared';
import { historyText, recordHistory } from '../helpers/history';
import { decideSigned, sendSigned } from '../helpers/signing';
import { atGate, failureOf } from '../helpers/workflows';
import { fakes, FORWARD_CALLS, input, RETIRE_CALLS, REVERSE_REPLICATION_CALLS, sideBySide } from '../helpers/postgres-fakes';
import { eventually, temporalTestEnv, uniqueQueue, withWorker, type TemporalTestEnv } from '../helpers/temporal';

let env: TemporalTestEnv;
beforeAll(async () => {
  env = await temporalTestEnv();
});
afterAll(async () => {
  await env?.close();
});

async function start(queue: string, args: PostgresFailoverInput): Promise<WorkflowHandle<typeof postgresFailover>> {
  return env.client.workflow.start(postgresFailover, { taskQueue: queue, workflowId: uniqueQueue('pgwf'), args: [args] });
}

const go = (h: WorkflowHandle, gate: string) => decideSigned(h, { gate, decision: 'go', by: 'bob', reason: 'fine' });
const noGo = (h: WorkflowHandle, gate: string, reason: string) => decideSigned(h, { gate, decision: 'no-go', by: 'bob', reason });

/** Go at `cutover`, no-go at `complete` (the reverse move runs); the run's failure. */
async function reversedAtComplete(h: WorkflowHandle): Promise<ApplicationFailure> {
  await atGate(h, 'cutover');
  await go(h, 'cutover');
  await atGate(h, 'complete');
  await noGo(h, 'complete', 'p99 latency doubled');
  return failureOf(h);
}

describe('postgres-failover workflow', () => {
  it('runs the phases in order, shows lag and slot at the cutover gate, the old primary streams from the new one during the soak, and go retires it', async () => {
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
      expect(atComplete.gate!.evidence).toMatchObject({
        acceptsWrites: true,
        dns: 'orders.z → 127.0.2.1',
        wayBack: 'dc1 (127.0.1.1:5432) streams from dc2 (sync_state async), 0 bytes behind',
        onNoGo: expect.stringMatching(/^switch back at once \(no rejoin, no catch-up\)/),
      });
      expect(atComplete.figures).toMatchObject({ reverseReplication: 'asynchronous', standby: 'dc1 (127.0.1.1:5432), streaming from dc2 (asynchronous)' });
      await go(h, 'complete');
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.compensations).toEqual([]);
      expect(result.steps.map((s) => s.name)).toEqual([
        'preflight', 'create-slot', 'base-backup', 'start-standby', 'confirm-streaming', 'catch-up', 'synchronous-commit',
        'fence', 'promote', 'switch-traffic', 'reverse-replication', 'soak', 'retire-old-primary',
      ]);
      expect(result.steps.find((st) => st.name === 'reverse-replication')!.summary).toMatch(
        /^dc1 \(127\.0\.1\.1:5432\) streams from dc2 \(127\.0\.2\.1:5432\) \(asynchronous\), 4096 bytes behind; clean shutdown .*no rewind needed; slot cutover_orders_reverse on dc2; slot cutover_orders dropped on dc1$/,
      );
      expect(result.steps.at(-1)!.summary).toMatch(/^dc1 \(127\.0\.1\.1:5432\) stopped \(a standby, left stopped\); slot cutover_orders_reverse dropped on dc2/);
      expect(result.figures).toMatchObject({ promoteMs: 120, finalLsn: '0/5000098', standbyReplayLsn: '0/5000098', syncState: 'sync' });
      return h.workflowId;
    });
    // Nothing guards an asynchronous standby: no watch beside the soak.
    expect(sideBySide(calls)).toEqual([...FORWARD_CALLS, ...REVERSE_REPLICATION_CALLS, ...RETIRE_CALLS]);
    recordHistory('postgres-failover-completed-way-back-ready', id);
  });

  it('synchronous reverse replication: the old primary confirmed sync, a guard beside the soak relaxes it once it falls away, go restores the settings before stopping it', async () => {
    const q = uniqueQueue('pg-sync-reverse');
    const { calls, activities } = fakes({ reverseStandbyLostAfterMs: 300 });
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ soakMs: 2000, reverseReplication: { synchronous: true, onStandbyLost: 'keep-writing', lostAfterMs: 3000 } }));
      await atGate(h, 'cutover');
      await go(h, 'cutover');
      const relaxed = await eventually(async () => {
        const s = await h.query(statusQuery);
        return String(s.figures.reverseReplication).startsWith('asynchronous since') ? s : null;
      }, 'the guard relaxing synchronous replication');
      expect(relaxed.phase).toBe('soak');
      expect(relaxed.figures.reverseReplication).toMatch(/: cutover_orders_reverse has not streamed for 3000 ms \(state absent\)$/);
      await atGate(h, 'complete');
      await go(h, 'complete');
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.steps.find((st) => st.name === 'reverse-replication')!.summary).toMatch(/\(synchronous, keep-writing if it falls away\)/);
      return h.workflowId;
    });
    const after = sideBySide(calls).slice(FORWARD_CALLS.length);
    expect(after).toEqual([
      ...REVERSE_REPLICATION_CALLS, 'readAutoConf:dc2', 'applySettings:dc2:FIRST 1 ("cutover_orders_reverse")', 'confirmSync:dc2',
      'guard:dc2', 'applySettings:dc2:reset', ...RETIRE_CALLS,
    ]);
    recordHistory('postgres-failover-sync-reverse-replication-relaxed', id);
  });

  it('synchronous reverse replication that may block writes (onStandbyLost block-writes) runs no guard', async () => {
    const q = uniqueQueue('pg-sync-strict');
    const { calls, activities } = fakes({ reverseStandbyLostAfterMs: 10 });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ reverseReplication: { synchronous: true, onStandbyLost: 'block-writes', lostAfterMs: 3000 } }));
      await atGate(h, 'cutover');
      await go(h, 'cutover');
      await atGate(h, 'complete');
      await go(h, 'complete');
      expect((await h.result()).figures.reverseReplication).toBe('synchronous, block-writes if it falls away');
    });
    expect(calls.filter((c) => c.startsWith('guard:'))).toEqual([]);
    expect(calls.slice(-RETIRE_CALLS.length - 1)).toEqual(['applySettings:dc2:reset', ...RETIRE_CALLS]);
  });

  it('without reverse replication (plan: reverseReplication false) the old primary stays stopped until go, which drops its slot offline', async () => {
    const q = uniqueQueue('pg-cold');
    const { calls, activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ reverseReplication: null }));
      await atGate(h, 'cutover');
      await go(h, 'cutover');
      const atComplete = await atGate(h, 'complete');
      expect(atComplete.gate!.evidence.oldPrimary).toMatch(/stopped and read-only/);
      await go(h, 'complete');
      expect((await h.result()).steps.map((st) => st.name).slice(-3)).toEqual(['switch-traffic', 'soak', 'retire-old-primary']);
    });
    expect(sideBySide(calls)).toEqual([...FORWARD_CALLS, 'stop:dc1', 'dropSlot:dc2:cutover_orders_reverse', 'dropSlotOffline:dc1:cutover_orders', 'removePassfile:dc1', 'removePassfile:dc2']);
  });

  it('a dry run records the new steps from the workflow itself: reverse replication after the promotion, the old side retired', async () => {
    const q = uniqueQueue('pg-dry');
    const { calls, activities } = fakes();
    const dry = await Worker.create({ connection: env.nativeConnection, taskQueue: dryRunTaskQueue(q), activities, maxHeartbeatThrottleInterval: '1s' });
    const status = await dry.runUntil(
      withWorker(env, q, {}, async () => {
        const h = await env.client.workflow.start(postgresFailover, {
          taskQueue: q,
          workflowId: uniqueQueue('pgdry'),
          args: [input({ reverseReplication: { synchronous: true, onStandbyLost: 'keep-writing', lostAfterMs: 3000 } })],
          memo: { [DRY_RUN_MEMO]: true },
        });
        return h.result();
      }),
    );
    const steps = status.dryRun!.steps;
    expect(steps.map((st) => st.step)).toEqual([
      'preflight', 'create-slot', 'base-backup', 'start-standby', 'confirm-streaming', 'catch-up', 'gate cutover', 'synchronous-commit',
      'fence', 'promote', 'switch-traffic', 'reverse-replication', 'soak', 'gate complete', 'retire-old-primary',
    ]);
    const actions = (name: string) => steps.find((st) => st.step === name)!.actions;
    expect(actions('reverse-replication')).toEqual([
      'replication slot cutover_orders_reverse on dc2',
      'dc1 (127.0.1.1:5432) rejoins as a standby of dc2 (127.0.2.1:5432)',
      'pg_ctl start dc1 (127.0.1.1:5432)',
      'cutover_orders_reverse streams from dc2',
      'drop slot cutover_orders on dc1 (127.0.1.1:5432), a standby now',
      'settings of dc2 (127.0.2.1:5432)',
      'synchronous_standby_names on dc2',
      'sync_state = sync for cutover_orders_reverse',
      // The guard starts right after it, beside the soak and the complete gate.
      'relax synchronous commit on dc2 if cutover_orders_reverse falls away',
    ]);
    expect(actions('soak')).toEqual(['wait 0.05 s', 'state of dc2 (127.0.2.1:5432)']);
    expect(actions('retire-old-primary')).toEqual([
      'synchronous settings of dc2 as they were',
      'stop dc1 (127.0.1.1:5432)',
      'drop slot cutover_orders_reverse on dc2 (127.0.2.1:5432)',
      'drop slot cutover_orders in dc1 (127.0.1.1:5432) if still there',
      'remove the replication passfile on dc1',
      'remove the replication passfile on dc2',
    ]);
    expect(status.dryRun!.wayBack).toMatch(/^reverse-move: reverse by hand/);
    expect(calls).toContain('preflight');
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

  it('a no-go at the complete gate switches back at once: dc1 already streams, so no rejoin and no catch-up', async () => {
    const q = uniqueQueue('pg-switch-back');
    const { calls, activities } = fakes();
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const failure = await reversedAtComplete(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-move', 'done']]);
      expect(status.compensations[0].detail).toMatch(/^reverse move: dc1 \(127\.0\.1\.1:5432\) streamed from dc2 \(127\.0\.2\.1:5432\) since the soak, dc2 .* fenced/);
      expect(status.figures.primary).toBe('dc1 (127.0.1.1:5432)');
      expect(status.steps.map((s) => s.name).slice(-8)).toEqual([
        'reverse-replication', 'soak', 'reverse-check-standby', 'reverse-synchronous-commit', 'reverse-fence', 'reverse-promote', 'reverse-switch-traffic', 'reverse-cleanup',
      ]);
      expect(status.steps.find((s) => s.name === 'reverse-check-standby')!.summary).toMatch(/since the soak, 0 bytes behind: no rejoin, no catch-up$/);
      return h.workflowId;
    });
    expect(sideBySide(calls).slice(FORWARD_CALLS.length)).toEqual([
      ...REVERSE_REPLICATION_CALLS, 'readAutoConf:dc2', 'applySettings:dc2:FIRST 1 ("cutover_orders_reverse")', 'confirmSync:dc2', 'fence:dc2',
      'promote:dc1:trigger-file', 'dns:127.0.1.1', 'dropSlot:dc1:cutover_orders', 'dropSlotOffline:dc2:cutover_orders_reverse', 'removePassfile:dc1', 'removePassfile:dc2',
    ]);
    recordHistory('postgres-failover-switched-back', id);
  });

  it('a no-go at the complete gate after a soak without reverse replication runs the whole reverse move: dc1 rejoins, catches up, is promoted, DNS back', async () => {
    const q = uniqueQueue('pg-reverse');
    const { calls, activities } = fakes();
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ reverseReplication: null }));
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
      'dropSlot:dc1:cutover_orders', 'dropSlotOffline:dc2:cutover_orders_reverse', 'removePassfile:dc1', 'removePassfile:dc2',
    ]);
    // The stored history replays on today's code: no non-determinism in the reverse path.
    const history = await env.client.workflow.getHandle(id).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: env.bundle }, history, id);
    recordHistory('postgres-failover-reverse-move-without-reverse-replication', id);
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
      // The soak's reverse replication is undone with the switch back's own steps: dc2 alone, as before the move.
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([
        ['reverse-fence', 'done'], ['reverse-synchronous-commit', 'done'], ['reverse-replication', 'done'], ['reverse-replication', 'done'], ['reverse-move', 'failed'],
      ]);
      expect(status.compensations.at(-1)!.error).toMatch(
        /the reverse move failed before dc1 \(127\.0\.1\.1:5432\) was promoted \(standby has not flushed .*\) and was undone: dc2 \(127\.0\.2\.1:5432\) is still the primary and takes writes, orders\.z → 127\.0\.2\.1/,
      );
      expect(status.figures.primary).toBe('dc2 (127.0.2.1:5432)');
      expect(status.manualActions).toEqual([expect.stringMatching(/^reverse by hand: make dc1/)]);
      return h.workflowId;
    });
    recordHistory('postgres-failover-switch-back-fence-undone', id);
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
      await sendSigned(h, 'abort', 'alice', 'error rate up on dc2');
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toBe('aborted by alice: error rate up on dc2');
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-move', 'done']]);
      expect(status.decisions.map((d) => d.gate)).toEqual(['cutover']); // the complete gate was never decided
    });
    expect(calls).toContain('promote:dc1:trigger-file');
    expect(calls.slice(-2)).toEqual(['removePassfile:dc1', 'removePassfile:dc2']);
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
