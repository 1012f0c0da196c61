// The file-sync workflow against the real Temporal dev server, with typed fake activities: gate rules,
// compensation order, abort, pause, timeouts, and a replay of a stored history.
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { RsyncPassInput, RsyncPassResult } from '../../activities/files';
import { fileSync } from '../../workflows';
import type { FileSyncInput } from '../../workflows/file-sync';
import { decisionSignal, ErrorType, statusQuery, type MigrationStatus } from '../../workflows/shared';
import { recordHistory } from '../helpers/history';
import { decideSigned, keyOf, people, sendSigned, signed, signedApproval } from '../helpers/signing';
import { atGate, failureOf, fakeHost } from '../helpers/workflows';
import { eventually, temporalTestEnv, uniqueQueue, withWorker, type TemporalTestEnv } from '../helpers/temporal';

let env: TemporalTestEnv;
beforeAll(async () => {
  env = await temporalTestEnv();
});
afterAll(async () => {
  await env?.close();
});


function input(overrides: Partial<FileSyncInput> = {}): FileSyncInput {
  return {
    name: 'assets',
    startedBy: 'alice',
    hosts: { dc1: fakeHost('dc1', '127.0.1.1'), dc2: fakeHost('dc2', '127.0.2.1') },
    source: { host: 'dc1', path: '/src' },
    target: { host: 'dc2', path: '/dst', removeOnRollback: true },
    exclude: [],
    catchUp: { thresholdBytes: 1000, maxPasses: 5, pauseBetweenPassesMs: 10 },
    bandwidthLimitKBps: 0,
    hooks: { freeze: { host: 'dc1', command: 'freeze' }, unfreeze: { host: 'dc1', command: 'unfreeze' } },
    approval: signedApproval([people().alice, people().bob]),
    gates: { cutover: { onTimeout: 'wait' } },
    traffic: { dns: { server: '127.0.3.1', port: 5053, zone: 'z', tsigKey: { secret: 'tsig' }, name: 'assets.z', ttl: 1, from: '127.0.1.1', to: '127.0.2.1' } },
    ...overrides,
  };
}

/** Fake activities that record what ran; each pass moves fewer bytes than the one before. */
function fakes(
  opts: { passBytes?: number[]; failVerify?: boolean; failUnfreeze?: boolean; slowCopy?: boolean; failSwitch?: boolean; failSwitchBack?: boolean } = {},
) {
  const calls: string[] = [];
  const passBytes = [...(opts.passBytes ?? [50_000, 5_000, 500, 10])];
  const pass = (i: RsyncPassInput): RsyncPassResult => ({
    pass: i.pass,
    filesTransferred: 3,
    bytesTransferred: passBytes.shift() ?? 0,
    literalBytes: 0,
    deletedFiles: 0,
    totalFiles: 100,
    totalBytes: 100_000,
    durationMs: 5,
    attempt: 1,
  });
  const activities: Partial<Activities> = {
    async preflightFileSync() {
      calls.push('preflight');
      return { sourceFiles: 100, sourceBytes: 100_000, targetState: 'absent', targetFreeBytes: 1e9 };
    },
    async lookupDns() {
      calls.push('lookupDns');
      return { addresses: ['127.0.1.1'] };
    },
    async rsyncPass(i) {
      calls.push(`rsync:${i.pass}${i.delete ? ':delete' : ''}${i.recordChanges ? `:${i.source.path}` : ''}`);
      if (opts.slowCopy && i.pass === 'initial') {
        // Heartbeat until cancelled, like a long transfer.
        for (;;) {
          Context.current().heartbeat({ bytes: 1 });
          await Context.current().sleep(100);
        }
      }
      return pass(i);
    },
    async verifyTrees() {
      calls.push('verify');
      if (opts.failVerify) throw ApplicationFailure.nonRetryable('1 difference: >fcst...... a.txt', ErrorType.VerificationFailed);
      return { identical: true, files: 100, bytes: 100_000, differences: [], verifiedAt: new Date().toISOString() };
    },
    async verifyLive() {
      calls.push('verifyLive');
      return { files: 100, bytes: 100_000, changedSinceLastPass: 2, durationMs: 5, verifiedAt: new Date().toISOString() };
    },
    async verifyFrozen(i) {
      calls.push(`verifyFrozen:${i.source.path}`);
      if (opts.failVerify) throw ApplicationFailure.nonRetryable('1 difference: dc1: -rw-r--r-- 10 2026/11/27 04:00:00 a.txt', ErrorType.VerificationFailed);
      return { files: 100, bytes: 100_000, entries: 110, checksummedFiles: 3, durationMs: 5, verifiedAt: new Date().toISOString() };
    },
    async fenceSource(i) {
      calls.push('fence');
      return { fenced: `${i.source.path}.cutover-fenced`, already: false };
    },
    async unfenceSource(i) {
      calls.push('unfence');
      return { restored: i.source.path, already: false };
    },
    async runHook({ label }) {
      calls.push(`hook:${label}`);
      if (label === 'unfreeze' && opts.failUnfreeze) throw ApplicationFailure.nonRetryable('unfreeze hook exited 1', ErrorType.CommandFailed);
      return { output: `${label} ok` };
    },
    async switchDns({ to }) {
      calls.push(`dns:${to}`);
      if (opts.failSwitch && to === '127.0.2.1') throw ApplicationFailure.nonRetryable('nsupdate: SERVFAIL', ErrorType.CommandFailed);
      if (opts.failSwitchBack && to === '127.0.1.1') throw ApplicationFailure.nonRetryable('nsupdate: REFUSED (TSIG key revoked)', ErrorType.CommandFailed);
      return { previous: [], changed: true, confirmedMs: 3 };
    },
    async removeTargetTree() {
      calls.push('removeTarget');
      return { removed: '/dst removed' };
    },
  };
  return { calls, activities };
}

