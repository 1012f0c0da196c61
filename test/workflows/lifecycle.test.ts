// The migration lifecycle (workflows/lib) on the postgres-failover move, real dev server, typed fake
// activities: gate evidence refreshed by the gate itself and snapshotted with the decision; the recover gate
// after a failure past the point of no return (retry, way back, done by hand); the way back as a phase that
// obeys pause and abort in its waits.
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresFailover } from '../../workflows';
import type { PostgresFailoverInput } from '../../workflows/postgres-failover';
import { ErrorType, statusQuery, type DecisionInput, type MigrationStatus } from '../../workflows/shared';
import { decideSigned, sendSigned } from '../helpers/signing';
import { fakes, input, type FakeOptions } from '../helpers/postgres-fakes';
import { recordHistory } from '../helpers/history';
import { atGate, failureOf } from '../helpers/workflows';
import { eventually, temporalTestEnv, uniqueQueue, withWorker, type TemporalTestEnv } from '../helpers/temporal';

let env: TemporalTestEnv;
beforeAll(async () => {
  env = await temporalTestEnv();
});
afterAll(async () => {
  await env?.close();
});

async function start(queue: string, args: PostgresFailoverInput): Promise<WorkflowHandle<typeof postgresFailover>> {
  return env.client.workflow.start(postgresFailover, { taskQueue: queue, workflowId: uniqueQueue('pglc'), args: [args] });
}
const decide = (h: WorkflowHandle, d: Omit<DecisionInput, 'signature'>) => decideSigned(h, d);

describe('gate evidence', () => {
  it('is refreshed while the gate waits, recorded as a copy with the decision, and no longer read once the gate closes', async () => {
    const q = uniqueQueue('lc-evidence');
    const { counts, activities } = fakes();
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ gates: { cutover: { onTimeout: 'wait', refreshEveryMs: 100 }, complete: { onTimeout: 'wait' } } }));
      await atGate(h, 'cutover');
      const refreshed = await eventually(async () => {
        const s = await h.query(statusQuery);
        return (s.gate?.refreshes ?? 0) >= 3 ? s : null;
      }, 'three evidence refreshes');
      expect(refreshed.gate!.evidence.lagBytes).toBeGreaterThanOrEqual(3); // the fake's lag is the read's number
      const decision = await decide(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'lag is fine' });
      const readsAtDecision = counts.replicationStatus;
      expect(decision.evidence.lagBytes).toBeGreaterThanOrEqual(3);
      await atGate(h, 'complete');
      // A refresher that outlived its gate would read again within 100·2^n ms; none does.
      await new Promise((r) => setTimeout(r, 2500));
      expect(counts.replicationStatus).toBe(readsAtDecision);
      const s = await h.query(statusQuery);
      expect(s.decisions[0].evidence).toEqual(decision.evidence);
      await decide(h, { gate: 'complete', decision: 'go', by: 'bob' });
      expect((await h.result()).decisions[0].evidence).toEqual(decision.evidence);
      return h.workflowId;
    });
    recordHistory('postgres-failover-gate-evidence', id);
  });
});

/** Runs the move with `opts` up to the recover gate (go at `cutover`, and at `complete` if `throughComplete`). */
async function toRecover(h: WorkflowHandle, throughComplete: boolean): Promise<MigrationStatus> {
  await atGate(h, 'cutover');
  await decide(h, { gate: 'cutover', decision: 'go', by: 'bob' });
  if (throughComplete) {
    await atGate(h, 'complete');
    await decide(h, { gate: 'complete', decision: 'go', by: 'bob' });
  }
  return atGate(h, 'recover');
}

async function recoverCase<T>(
  name: string,
  opts: FakeOptions,
  fn: (h: WorkflowHandle<typeof postgresFailover>, calls: string[]) => Promise<T>,
  overrides: Partial<PostgresFailoverInput> = {},
): Promise<T> {
  const q = uniqueQueue(`lc-${name}`);
  const { calls, activities } = fakes(opts);
  return withWorker(env, q, activities, async () => fn(await start(q, input(overrides)), calls));
}

