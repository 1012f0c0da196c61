// Long waits keep history bounded: a run continues as new whenever the server suggests it (here after 200
// events, on a dev server of this test's own) and the next run resumes where it waited, with status, decisions,
// saga and gate state carried over. Real dev server, typed fake activities.
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { postgresFailover } from '../../workflows';
import type { PostgresFailoverInput } from '../../workflows/postgres-failover';
import { decideUpdate, ErrorType, statusQuery, type DecisionInput, type MigrationStatus } from '../../workflows/shared';
import { ownDevServer } from '../helpers/dev-server';
import { recordHistory } from '../helpers/history';
import { keyOf, signed } from '../helpers/signing';
import { fakes, input } from '../helpers/postgres-fakes';
import { atGate, failureOf } from '../helpers/workflows';
import { eventually, uniqueQueue, withWorker } from '../helpers/temporal';

const SUGGEST_AFTER = 200;
/**
 * Evidence refreshes the long wait sits through at the cutover gate. Each is a timer and an activity (~11
 * events, ~18 a run); on this shared 2-core machine one took about 1 s (timer latency), so the default keeps
 * the test near two minutes: CUTOVER_LONG_WAIT_REFRESHES=2000 for the full-scale run (~35 min, ~110 runs).
 */
const REFRESHES = Number(process.env.CUTOVER_LONG_WAIT_REFRESHES ?? 60);
const dev = ownDevServer({ 'limit.historyCount.suggestContinueAsNew': SUGGEST_AFTER });

async function start(queue: string, args: PostgresFailoverInput) {
  return dev.env.client.workflow.start(postgresFailover, { taskQueue: queue, workflowId: uniqueQueue('pgcan'), args: [args] });
}