async function start(queue: string, args: FileSyncInput): Promise<WorkflowHandle<typeof fileSync>> {
  return env.client.workflow.start(fileSync, { taskQueue: queue, workflowId: uniqueQueue('wf'), args: [args] });
}

describe('file-sync workflow', () => {
  it('copies, catches up until under the threshold, waits for a second person, then cuts over', async () => {
    const q = uniqueQueue('fs-happy');
    const { calls, activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const s = await atGate(h, 'cutover');
      expect(s.gate!.evidence).toMatchObject({ lastPass: 'catch-up-2', lastPassBytes: 500, thresholdBytes: 1000 });
      // The starter may not approve their own migration.
      const refused = await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'alice' }).catch((e) => e);
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(String((refused as WorkflowUpdateFailedError).cause?.message)).toMatch(/second person/);
      const decision = await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'lag is fine' });
      expect(decision).toMatchObject({ by: 'bob', decision: 'go', via: 'update', evidence: { lastPass: 'catch-up-2' } });
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.pointOfNoReturn.passedAt).not.toBeNull();
      expect(result.decisions).toHaveLength(1);
      expect(result.compensations).toEqual([]);
      expect(result.steps.map((st) => st.name)).toEqual([
        'preflight', 'check-dns', 'initial-copy', 'catch-up-1', 'catch-up-2', 'verify-live',
        'freeze', 'fence-source', 'final-sync', 'verify-frozen', 'switch-traffic', 'unfreeze',
      ]);
      expect(result.figures).toMatchObject({ liveVerifiedFiles: 100, checksummedInFreeze: 3, verifiedFiles: 100, frozenWindowMs: expect.any(Number) });
    });
    // The whole tree by checksum before the gate, while live; the final sync and the freeze's verify read the fenced tree.
    expect(calls).toEqual([
      'preflight', 'lookupDns', 'rsync:initial', 'rsync:catch-up-1', 'rsync:catch-up-2', 'verifyLive',
      'hook:freeze', 'fence', 'rsync:final:delete:/src.cutover-fenced', 'verifyFrozen:/src.cutover-fenced', 'dns:127.0.2.1', 'hook:unfreeze',
    ]);
  });

  it('replays its stored history deterministically', async () => {
    const q = uniqueQueue('fs-replay');
    const { activities } = fakes();
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await h.signal(decisionSignal, await signed(h, { gate: 'cutover', decision: 'go', by: 'bob' }, keyOf('bob')));
      await h.result();
      return h.workflowId;
    });
    const history = await env.client.workflow.getHandle(id).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: env.bundle }, history, id);
    recordHistory('file-sync-fenced-completed', id);
  });

  it('a no-go rolls back: the copy is removed and nothing else ran', async () => {
    const q = uniqueQueue('fs-nogo');
    const { calls, activities } = fakes();
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await decideSigned(h, { gate: 'cutover', decision: 'no-go', by: 'bob', reason: 'dc2 disk alarm' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.outcome).toBe('rolled-back');
      expect(status.failure).toMatch(/no-go at gate "cutover" by bob: dc2 disk alarm/);
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([['initial-copy', 'done']]);
      return h.workflowId;
    });
    expect(calls).not.toContain('hook:freeze');
    expect(calls.at(-1)).toBe('removeTarget');
    recordHistory('file-sync-rolled-back', id);
  });

  it('a failed verify undoes in reverse order: the fence lifted, unfreeze, then remove the copy', async () => {
    const q = uniqueQueue('fs-verify');
    const { calls, activities } = fakes({ failVerify: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'bob' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      expect(failure.message).toMatch(/1 difference/);
    });
    expect(calls.slice(calls.indexOf('verifyFrozen:/src.cutover-fenced'))).toEqual(['verifyFrozen:/src.cutover-fenced', 'unfence', 'hook:unfreeze', 'removeTarget']);
  });

  it('a failed compensation ends as ManualInterventionRequired with what is left to do', async () => {
    const q = uniqueQueue('fs-manual');
    const { calls, activities } = fakes({ failVerify: true, failUnfreeze: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'bob' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.ManualInterventionRequired);
      const status = failure.details![0] as MigrationStatus;
      expect(status.manualActions).toEqual(['run the unfreeze hook on dc1: unfreeze']);
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([['fence-source', 'done'], ['freeze', 'failed'], ['initial-copy', 'done']]);
    });
    // The other undo still ran after the failed one.
    expect(calls.at(-1)).toBe('removeTarget');
  });

  it('a switch back that fails stops the rollback before unfreeze and removal: they are skipped and left, in order, to an operator', async () => {
    const q = uniqueQueue('fs-switchback');
    const { calls, activities } = fakes({ failSwitch: true, failSwitchBack: true });
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'bob' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.ManualInterventionRequired);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toMatch(/SERVFAIL/);
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([
        ['switch-traffic', 'failed'],
        ['fence-source', 'skipped'],
        ['freeze', 'skipped'],
        ['initial-copy', 'skipped'],
      ]);
      expect(status.compensations[1].detail).toBe('not run: the undo of switch-traffic failed');
      expect(status.manualActions).toEqual([
        'point assets.z back at 127.0.1.1 (nsupdate -k <TSIG key: secret "tsig">)',
        'on dc1: remove the marker file /src and move /src.cutover-fenced back to /src (not run because the undo of switch-traffic failed: do it only after that)',
        'run the unfreeze hook on dc1: unfreeze (not run because the undo of switch-traffic failed: do it only after that)',
        'remove /dst on dc2 (not run because the undo of switch-traffic failed: do it only after that)',
      ]);
      return h.workflowId;
    });
    recordHistory('file-sync-switch-back-failed', id);
    // Writers stay frozen and the dc2 copy stays: nothing ran after the failed switch back.
    expect(calls.slice(calls.indexOf('dns:127.0.2.1'))).toEqual(['dns:127.0.2.1', 'dns:127.0.1.1']);
  });

  it('a switch back that succeeds lets the rollback go on: unfreeze, then remove the copy', async () => {
    const q = uniqueQueue('fs-switchback-ok');
    const { calls, activities } = fakes({ failSwitch: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'bob' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([
        ['switch-traffic', 'done'],
        ['fence-source', 'done'],
        ['freeze', 'done'],
        ['initial-copy', 'done'],
      ]);
    });
    expect(calls.slice(calls.indexOf('dns:127.0.2.1'))).toEqual(['dns:127.0.2.1', 'dns:127.0.1.1', 'unfence', 'hook:unfreeze', 'removeTarget']);
  });

  it('holds writers for the record\'s TTL after the switch when the plan asks; a waived freeze shows at the gate', async () => {
    const q = uniqueQueue('fs-hold');
    const { calls, activities } = fakes();
    const base = input();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, {
        ...base,
        hooks: { unfreeze: base.hooks.unfreeze, freezeWaived: 'nothing writes: a nightly export' },
        holdWritersForTtl: true,
        traffic: { dns: { ...base.traffic.dns, ttl: 2 } },
      });
      const s = await atGate(h, 'cutover');
      expect(s.gate!.evidence).toMatchObject({ freeze: 'waived: nothing writes: a nightly export', liveVerifiedFiles: 100 });
      await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'bob' });
      const result = await h.result();
      const step = (name: string) => result.steps.find((st) => st.name === name)!;
      expect(result.steps.map((st) => st.name).slice(-4)).toEqual(['verify-frozen', 'switch-traffic', 'hold-writers', 'unfreeze']);
      expect(Date.parse(step('unfreeze').startedAt) - Date.parse(step('switch-traffic').endedAt!)).toBeGreaterThanOrEqual(1900);
      expect(step('hold-writers').summary).toMatch(/TTL \(2 s\) has passed since the switch/);
    });
    expect(calls).not.toContain('hook:freeze');
  });

  it('abort cancels a running copy and rolls back', async () => {
    const q = uniqueQueue('fs-abort');
    const { calls, activities } = fakes({ slowCopy: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await eventually(async () => (await h.query(statusQuery)).phase === 'initial-copy', 'copy running');
      await sendSigned(h, 'abort', 'alice', 'wrong window');
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      expect((failure.details![0] as MigrationStatus).failure).toBe('aborted by alice: wrong window');
    });
    expect(calls).toEqual(['preflight', 'lookupDns', 'rsync:initial', 'removeTarget']);
  });

  it('refuses decisions by signal from non-approvers and records them', async () => {
    const q = uniqueQueue('fs-signal');
    const { activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await h.signal(decisionSignal, { gate: 'cutover', decision: 'go', by: 'mallory' });
      const s = await eventually(async () => {
        const st = await h.query(statusQuery);
        return st.refusedDecisions.length ? st : null;
      }, 'refused decision');
      expect(s.refusedDecisions[0].why).toMatch(/mallory is not an approver/);
      expect(s.gate?.name).toBe('cutover');
      await h.signal(decisionSignal, await signed(h, { gate: 'cutover', decision: 'go', by: 'bob' }, keyOf('bob')));
      expect((await h.result()).outcome).toBe('completed');
    });
  });

  it('a gate timeout with onTimeout=rollback rolls back; with wait it notifies again and keeps waiting', async () => {
    const q = uniqueQueue('fs-timeout');
    const { activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h1 = await start(q, input({ gates: { cutover: { timeoutMs: 1000, onTimeout: 'rollback' } } }));
      const failure = await failureOf(h1);
      expect(failure.type).toBe(ErrorType.RolledBack);
      expect((failure.details![0] as MigrationStatus).failure).toMatch(/gate "cutover" timed out/);

      const h2 = await start(q, input({ gates: { cutover: { timeoutMs: 500, onTimeout: 'wait' } } }));
      const s = await eventually(async () => {
        const st = await h2.query(statusQuery);
        return (st.gate?.notifications ?? 0) >= 3 ? st : null;
      }, 'renotified gate');
      expect(s.phase).toBe('waiting-at-cutover');
      await decideSigned(h2, { gate: 'cutover', decision: 'go', by: 'bob' });
      expect((await h2.result()).outcome).toBe('completed');
    });
  });

  it('pause holds the run between steps until resume', async () => {
    const q = uniqueQueue('fs-pause');
    const { activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await sendSigned(h, 'pause', 'alice');
      await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'bob' });
      await eventually(async () => (await h.query(statusQuery)).phase === 'paused', 'paused phase');
      const before = await h.query(statusQuery);
      expect(before.steps.map((st) => st.name)).not.toContain('freeze');
      await sendSigned(h, 'resume', 'alice');
      expect((await h.result()).outcome).toBe('completed');
    });
  });
});