describe('recover gate (a step failed past the point of no return)', () => {
  it('retry: the run stays open at the gate, then runs the step again and completes', async () => {
    const id = await recoverCase('retry', { failFirst: { activity: 'dropSlotOffline', times: 1 } }, async (h, calls) => {
      const s = await toRecover(h, true);
      expect(s.outcome).toBeNull();
      expect(s.phase).toBe('waiting-at-recover');
      expect(s.gate!.evidence).toMatchObject({ step: 'retire-old-primary', attempts: 1, wayBack: 'run the way back (reverse-move)' });
      expect(String(s.gate!.evidence.failure)).toMatch(/dropSlotOffline failed/);
      expect(s.steps.at(-1)).toMatchObject({ name: 'retire-old-primary', state: 'failed' });
      await decide(h, { gate: 'recover', decision: 'retry', by: 'alice', reason: 'the slot was busy' }); // the starter may retry
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.steps.at(-1)).toMatchObject({ name: 'retire-old-primary', state: 'done', attempts: 2 });
      expect(result.decisions.map((d) => [d.gate, d.decision])).toEqual([['cutover', 'go'], ['complete', 'go'], ['recover', 'retry']]);
      expect(calls.filter((c) => c.startsWith('dropSlotOffline'))).toHaveLength(2);
      return h.workflowId;
    });
    recordHistory('postgres-failover-recover-retry', id);
  });

  it('way-back: the designed way back runs and the run ends rolled back', async () => {
    const id = await recoverCase('wayback', { failFirst: { activity: 'serverState', times: 1 } }, async (h, calls) => {
      const s = await toRecover(h, false);
      expect(s.gate!.evidence).toMatchObject({ step: 'soak' });
      await decide(h, { gate: 'recover', decision: 'way-back', by: 'bob', reason: 'dc2 is unhealthy' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toMatch(/way back chosen at the recover gate by bob after soak failed: serverState failed/);
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-move', 'done']]);
      expect(status.figures.primary).toBe('dc1 (127.0.1.1:5432)');
      expect(calls).toContain('promote:dc1:trigger-file');
      return h.workflowId;
    });
    recordHistory('postgres-failover-recover-way-back', id);
  });

  it('done-by-hand: the note is recorded with the step and the decision, and the run completes', async () => {
    const id = await recoverCase('byhand', { failFirst: { activity: 'dropSlotOffline', times: 9 } }, async (h, calls) => {
      await toRecover(h, true);
      const refused = await decide(h, { gate: 'recover', decision: 'done-by-hand', by: 'bob' }).catch((e) => e);
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(String((refused as WorkflowUpdateFailedError).cause?.message)).toMatch(/needs a note/);
      const note = 'dropped slot cutover_orders in single-user mode by hand';
      const d = await decide(h, { gate: 'recover', decision: 'done-by-hand', by: 'bob', note });
      expect(d.note).toBe(note);
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.steps.at(-1)).toMatchObject({ name: 'retire-old-primary', state: 'done', byHand: { by: 'bob', note } });
      expect(result.steps.at(-1)!.summary).toMatch(/done by hand by bob: dropped slot/);
      expect(result.decisions.at(-1)).toMatchObject({ gate: 'recover', decision: 'done-by-hand', note });
      expect(calls.filter((c) => c.startsWith('dropSlotOffline'))).toHaveLength(1);
      return h.workflowId;
    });
    recordHistory('postgres-failover-recover-done-by-hand', id);
  });

  it('a DNS switch that fails after the promotion offers the way back; retry completes the move, the old primary then streams from the new one', async () => {
    await recoverCase('dns-retry', { failFirst: { activity: 'switchDns', times: 1 } }, async (h, calls) => {
      const s = await toRecover(h, false);
      // The promotion ran beside the switch and succeeded: the way back exists already.
      expect(s.gate!.evidence).toMatchObject({ step: 'switch-traffic', wayBack: 'run the way back (reverse-move)' });
      expect(s.figures.primary).toBe('dc2 (127.0.2.1:5432)');
      expect(calls).not.toContain('rejoin:dc1->dc2'); // nothing rejoins before traffic has switched
      await decide(h, { gate: 'recover', decision: 'retry', by: 'alice', reason: 'TSIG key restored' });
      await atGate(h, 'complete');
      await decide(h, { gate: 'complete', decision: 'go', by: 'bob' });
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.steps.find((st) => st.name === 'switch-traffic')).toMatchObject({ state: 'done', attempts: 2 });
      expect(result.steps.map((st) => st.name).slice(-3)).toEqual(['reverse-replication', 'soak', 'retire-old-primary']);
    });
  });

  it('a DNS switch that fails after the promotion, way-back: the whole reverse move runs (dc1 was not rejoined yet) and the name never moved', async () => {
    const id = await recoverCase('dns-wayback', { failFirst: { activity: 'switchDns', times: 1 } }, async (h, calls) => {
      await toRecover(h, false);
      await decide(h, { gate: 'recover', decision: 'way-back', by: 'bob', reason: 'DNS is broken, go back' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toMatch(/way back chosen at the recover gate by bob after switch-traffic failed: switchDns failed/);
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-move', 'done']]);
      expect(status.figures.primary).toBe('dc1 (127.0.1.1:5432)');
      expect(status.steps.map((st) => st.name).slice(-10)).toEqual([
        'reverse-create-slot', 'reverse-rejoin', 'reverse-start', 'reverse-confirm-streaming', 'reverse-catch-up', 'reverse-synchronous-commit',
        'reverse-fence', 'reverse-promote', 'reverse-switch-traffic', 'reverse-cleanup',
      ]);
      expect(calls.filter((c) => c.startsWith('dns:'))).toEqual(['dns:127.0.2.1', 'dns:127.0.1.1']);
      return h.workflowId;
    });
    recordHistory('postgres-failover-switch-failed-way-back', id);
  });

  it('a rejoin of the old primary that fails after the promotion waits at recover while the new primary serves; retry rejoins it', async () => {
    await recoverCase('rejoin', { failFirst: { activity: 'rejoinAsStandby', times: 1 } }, async (h, calls) => {
      const s = await toRecover(h, false);
      expect(s.gate!.evidence).toMatchObject({ step: 'reverse-replication', wayBack: 'run the way back (reverse-move)' });
      expect(s.figures.primary).toBe('dc2 (127.0.2.1:5432)');
      await decide(h, { gate: 'recover', decision: 'retry', by: 'bob' });
      await atGate(h, 'complete');
      await decide(h, { gate: 'complete', decision: 'go', by: 'bob' });
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.steps.find((st) => st.name === 'reverse-replication')).toMatchObject({ state: 'done', attempts: 2 });
      expect(calls.filter((c) => c.startsWith('rejoin:'))).toHaveLength(2);
    });
  });

  it('before a way back exists (the promotion failed) only retry and done-by-hand are offered', async () => {
    await recoverCase('promote', { failFirst: { activity: 'promoteStandby', times: 1 } }, async (h) => {
      const s = await toRecover(h, false);
      expect(s.gate!.evidence).toMatchObject({ step: 'promote', wayBack: 'none from here' });
      const refused = await decide(h, { gate: 'recover', decision: 'way-back', by: 'bob' }).catch((e) => e);
      expect(String((refused as WorkflowUpdateFailedError).cause?.message)).toMatch(/no way back/);
      await decide(h, { gate: 'recover', decision: 'retry', by: 'bob' });
      await atGate(h, 'complete');
      await decide(h, { gate: 'complete', decision: 'go', by: 'bob' });
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.steps.find((st) => st.name === 'promote')).toMatchObject({ state: 'done', attempts: 2 });
    });
  });
});