/** A decision sent while a run hands over to the next may meet the closing run: sent again until one takes it. */
async function decide(h: WorkflowHandle, d: Omit<DecisionInput, 'signature'>) {
  return eventually(async () => {
    try {
      return await h.executeUpdate(decideUpdate, { args: [await signed(h, d, keyOf(d.by))] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw err;
      return null;
    }
  }, `decision ${d.decision} at ${d.gate}`);
}

const status = (h: WorkflowHandle) => h.query(statusQuery);
const waitFor = (h: WorkflowHandle, what: string, until: (s: MigrationStatus) => boolean, timeoutMs = 120_000) =>
  eventually(async () => {
    const s = await status(h);
    return until(s) ? s : null;
  }, what, timeoutMs);

/** Every run of a workflow id, first to last, with its history length. */
async function runsOf(client: Client, workflowId: string, firstRunId: string): Promise<{ runId: string; events: number }[]> {
  const runs: { runId: string; events: number }[] = [];
  for (let runId: string | undefined = firstRunId; runId; ) {
    const history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>> = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    runs.push({ runId, events: events.length });
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

const FORWARD_STEPS = [
  'preflight', 'create-slot', 'base-backup', 'start-standby', 'confirm-streaming', 'catch-up', 'synchronous-commit',
  'fence', 'promote', 'switch-traffic', 'reverse-replication', 'soak', 'retire-old-primary',
];

describe('continue-as-new during long waits', () => {
  it('a run waits through a long catch-up and many gate evidence refreshes, continues as new many times, and completes with its whole story', async () => {
    const q = uniqueQueue('can-long');
    const { calls, counts, activities } = fakes({ behindWindows: { host: 'dc1', windows: 80 } });
    const args = input({
      catchUp: { maxLagBytes: 1024 * 1024, stableForMs: 100, timeoutMs: 100, onTimeout: 'wait', windowMs: 1000 },
      gates: { cutover: { onTimeout: 'wait', refreshEveryMs: 5 }, complete: { onTimeout: 'wait', refreshEveryMs: 5 } },
    });
    const { h, runsAtCutover, result } = await withWorker(dev.env, q, activities, async () => {
      const h = await start(q, args);
      const atCutover = await atGate(h, 'cutover');
      // The catch-up waited past its timeout (policy wait) and through at least one continue-as-new.
      expect(atCutover.runs).toBeGreaterThan(1);
      expect(Number(atCutover.figures.catchUpNotifications)).toBeGreaterThan(0);
      const s = await waitFor(h, `${REFRESHES} evidence refreshes at the cutover gate`, (st) => (st.gate?.refreshes ?? 0) >= REFRESHES, REFRESHES * 2000);
      const runsAtCutover = s.runs;
      expect(s.gate!.notifications).toBe(1);
      expect(s.gate!.openedAt).toBe(atCutover.gate!.openedAt); // the same gate, carried over
      await decide(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'lag is fine' });
      await atGate(h, 'complete');
      await waitFor(h, 'two more runs at the complete gate', (st) => st.runs >= runsAtCutover + 2);
      await decide(h, { gate: 'complete', decision: 'go', by: 'bob' });
      return { h, runsAtCutover, result: await h.result() };
    });
    expect(result.outcome).toBe('completed');
    expect(result.steps.map((st) => [st.name, st.state])).toEqual(FORWARD_STEPS.map((n) => [n, 'done']));
    expect(result.decisions.map((d) => [d.gate, d.decision, d.by])).toEqual([['cutover', 'go', 'bob'], ['complete', 'go', 'bob']]);
    expect(result.compensations).toEqual([]);
    expect(result.pointOfNoReturn.passedAt).not.toBeNull();
    expect(counts.replicationStatus).toBeGreaterThanOrEqual(REFRESHES);
    // Every step ran once, however many runs the story took.
    expect(calls.filter((c) => c === 'baseBackup' || c.startsWith('fence:') || c.startsWith('promote:'))).toEqual(['baseBackup', 'fence:dc1', 'promote:dc2:trigger-file']);
    expect(counts['watchCatchUp:dc1']).toBe(81);

    const runs = await runsOf(dev.env.client, h.workflowId, h.firstExecutionRunId);
    expect(runs.length).toBe(result.runs);
    expect(runs.length).toBeGreaterThan(runsAtCutover);
    // Bounded: a run continues as new at its next wait after the server's suggestion, so it ends at most one wait
    // iteration past it (~60 events), or, for the run that took the cutover go, past the forward steps it runs
    // before its next wait (synchronous-commit … soak: about ten events each). At full scale (2,000 refreshes,
    // ~110 runs) that run was seen at 280 events.
    const afterGo = 10 * (FORWARD_STEPS.indexOf('soak') - FORWARD_STEPS.indexOf('synchronous-commit') + 1);
    console.log(`${runs.length} runs; events per run: ${runs.map((r) => r.events).join(' ')}`);
    for (const r of runs) expect(r.events).toBeLessThan(SUGGEST_AFTER + 60 + afterGo);
    expect(runs.filter((r) => r.events >= SUGGEST_AFTER + 60).length).toBeLessThanOrEqual(1);
    // The last run (it started from carried state) replays like any other.
    recordHistory('postgres-failover-continued-as-new-way-back-ready', h.workflowId, dev.address);
  }, 120_000 + REFRESHES * 2000);

  it('a no-go after several runs at the cutover gate undoes the saga carried over, in reverse order', async () => {
    const q = uniqueQueue('can-saga');
    const { calls, activities } = fakes();
    await withWorker(dev.env, q, activities, async () => {
      const h = await start(q, input({ gates: { cutover: { onTimeout: 'wait', refreshEveryMs: 5 }, complete: { onTimeout: 'wait' } } }));
      await waitFor(h, 'three runs at the cutover gate', (st) => st.gate?.name === 'cutover' && st.runs >= 3);
      await decide(h, { gate: 'cutover', decision: 'no-go', by: 'bob', reason: 'batch job running' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const s = failure.details![0] as MigrationStatus;
      expect(s.runs).toBeGreaterThanOrEqual(3);
      expect(s.compensations.map((c) => [c.step, c.state])).toEqual([['start-standby', 'done'], ['base-backup', 'done'], ['create-slot', 'done']]);
    });
    expect(calls.slice(calls.indexOf('watchCatchUp:dc1') + 1)).toEqual(['stop:dc2', 'removeStandbyDataDir:dc2', 'dropSlot:dc1:cutover_orders']);
  });

  it('a way back whose catch-up waits long continues as new and resumes inside the way back', async () => {
    const q = uniqueQueue('can-wayback');
    // The old primary streams since the soak but is far behind at the no-go: the way back catches up first.
    const { calls, counts, activities } = fakes({ behindWindows: { host: 'dc2', windows: 80 }, reverseStandby: { state: 'streaming', lagBytes: 50e6 } });
    const id = await withWorker(dev.env, q, activities, async () => {
      const h = await start(q, input({ catchUp: { maxLagBytes: 1024 * 1024, stableForMs: 100, timeoutMs: 100, onTimeout: 'wait', windowMs: 1000 } }));
      await atGate(h, 'cutover');
      await decide(h, { gate: 'cutover', decision: 'go', by: 'bob' });
      const atComplete = await atGate(h, 'complete');
      await decide(h, { gate: 'complete', decision: 'no-go', by: 'bob', reason: 'p99 latency doubled' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const s = failure.details![0] as MigrationStatus;
      expect(s.runs).toBeGreaterThan(atComplete.runs);
      expect(s.wayBack).toMatchObject({ state: 'done', step: 'reverse-move' });
      expect(s.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-move', 'done']]);
      expect(s.steps.map((st) => st.name)).toEqual([
        ...FORWARD_STEPS.slice(0, -1), 'reverse-check-standby', 'reverse-create-slot', 'reverse-rejoin', 'reverse-start', 'reverse-confirm-streaming',
        'reverse-catch-up', 'reverse-synchronous-commit', 'reverse-fence', 'reverse-promote', 'reverse-switch-traffic', 'reverse-cleanup',
      ].filter((n) => n !== 'retire-old-primary'));
      expect(s.figures.primary).toBe('dc1 (127.0.1.1:5432)');
      return h.workflowId;
    });
    expect(counts['watchCatchUp:dc2']).toBe(81);
    // Once for the soak's reverse replication, once by the way back (an existing slot is reused).
    expect(calls.filter((c) => c.startsWith('createSlot:dc2'))).toHaveLength(2);
    expect(calls.filter((c) => c.startsWith('readAutoConf'))).toEqual(['readAutoConf:dc1', 'readAutoConf:dc2']);
    recordHistory('postgres-failover-way-back-continued-as-new-way-back-ready', id, dev.address);
  }, 300_000);
});
