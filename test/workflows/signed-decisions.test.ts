// Signed decisions on the real dev server (postgres-failover with typed fake activities): the workflow verifies
// every decision, abort, pause and resume itself. Update validators refuse unsigned, forged, outsiders', expired
// and replayed ones at once; signals are refused and recorded (bounded); only the starter and approvers abort or
// pause; a pause inside the outage window (fence → switch) is held and applied when it closes; a run without
// keys does not start; each run keeps a report of its own.
import { WorkflowUpdateFailedError, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { Activities } from '../../activities';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sshSign } from '../../scripts/cli/signing';
import { postgresFailover } from '../../workflows';
import { REFUSALS_KEPT } from '../../workflows/lib/migration';
import { fingerprint, parsePublicKey } from '../../workflows/lib/sshsig';
import type { PostgresFailoverInput } from '../../workflows/postgres-failover';
import {
  abortSignal,
  decideUpdate,
  decisionSignal,
  ErrorType,
  evidenceDigest,
  pauseSignal,
  signedMessage,
  statusQuery,
  type DecisionInput,
  type MigrationStatus,
} from '../../workflows/shared';
import { recordHistory } from '../helpers/history';
import { fakes, input } from '../helpers/postgres-fakes';
import { decideSigned, keyOf, people, sendSigned, signed, signedApproval, signedControl } from '../helpers/signing';
import { atGate, failureOf } from '../helpers/workflows';
import { eventually, temporalTestEnv, uniqueQueue, withWorker, type TemporalTestEnv } from '../helpers/temporal';

let env: TemporalTestEnv;
beforeAll(async () => {
  env = await temporalTestEnv();
});
afterAll(async () => {
  await env?.close();
});

async function start(queue: string, args: PostgresFailoverInput, workflowId = uniqueQueue('pgsig')): Promise<WorkflowHandleWithFirstExecutionRunId<typeof postgresFailover>> {
  return env.client.workflow.start(postgresFailover, { taskQueue: queue, workflowId, args: [args] });
}

const fp = (name: string) => fingerprint(parsePublicKey(keyOf(name).publicKey).blob);

