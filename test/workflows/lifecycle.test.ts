// The migration lifecycle (workflows/lib) on the postgres-failover move, real dev server, typed fake
// activities: gate evidence refreshed by the gate itself and snapshotted with the decision.
import { type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresFailover } from '../../workflows';
import type { PostgresFailoverInput } from '../../workflows/postgres-failover';
import { decideUpdate, statusQuery, type DecisionInput } from '../../workflows/shared';
import { fakes, input } from '../helpers/postgres-fakes';
import { recordHistory } from '../helpers/history';
import { atGate } from '../helpers/workflows';
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
const decide = (h: WorkflowHandle, d: DecisionInput) => h.executeUpdate(decideUpdate, { args: [d] });

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
