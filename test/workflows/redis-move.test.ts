// The redis-move workflow against the real Temporal dev server, with typed fake activities: the phases of both
// modes in order, the integrity figures at the cutover gate, compensation order (a dump the target cannot load, a
// pause hook that never confirms, a no-go), a resume that fails (loud, manual), the recover gate and the way back
// after the switch (and its refusal), and replays of stored histories.
import { type WorkflowHandle } from '@temporalio/client';
import { activityInfo, Context, getClient, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { CompareResult, RedisMovePreflightResult, RedisServerFacts } from '../../activities/redis';
import { redisMove } from '../../workflows';
import type { RedisMoveInput } from '../../workflows/redis-move';
import { ErrorType, RECOVER_GATE, redisReadAheadSignal, statusQuery, type MigrationStatus } from '../../workflows/shared';
import { decideSigned, people, signedApproval } from '../helpers/signing';
import { recordHistory } from '../helpers/history';
import { atGate, failureOf, fakeHost } from '../helpers/workflows';
import { eventually, temporalTestEnv, uniqueQueue, withWorker, type TemporalTestEnv } from '../helpers/temporal';

let env: TemporalTestEnv;
beforeAll(async () => {
  env = await temporalTestEnv();
});
afterAll(async () => {
  await env?.close();
});

function input(overrides: Partial<RedisMoveInput> = {}): RedisMoveInput {
  return {
    name: 'jobs',
    startedBy: 'alice',
    mode: 'dump',
    hosts: { dc1: fakeHost('dc1', '127.0.1.1'), dc2: fakeHost('dc2', '127.0.2.1') },
    source: { host: 'dc1', address: '127.0.1.1', port: 6379, password: { secret: 'redis' } },
    target: { host: 'dc2', address: '127.0.2.1', port: 6379, password: { secret: 'redis' }, overwrite: false, service: { start: 'start-it', stop: 'stop-it' }, loadTimeoutMs: 60_000 },
    jobs: { pause: { host: 'dc1', command: 'jobs pause' }, resume: { host: 'dc1', command: 'jobs resume' }, timeoutMs: 5000 },
    writePauseMaxMs: 600_000,
    replicate: { maxLagBytes: 1024, timeoutMs: 60_000, onTimeout: 'rollback' },
    compare: { connections: 2, maxDifferences: 5, ttlToleranceMs: 2000 },
    archive: { bucket: 'artifacts', prefix: 'dumps' },
    approval: signedApproval([people().alice, people().bob]),
    gates: { cutover: { onTimeout: 'wait' }, complete: { onTimeout: 'wait' } },
    traffic: { dns: { server: '127.0.3.1', port: 5053, zone: 'z', tsigKey: { secret: 'tsig' }, name: 'redis.z', ttl: 1 } },
    ...overrides,
  };
}

const facts = (version: string, rdb: number, keys: number): RedisServerFacts => ({
  version, rdbVersion: rdb, role: 'master', keyspace: keys ? [{ db: 0, keys, expires: 0 }] : [], usedMemoryBytes: 1000, maxmemoryBytes: 0,
  maxmemoryPolicy: 'noeviction', dir: '/data', dbfilename: 'dump.rdb', save: '', appendonly: false, lastBgsaveOk: true, bgsaveInProgress: false, modules: [],
});

const compared = (keysDifferent = 0, differences: CompareResult['differences'] = []): CompareResult => ({
  equal: keysDifferent === 0, dbs: [{ db: 0, sourceKeys: 100, targetKeys: 100 }], keysCompared: 100, targetKeysScanned: 100, keysDifferent,
  byKind: { type: 0, value: keysDifferent, ttl: 0, 'missing-on-target': 0, 'only-on-target': 0, uncomparable: 0 }, differences,
  rechecked: 0, clearedByRecheck: 0, bigKeys: 0, method: 'digest', elapsedMs: 12, keysPerSec: 8000,
});

interface FakeOptions {
  failStart?: boolean;
  failPause?: boolean;
  failResume?: 'always' | 'once';
  liveDifferences?: number;
  targetNewer?: boolean;
  /** The comparison beside the load reports this run of the target instead of the one started. */
  comparedRun?: string;
  /** The comparison never says it has read the source ahead (an older worker's activity, a lost signal). */
  silentReadAhead?: boolean;
}

/** Fake activities that record what ran, as "what:detail". */
function fakes(o: FakeOptions = {}) {
  const calls: string[] = [];
  let dns = '127.0.1.1';
  let resumeFailures = 0;
  /** The target's run id: a new one when start-target succeeds. */
  let runId = 'run-1';
  const activities: Partial<Activities> = {
    async preflightRedisMove(): Promise<RedisMovePreflightResult> {
      calls.push('preflight');
      const source = facts('7.0.15', 10, 100);
      const target = o.targetNewer ? facts('7.2.4', 11, 0) : facts('7.0.15', 10, 0);
      return {
        source, target, sourceDumpPath: '/data/dump.rdb', targetDumpPath: '/data/dump.rdb', sourceDumpBytes: 5000, targetFreeBytes: 1e9, targetState: 'empty',
        targetHasDumpFile: false, wayBack: o.targetNewer ? { possible: false, reason: 'the target writes RDB 11, the source loads up to 10' } : { possible: true, reason: 'same version' }, notes: [],
      };
    },
    async lookupDns() {
      calls.push('lookupDns');
      return { addresses: [dns] };
    },
    async runJobsHook({ label }) {
      calls.push(`hook:${label}`);
      if (label === 'pause' && o.failPause) throw ApplicationFailure.nonRetryable('pause hook on dc1 did not finish within 5 s', ErrorType.CommandFailed);
      if (label === 'resume' && (o.failResume === 'always' || (o.failResume === 'once' && resumeFailures++ === 0))) {
        throw ApplicationFailure.nonRetryable('resume hook on dc1 exited 2: connection refused', ErrorType.CommandFailed);
      }
      return { output: `${label} ok`, ms: 5, tries: 1 };
    },
    async redisPauseWrites({ server }) {
      calls.push(`pause-writes:${server.label}`);
    },
    async redisUnpauseWrites({ server }) {
      calls.push(`unpause:${server.label}`);
    },
    async redisBgsave() {
      calls.push('bgsave');
      return { lastSaveTime: 1_700_000_000, durationMs: 40, waitedForOther: false };
    },
    async redisKeyspace() {
      return { dbs: [{ db: 0, keys: 100, expires: 0 }], keys: 100 };
    },
    async copyRedisDump({ snapshot, target }) {
      calls.push(`copy:${snapshot}->${target.path}`);
      return { bytes: 5000, sha256: 'ab'.repeat(32), copyMs: 30, sourceShaMs: 1, targetShaMs: 1, attempt: 1 };
    },
    async archiveRedisDump({ object }) {
      calls.push(`archive:${object}`);
      return { uri: `gs://artifacts/${object}`, bytes: 5000 };
    },
    async stopRedisServer() {
      calls.push('stop-target');
      return { wasRunning: true, stopMs: 10 };
    },
    async placeRedisDump() {
      calls.push('place');
      return { keptPrevious: false, alreadyPlaced: false };
    },
    async startRedisServer() {
      calls.push('start-target');
      if (o.failStart) throw ApplicationFailure.nonRetryable('target refuses connections 10 s after `start-it`: a corrupt RDB?', ErrorType.CommandFailed);
      runId = 'run-2';
      return { alreadyRunning: false, loadMs: 20, keyspace: [{ db: 0, keys: 100, expires: 0 }], keysLoaded: 100, runId };
    },
    async redisRunId() {
      calls.push(`run-id:${runId}`);
      return { runId };
    },
    // Reads the source at once, then waits (heartbeating, so a cancellation reaches it) for another run id.
    async compareRedisBesideLoad({ targetRunId, readAhead }) {
      calls.push(readAhead ? 'compare:read-ahead' : 'compare:source');
      if (readAhead && !o.silentReadAhead) {
        // As the activity does: its workflow hears that the source has been read, and the pause goes on.
        const run = activityInfo().workflowExecution!;
        await getClient().workflow.getHandle(run.workflowId, run.runId).signal(redisReadAheadSignal, { ahead: true, keys: 100, ms: 5, reread: 0, fullRereads: 0, messages: 0, attempt: activityInfo().attempt });
      }
      try {
        while (runId === targetRunId) {
          heartbeat();
          await Context.current().sleep(20);
        }
      } catch (err) {
        calls.push('compare:cancelled');
        throw err;
      }
      calls.push(`compare:target:${runId}`);
      return { ...compared(), phasesMs: { source: 5, waitingForTarget: 20, target: 5, recheck: 0 }, targetRunId: o.comparedRun ?? runId };
    },
    async compareRedisServers() {
      calls.push('compare');
      const n = calls.filter((c) => c === 'compare').length === 1 ? (o.liveDifferences ?? 0) : 0;
      return compared(n, Array.from({ length: n }, (_, i) => ({ db: 0, key: `bull:q:${i}`, kind: 'value' as const, detail: 'list length 3 on the source, 2 on the target' })));
    },
    async compareRedisKeys({ keys }) {
      calls.push(`compare-keys:${keys.length}`);
      return { ...compared(), keysCompared: keys.length };
    },
    async redisHoldWrites({ lastSaveTime }) {
      calls.push('hold-writes');
      return { quiet: true, changesSinceSave: 0, lastSaveTime };
    },
    async switchDns({ to }) {
      calls.push(`dns:${to}`);
      dns = to;
      return { previous: [], changed: true, confirmedMs: 3 };
    },
    async redisFollow({ replica, master }) {
      calls.push(`follow:${replica.label}->${master.label}`);
      return { changed: true };
    },
    async redisCatchUpWindow({ replica }) {
      calls.push(`lag:${replica.label}`);
      return { masterOffset: 500, replicaOffset: 500, linkUp: true, caughtUp: true, lagBytes: 0, checkedAt: new Date().toISOString() };
    },
    async redisHandOver({ from, to }) {
      calls.push(`hand-over:${from.label}->${to.label}`);
      const ks = [{ db: 0, keys: 100, expires: 0 }];
      return { alreadyPromoted: false, pausedAt: '', promotedAt: new Date().toISOString(), pauseToWritableMs: 4, catchUpMs: 1, masterOffset: 500, replicaOffset: 500, fromKeyspace: ks, toKeyspace: ks };
    },
    async redisDetach({ flush }) {
      calls.push(`detach:${flush}`);
      return 'target no longer replicates, emptied again';
    },
    async restoreRedisTarget() {
      calls.push('restore-target');
      return 'target stopped, the copied dump removed, started again: 0 keys';
    },
    async removeRedisDumpCopies({ files }) {
      calls.push(`remove:${files.length}`);
      return { removed: files.map((f) => f.path) };
    },
  };
  return { calls, activities };
}

async function start(queue: string, args: RedisMoveInput): Promise<WorkflowHandle<typeof redisMove>> {
  return env.client.workflow.start(redisMove, { taskQueue: queue, workflowId: uniqueQueue('rmwf'), args: [args] });
}

const decide = (h: WorkflowHandle, gate: string, decision: 'go' | 'no-go' | 'retry' | 'way-back', reason = 'fine') =>
  decideSigned(h, { gate, decision, by: 'bob', reason });

/** Dump mode's calls, without those of the comparison beside the load (compare:*: they interleave). */
const DUMP_CALLS = [
  'preflight', 'lookupDns', 'run-id:run-1', 'hook:pause', 'pause-writes:source', 'bgsave', 'copy:/data/dump.rdb.cutover-jobs->/data/dump.rdb.cutover-incoming-jobs',
  'stop-target', 'place', 'start-target', 'hold-writes', 'dns:127.0.2.1', 'follow:source->target', 'hook:resume',
  // outside the write pause: the archive of the snapshot
  'archive:dumps/WF.rdb',
  // the complete gate's evidence looks the name up
  'lookupDns', 'remove:2',
];

describe('redis-move workflow', () => {
  it('dump mode: jobs and writes paused, dump copied and loaded while the source is compared, the target compared once loaded, switch, fence, resume', async () => {
    const q = uniqueQueue('rm-dump');
    const { calls, activities } = fakes();
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const atCutover = await atGate(h, 'cutover');
      expect(atCutover.gate!.evidence).toMatchObject({ mode: 'dump', keysCompared: 100, keysDifferent: 0, differences: 'none', verdict: 'identical', keyCounts: 'db0 100/100' });
      expect(atCutover.gate!.evidence.decideBefore).toBeTruthy();
      // Writes stay paused at the gate: a late decision rolls back rather than let the source take writes.
      expect(Date.parse(atCutover.gate!.deadline!) - Date.parse(atCutover.gate!.openedAt)).toBeLessThanOrEqual(600_000);
      expect(atCutover.pointOfNoReturn.passedAt).toBeNull();
      const refused = await decideSigned(h, { gate: 'cutover', decision: 'go', by: 'alice' }).catch((e: Error) => e);
      expect(String((refused as Error & { cause?: Error }).cause?.message)).toMatch(/second person/);
      await decide(h, 'cutover', 'go');
      const atComplete = await atGate(h, 'complete');
      expect(atComplete.pointOfNoReturn.passedAt).not.toBeNull();
      expect(atComplete.gate!.evidence).toMatchObject({ dns: 'redis.z → 127.0.2.1', sourceFollows: 'link up, 0 bytes behind' });
      await decide(h, 'complete', 'go');
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.steps.map((s) => s.name)).toEqual([
        'preflight', 'check-dns', 'integrity', 'pause-jobs', 'pause-writes', 'bgsave', 'copy-dump', 'stop-target', 'place-dump', 'start-target',
        'hold-writes', 'switch-traffic', 'fence-source', 'resume-jobs', 'archive-dump', 'clean-up',
      ]);
      expect(result.figures).toMatchObject({ mode: 'dump', dumpKeys: 100, dumpBytes: 5000, keysCompared: 100, keysDifferent: 0, wayBack: 'possible', dumpArchive: expect.stringMatching(/^gs:\/\/artifacts\/dumps\//) });
      expect(result.compensations).toEqual([]);
      return h.workflowId;
    });
    expect(calls.filter((c) => !c.startsWith('lag:') && !c.startsWith('compare:'))).toEqual(DUMP_CALLS.map((c) => c.replace('WF', id)));
    // The source is read ahead, before the jobs are paused (the pause waits for it); the target once it serves
    // the dump (its new run), before the gate.
    expect(calls.indexOf('compare:read-ahead')).toBeGreaterThan(calls.indexOf('run-id:run-1'));
    expect(calls.indexOf('compare:read-ahead')).toBeLessThan(calls.indexOf('hook:pause'));
    expect(calls.indexOf('compare:target:run-2')).toBeGreaterThan(calls.indexOf('start-target'));
    expect(calls.indexOf('compare:target:run-2')).toBeLessThan(calls.indexOf('hold-writes'));
    const history = await env.client.workflow.getHandle(id).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: env.bundle }, history, id);
    recordHistory('redis-move-completed', id); // kept from before the read-ahead: the older paths replay
    recordHistory('redis-move-read-ahead', id);
  });

  it('dump mode: a comparison that never says it has read ahead holds the pause back only readAheadTimeout; the move goes on', async () => {
    const q = uniqueQueue('rm-silent');
    const { calls, activities } = fakes({ silentReadAhead: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ compare: { connections: 2, maxDifferences: 5, ttlToleranceMs: 2000, readAheadTimeoutMs: 2000 } }));
      const atCutover = await atGate(h, 'cutover');
      expect(atCutover.figures.readAhead).toBe('not read within 2 s: the pause started, the source read beside it');
      // The same comparison, not another: started before the pause, it compared the target once loaded.
      expect(calls.filter((c) => c.startsWith('compare:'))).toEqual(['compare:read-ahead', 'compare:target:run-2']);
      expect(calls.indexOf('hook:pause')).toBeGreaterThan(calls.indexOf('compare:read-ahead'));
      expect(atCutover.gate!.evidence).toMatchObject({ keysDifferent: 0, verdict: 'identical' });
      await decide(h, 'cutover', 'no-go', 'test over');
      expect((await failureOf(h)).type).toBe(ErrorType.RolledBack);
    });
  });

  it('replicate mode: live replication and comparison, the gate, then a hand-over and the live differences compared again', async () => {
    const q = uniqueQueue('rm-repl');
    const { calls, activities } = fakes({ liveDifferences: 2 });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ mode: 'replicate', archive: undefined, gates: { cutover: { onTimeout: 'wait' } } }));
      const atCutover = await atGate(h, 'cutover');
      expect(atCutover.gate!.evidence).toMatchObject({ mode: 'replicate', lagBytes: 0, link: 'up', keysDifferent: 2, verdict: '2 keys differ: look at them before saying go' });
      expect(String(atCutover.gate!.evidence.differences)).toMatch(/db0 bull:q:0 \(value\): list length/);
      expect(calls).not.toContain('hook:pause');
      await decide(h, 'cutover', 'go');
      const result = await h.result();
      expect(result.outcome).toBe('completed');
      expect(result.steps.map((s) => s.name)).toEqual([
        'preflight', 'check-dns', 'replicate', 'integrity', 'pause-jobs', 'hand-over', 'verify-counts', 'switch-traffic', 'fence-source', 'resume-jobs',
      ]);
      expect(result.figures.writePauseToPromotedMs).toBe(4);
    });
    const forward = calls.filter((c) => !c.startsWith('lag:'));
    expect(forward).toEqual([
      'preflight', 'lookupDns', 'follow:target->source', 'compare', 'hook:pause', 'hand-over:source->target', 'compare-keys:2', 'dns:127.0.2.1', 'follow:source->target', 'hook:resume',
    ]);
  });

  it('a dump the target cannot load rolls back: target restored, copies removed, source unpaused, jobs resumed on it', async () => {
    const q = uniqueQueue('rm-corrupt');
    const { calls, activities } = fakes({ failStart: true });
    const id = await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const status = failure.details![0] as MigrationStatus;
      expect(status.failure).toMatch(/corrupt RDB/);
      expect(status.compensations.map((c) => [c.step, c.state])).toEqual([
        ['stop-target', 'done'], ['copy-dump', 'done'], ['pause-writes', 'done'], ['pause-jobs', 'done'],
      ]);
      expect(status.compensations.at(-1)!.detail).toMatch(/jobs resumed against the source/);
      return h.workflowId;
    });
    // The comparison waiting for the target is cancelled, and has stopped, before anything is undone.
    expect(calls.slice(calls.indexOf('start-target'))).toEqual(['start-target', 'compare:cancelled', 'restore-target', 'remove:2', 'unpause:source', 'hook:resume']);
    expect(calls).not.toContain('dns:127.0.2.1');
    recordHistory('redis-move-rolled-back', id);
  });

  it('a comparison of another run of the target than the one started rolls back', async () => {
    const q = uniqueQueue('rm-otherrun');
    const { calls, activities } = fakes({ comparedRun: 'run-3' });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      expect((failure.details![0] as MigrationStatus).failure).toMatch(/read the target's run run-3, the start step started run run-2/);
    });
    expect(calls.slice(calls.indexOf('start-target') + 1).filter((c) => !c.startsWith('compare:'))).toEqual(['restore-target', 'remove:2', 'unpause:source', 'hook:resume']);
    expect(calls).not.toContain('hold-writes');
  });

  it('a pause hook that never confirms: nothing left paused, nothing else ran', async () => {
    const q = uniqueQueue('rm-pausehook');
    const { calls, activities } = fakes({ failPause: true });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      expect((failure.details![0] as MigrationStatus).failure).toMatch(/pause hook .* did not finish within 5 s/);
    });
    // The comparison read ahead is stopped before the jobs are resumed.
    expect(calls).toEqual(['preflight', 'lookupDns', 'run-id:run-1', 'compare:read-ahead', 'hook:pause', 'compare:cancelled', 'hook:resume']);
  });

  it('a no-go at the cutover gate undoes everything in reverse order', async () => {
    const q = uniqueQueue('rm-nogo');
    const { calls, activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await decide(h, 'cutover', 'no-go', 'differences in the queue keys');
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
    });
    expect(calls.slice(calls.indexOf('compare:target:run-2') + 1)).toEqual(['restore-target', 'remove:2', 'unpause:source', 'hook:resume']);
  });

  it('replicate mode, no-go: replication detached and the target emptied again', async () => {
    const q = uniqueQueue('rm-repl-nogo');
    const { calls, activities } = fakes();
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input({ mode: 'replicate', archive: undefined }));
      await atGate(h, 'cutover');
      await decide(h, 'cutover', 'no-go', 'not today');
      expect((await failureOf(h)).type).toBe(ErrorType.RolledBack);
    });
    expect(calls.at(-1)).toBe('detach:true');
    expect(calls).not.toContain('hook:resume');
  });

  it('a resume that fails in the rollback says so: manual intervention with the command to run', async () => {
    const q = uniqueQueue('rm-resume');
    const { activities } = fakes({ failStart: true, failResume: 'always' });
    await withWorker(env, q, activities, async () => {
      const h = await start(q, input());
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.ManualInterventionRequired);
      const status = failure.details![0] as MigrationStatus;
      expect(status.manualActions).toEqual(['resume the job system by hand on dc1: jobs resume']);
      expect(failure.message).toMatch(/resume the job system by hand/);
    });
  });

  it('after the switch a failed resume waits at recover; retry resumes, and the way back can be taken instead', async () => {
    const q = uniqueQueue('rm-recover');
    const first = fakes({ failResume: 'once' });
    await withWorker(env, q, first.activities, async () => {
      const h = await start(q, input({ gates: { cutover: { onTimeout: 'wait' } } }));
      await atGate(h, 'cutover');
      await decide(h, 'cutover', 'go');
      const s = await atGate(h, RECOVER_GATE);
      expect(s.gate!.evidence).toMatchObject({ step: 'resume-jobs', wayBack: 'run the way back (way-back)' });
      expect(s.phase).toBe(`waiting-at-${RECOVER_GATE}`);
      await decide(h, RECOVER_GATE, 'retry');
      expect((await h.result()).outcome).toBe('completed');
    });

    const second = fakes({ failResume: 'once' });
    await withWorker(env, q, second.activities, async () => {
      const h = await start(q, input({ gates: { cutover: { onTimeout: 'wait' } } }));
      await atGate(h, 'cutover');
      await decide(h, 'cutover', 'go');
      await atGate(h, RECOVER_GATE);
      await decide(h, RECOVER_GATE, 'way-back', 'resume keeps failing on dc2');
      const failure = await failureOf(h);
      const status = failure.details![0] as MigrationStatus;
      expect(status.wayBack).toMatchObject({ state: 'done' });
      expect(status.compensations.at(-1)).toMatchObject({ step: 'way-back', state: 'done', detail: expect.stringMatching(/redis\.z → 127\.0\.1\.1/) });
      expect(status.steps.filter((st) => st.name.startsWith('back-')).map((st) => st.name)).toEqual([
        'back-pause-jobs', 'back-catch-up', 'back-hand-over', 'back-verify-counts', 'back-switch-traffic', 'back-fence-target', 'back-resume-jobs',
      ]);
    });
    const back = second.calls.slice(second.calls.indexOf('hook:resume'));
    expect(back.filter((c) => !c.startsWith('lag:'))).toEqual([
      'hook:resume', 'hook:pause', 'follow:source->target', 'hand-over:target->source', 'dns:127.0.1.1', 'follow:target->source', 'hook:resume',
    ]);
  });

  it('a no-go at complete takes the way back; it is refused (with the reason) when the source cannot load what the target writes', async () => {
    const q = uniqueQueue('rm-wayback');
    const ok = fakes();
    await withWorker(env, q, ok.activities, async () => {
      const h = await start(q, input());
      await atGate(h, 'cutover');
      await decide(h, 'cutover', 'go');
      await atGate(h, 'complete');
      await decide(h, 'complete', 'no-go', 'latency');
      const status = (await failureOf(h)).details![0] as MigrationStatus;
      expect(status.wayBack?.state).toBe('done');
      expect(status.outcome).toBe('rolled-back');
    });

    const newer = fakes({ targetNewer: true, failResume: 'once' });
    await withWorker(env, q, newer.activities, async () => {
      const h = await start(q, input({ gates: { cutover: { onTimeout: 'wait' } } }));
      const s0 = await eventually(async () => {
        const st = await h.query(statusQuery);
        return st.figures.wayBack ? st : null;
      }, 'figures');
      expect(s0.figures.wayBack).toMatch(/^refused: the target writes RDB 11/);
      await atGate(h, 'cutover');
      await decide(h, 'cutover', 'go');
      const s = await atGate(h, RECOVER_GATE);
      expect(s.gate!.evidence.wayBack).toBe('none from here');
      const refused = await decide(h, RECOVER_GATE, 'way-back').catch((e: Error) => e);
      expect(String((refused as Error & { cause?: Error }).cause?.message)).toMatch(/no way back/);
      await decide(h, RECOVER_GATE, 'retry');
      expect((await h.result()).outcome).toBe('completed');
    });
  });
});