describe('the way back (a phase of its own)', () => {
  it('obeys pause and abort while its catch-up waits (policy wait), then undoes its own steps', async () => {
    const q = uniqueQueue('lc-wayback-wait');
    // The old primary streams since the soak but is far behind when the no-go comes: the way back catches up first.
    const { calls, counts, activities } = fakes({ behindWindows: { host: 'dc2', windows: Infinity }, reverseStandby: { state: 'streaming', lagBytes: 50e6 } });
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ catchUp: { maxLagBytes: 1024 * 1024, stableForMs: 100, timeoutMs: 300, onTimeout: 'wait', windowMs: 1000 } }));
      await atGate(h, 'cutover');
      await decide(h, { gate: 'cutover', decision: 'go', by: 'bob' });
      await atGate(h, 'complete');
      await decide(h, { gate: 'complete', decision: 'no-go', by: 'bob', reason: 'p99 latency doubled' });
      const waiting = await eventually(async () => {
        const s = await h.query(statusQuery);
        return s.phase === 'reverse-catch-up' && Number(s.figures.reverseCatchUpNotifications ?? 0) >= 1 ? s : null;
      }, 'the reverse catch-up waiting past its timeout');
      expect(waiting.wayBack).toMatchObject({ step: 'reverse-move', state: 'running', reason: expect.stringMatching(/no-go at gate "complete"/) });

      await sendSigned(h, 'pause', 'alice');
      await eventually(async () => (await h.query(statusQuery)).phase === 'paused', 'paused in the way back');
      const windowsWhenPaused = counts['watchCatchUp:dc2'];
      await new Promise((r) => setTimeout(r, 1500));
      expect(counts['watchCatchUp:dc2']).toBe(windowsWhenPaused);
      await sendSigned(h, 'resume', 'alice');
      await eventually(async () => counts['watchCatchUp:dc2'] > windowsWhenPaused, 'the wait going on after resume');
      expect((await h.query(statusQuery)).phase).toBe('reverse-catch-up');

      await sendSigned(h, 'abort', 'alice', 'stop the way back, dc2 is fine after all');
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.ManualInterventionRequired);
      const status = failure.details![0] as MigrationStatus;
      expect(status.wayBack).toMatchObject({ state: 'failed', abort: { by: 'alice' } });
      expect(status.steps.find((st) => st.name === 'reverse-catch-up')?.state).toBe('failed');
      // Its own steps undone (dc2 keeps serving), and the way back recorded as failed with why.
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([
        ['reverse-start', 'done'], ['reverse-create-slot', 'done'], ['reverse-move', 'failed'],
      ]);
      expect(status.steps.find((st) => st.name === 'reverse-check-standby')!.summary).toMatch(/is 50000000 bytes behind: rejoin and catch up first$/);
      expect(status.compensations.at(-1)!.error).toMatch(/^aborted by alice: stop the way back.*is still the primary and takes writes/);
      expect(status.figures.primary).toBe('dc2 (127.0.2.1:5432)');
      return h.workflowId;
    });
    expect(calls.filter((c) => c.startsWith('promote:'))).toEqual(['promote:dc2:trigger-file']);
    expect(calls.slice(-2)).toEqual(['stop:dc1', 'dropSlot:dc2:cutover_orders_reverse']);
    recordHistory('postgres-failover-way-back-aborted', id);
  });
});