/** Why the update was refused (its validator's message). */
async function refusedUpdate(h: WorkflowHandle, d: DecisionInput): Promise<string> {
  const err = await h.executeUpdate(decideUpdate, { args: [d] }).then(
    () => null,
    (e) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return String((err as WorkflowUpdateFailedError).cause?.message);
}

/** The status once `n` refusals are recorded. */
const refusals = (h: WorkflowHandle, n: number) =>
  eventually(async () => {
    const s = await h.query(statusQuery);
    return s.refusedDecisions.length + (s.refusedDropped ?? 0) >= n ? s : null;
  }, `${n} refusals`);

describe('signed decisions', () => {
  it('update validators refuse unsigned, forged, outsiders\', expired and other runs\' decisions; a signed one is taken with its key', async () => {
    const q = uniqueQueue('sig-update');
    const { activities } = fakes();
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const s = await atGate(h, 'cutover');
      expect(s.signing).toMatchObject({ namespace: 'cutover', workflowId: h.workflowId, runId: h.firstExecutionRunId });
      expect(s.gate!.evidenceDigest).toBe(evidenceDigest(s.gate!.evidence));
      const go = { gate: 'cutover', decision: 'go' as const, by: 'bob', reason: 'lag is fine' };

      expect(await refusedUpdate(h, go)).toMatch(/unsigned/);
      expect(await refusedUpdate(h, await signed(h, go, keyOf('mallory')))).toMatch(/not bob's/);
      expect(await refusedUpdate(h, await signed(h, go, keyOf('alice')))).toMatch(/not bob's/);
      // carol has a key, but not in this plan.
      expect(await refusedUpdate(h, await signed(h, { ...go, by: 'carol' }, keyOf('carol')))).toMatch(/carol is not an approver/);
      // Signed eleven minutes ago (by workflow time): expired.
      const signedAt = new Date(Date.now() - 11 * 60_000).toISOString();
      const evidence = s.gate!.evidenceDigest!;
      const old = signedMessage({ workflowId: h.workflowId, runId: h.firstExecutionRunId, ...go, evidence, signedAt });
      expect(await refusedUpdate(h, { ...go, signature: { sshsig: await sshSign(keyOf('bob').file, old), signedAt, evidence } })).toMatch(/expired/);
      // Signed for another run of the same workflow id.
      const now = new Date().toISOString();
      const other = signedMessage({ workflowId: h.workflowId, runId: 'another-run', ...go, evidence, signedAt: now });
      expect(await refusedUpdate(h, { ...go, signature: { sshsig: await sshSign(keyOf('bob').file, other), signedAt: now, evidence } })).toMatch(/does not verify/);
      // A signed no-go whose reason was changed on the way.
      const noGo = await signed(h, { gate: 'cutover', decision: 'no-go', by: 'bob', reason: 'disk alarm' }, keyOf('bob'));
      expect(await refusedUpdate(h, { ...noGo, reason: 'all fine' })).toMatch(/does not verify/);
      expect((await h.query(statusQuery)).refusedDecisions).toEqual([]); // updates refused leave nothing in history

      const decision = await decideSigned(h, go);
      expect(decision).toMatchObject({ by: 'bob', decision: 'go', via: 'update', fingerprint: fp('bob'), signature: { evidence: expect.stringMatching(/^sha256:/) } });
      expect(decision.signature!.sshsig).toMatch(/BEGIN SSH SIGNATURE/);
      await atGate(h, 'complete');
      await decideSigned(h, { gate: 'complete', decision: 'go', by: 'bob' });
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.decisions.map((d) => d.fingerprint)).toEqual([fp('bob'), fp('bob')]);
      return h.workflowId;
    });
    recordHistory('postgres-failover-signed-decisions', id);
  });

  it('signals without a valid signature are refused and recorded, the last ones only; replays are refused', async () => {
    const q = uniqueQueue('sig-signal');
    const { activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await h.signal(decisionSignal, { gate: 'cutover', decision: 'go', by: 'bob' });
      await h.signal(decisionSignal, await signed(h, { gate: 'cutover', decision: 'go', by: 'bob' }, keyOf('mallory')));
      await h.signal(abortSignal, { ...(await signedControl(h, 'abort', 'mallory', keyOf('mallory'), 'mine now')), reason: 'mine now' });
      await h.signal(pauseSignal, { by: 'alice' });
      let s = await refusals(h, 4);
      expect(s.refusedDecisions.map((r) => [r.decision, r.by, r.why])).toEqual([
        ['go', 'bob', expect.stringMatching(/unsigned/)],
        ['go', 'bob', expect.stringMatching(/not bob's/)],
        ['abort', 'mallory', expect.stringMatching(/mallory neither started this migration nor approves it/)],
        ['pause', 'alice', expect.stringMatching(/unsigned/)],
      ]);
      expect(s.abort).toBeNull();
      expect(s.paused).toBe(false);

      // A signed pause is taken once; the same message again is a replay.
      const pause = await signedControl(h, 'pause', 'alice', keyOf('alice'));
      await h.signal(pauseSignal, pause);
      await h.signal(pauseSignal, pause);
      s = await refusals(h, 5);
      expect(s.refusedDecisions.at(-1)).toMatchObject({ decision: 'pause', by: 'alice', why: expect.stringMatching(/used already/) });
      expect(s.controls).toEqual([expect.objectContaining({ action: 'pause', by: 'alice', fingerprint: fp('alice') })]);
      await sendSigned(h, 'resume', 'alice');

      // Refusals are bounded: the latest are kept, the older ones counted.
      for (let i = 0; i < REFUSALS_KEPT; i++) await h.signal(decisionSignal, { gate: 'cutover', decision: 'go', by: `nobody-${i}`, reason: 'x'.repeat(1000) });
      s = await refusals(h, 5 + REFUSALS_KEPT);
      expect(s.refusedDecisions).toHaveLength(REFUSALS_KEPT);
      expect(s.refusedDropped).toBe(5);
      expect(s.refusedDecisions.at(-1)!.reason!.length).toBeLessThan(400);

      await h.signal(decisionSignal, await signed(h, { gate: 'cutover', decision: 'go', by: 'bob' }, keyOf('bob')));
      await atGate(h, 'complete');
      const status = await h.query(statusQuery);
      expect(status.decisions[0]).toMatchObject({ by: 'bob', via: 'signal', fingerprint: fp('bob') });
      await h.terminate('test done');
    });
  });

  it('the starter may abort (with a key given at start when not an approver); an outsider may not', async () => {
    const q = uniqueQueue('sig-abort');
    const { activities } = fakes();
    const { alice, bob, carol } = people();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ approval: { ...signedApproval([bob, carol]), starter: alice.signer } }));
      await atGate(h, 'cutover');
      await sendSigned(h, 'abort', 'mallory', 'let me');
      const s = await refusals(h, 1);
      expect(s.refusedDecisions[0].why).toMatch(/neither started/);
      // The starter cannot approve without being an approver, but may stop the run.
      expect(await refusedUpdate(h, await signed(h, { gate: 'cutover', decision: 'go', by: 'alice' }, alice))).toMatch(/alice is not an approver/);
      await sendSigned(h, 'abort', 'alice', 'wrong window');
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.abort).toMatchObject({ by: 'alice', reason: 'wrong window', fingerprint: fp('alice') });
      expect(status.failure).toBe('aborted by alice: wrong window');
    });
  });

  it('a pause sent inside the outage window (fence → switch) is held, then applied once the window closes', async () => {
    const q = uniqueQueue('sig-outage');
    const { calls, activities } = fakes();
    const slowFence: Partial<Activities> = {
      ...activities,
      async fencePrimary(a) {
        await new Promise((r) => setTimeout(r, 1500));
        return activities.fencePrimary!(a);
      },
    };
    const id = await withWorker(env, q, slowFence, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'bob' });
      const inFence = await eventually(async () => {
        const s = await h.query(statusQuery);
        return s.phase === 'fence' ? s : null;
      }, 'the fence running');
      expect(inFence.outageWindow).toMatchObject({ name: 'fence → switch' });
      await sendSigned(h, 'pause', 'alice');
      const held = await eventually(async () => (await h.query(statusQuery)).heldPause ?? null, 'the pause held');
      expect(held).toMatchObject({ by: 'alice', held: expect.stringMatching(/inside the outage window fence → switch/) });
      // Promotion and switch go on; the pause takes effect after them, before the soak.
      const paused = await eventually(async () => {
        const s = await h.query(statusQuery);
        return s.phase === 'paused' ? s : null;
      }, 'paused after the window');
      expect(paused.steps.map((st) => [st.name, st.state])).toEqual(expect.arrayContaining([['promote', 'done'], ['switch-traffic', 'done']]));
      expect(paused.steps.map((st) => st.name)).not.toContain('soak');
      expect(paused.outageWindow).toBeNull();
      expect(paused.controls![0]).toMatchObject({ action: 'pause', by: 'alice', appliedAt: expect.any(String) });
      expect(calls).toContain('dns:127.0.2.1');
      await sendSigned(h, 'resume', 'alice');
      await atGate(h, 'complete');
      await decideSigned(h, { gate: 'complete', decision: 'go', by: 'bob' });
      expect((await h.result()).outcome).toBe('completed');
      return h.workflowId;
    });
    recordHistory('postgres-failover-signed-outage-pause', id);
  });

  it('a run whose input has no keys does not start', async () => {
    const q = uniqueQueue('sig-none');
    const { calls, activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ approval: { approvers: ['alice', 'bob'], requireSecondPerson: true } }));
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.InvalidPlan);
      expect(failure.message).toMatch(/approval.signers is missing/);
    });
    expect(calls).toEqual([]);
  });

  it('keeps a report per run: a second run with the same workflow id does not overwrite the first', async () => {
    const q = uniqueQueue('sig-report');
    const { activities } = fakes();
    const objects: string[] = [];
    const withStore: Partial<Activities> = {
      ...activities,
      async storeReport({ bucket, object }) {
        objects.push(object);
        return { uri: `gs://${bucket}/${object}`, bytes: 1 };
      },
    };
    const workflowId = uniqueQueue('pgsig-report');
    const runs: string[] = [];
    await withWorker(env, q, withStore, async () => {
      for (let i = 0; i < 2; i++) {
        const h = await start(q, input({ artifacts: { bucket: 'b', prefix: 'reports/' } }), workflowId);
        runs.push(h.firstExecutionRunId);
        await atGate(h, 'cutover');
        await decideSigned(h, { gate: 'cutover', decision: 'no-go', by: 'bob', reason: `run ${i}` });
        const status = (await failureOf(h)).details![0] as MigrationStatus;
        expect(status.figures.reportUri).toBe(`gs://b/reports/${workflowId}/${h.firstExecutionRunId}.json`);
      }
    });
    expect(objects).toEqual(runs.map((r) => `reports/${workflowId}/${r}.json`));
    expect(new Set(objects).size).toBe(2);
  });
});
