// The hdfs-dual-write workflow against a real Temporal dev server of this file's own (it registers the Int search
// attribute CutoverCleanCycles and suggests continue-as-new early, so long dual-write periods run over several
// runs here), with typed fake activities: clean cycles → gate → freeze → final refresh and parity → switch → soak
// → complete; a differing job alerts and resets the clean counter; a job failing on one cluster is that
// cluster's failure, not a difference; a no-go at complete switches back and puts the permissions back; the
// parity state survives continue-as-new.
import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { CompareResult, HdfsMovePreflightResult, PermissionEntry, RefreshResult } from '../../activities/hdfs';
import type { AlertInput, CompareJobOutputsInput, CompareJobOutputsResult, RunJobInput, RunJobResult } from '../../activities/hdfs/jobs';
import * as svc from '../../scripts/cli/services';
import { hdfsDualWrite } from '../../workflows';
import type { HdfsDualWriteInput } from '../../workflows/hdfs-dual-write';
import { decideUpdate, decisionSignal, ErrorType, statusQuery, type DecisionInput, type MigrationStatus } from '../../workflows/shared';
import { ownDevServer } from '../helpers/dev-server';
import { recordHistory } from '../helpers/history';
import { keyOf, people, sendSigned, signed, signedApproval } from '../helpers/signing';
import { failureOf, fakeHost } from '../helpers/workflows';
import { eventually, GaveUp, uniqueQueue, withWorker } from '../helpers/temporal';

/** Low, so that a dual-write period of a few cycles spans several runs. */
const SUGGEST_AFTER = 250;
const dev = ownDevServer({ 'limit.historyCount.suggestContinueAsNew': SUGGEST_AFTER });

const dc1 = { name: 'dc1', url: 'http://127.0.1.1:9870', fs: 'hdfs://127.0.1.1:8020', address: '127.0.1.1', user: 'etl' };
const dc2 = { name: 'dc2', url: 'http://127.0.2.1:9870', fs: 'hdfs://127.0.2.1:8020', address: '127.0.2.1', user: 'etl' };

function input(overrides: Partial<HdfsDualWriteInput> = {}): HdfsDualWriteInput {
  return {
    name: 'warehouse',
    startedBy: 'alice',
    clusters: { old: dc1, new: dc2 },
    datasets: [{ name: 'events', source: { local: '/srv/events' }, paths: { old: '/data/events', new: '/data/events' } }],
    refresh: { everyMs: 1000, verify: 'auto', concurrency: 1 },
    jobs: [{ name: 'wc', command: ['wc', '{fs}', '{dataset:events}', '{output}'], host: fakeHost('dc1', '127.0.1.1'), compare: 'sorted-lines', timeoutSeconds: 60 }],
    shadow: { outputRoot: '/shadow', noiseBaseline: true, sampleLines: 3 },
    alert: { webhook: { secret: 'slack-url' } },
    clean: { cycles: 2, minimumMs: 0 },
    freeze: true,
    soakMs: 1500,
    approval: signedApproval([people().alice, people().bob]),
    gates: { cutover: { onTimeout: 'wait' }, complete: { onTimeout: 'wait' } },
    traffic: { dns: { server: '127.0.3.1', port: 5053, zone: 'z', tsigKey: { secret: 'k' }, name: 'hdfs.z', ttl: 1 } },
    ...overrides,
  };
}

const cycleOf = (path: string) => Number(/cycle-(\d+)/.exec(path)?.[1] ?? 0);

const compareResult = (equal: boolean, extra: Partial<CompareResult> = {}): CompareResult => ({
  a: 'a', b: 'b', equal, files: 2, bytes: 120, onlyInA: [], onlyInB: [], sizeDiffers: [], differing: [], sameLinesOtherOrder: [], byChecksum: 0, bySha256: 2, ms: 3, ...extra,
});

interface FakeOptions {
  /** Cycles in which the new cluster's output differs from the record. */
  differOn?: number[];
  /** Cycles in which the job fails on this cluster. */
  failOn?: { cluster: 'dc1' | 'dc2'; cycles: number[] };
  /** Refreshes (1-based, in call order) that fail after their retries. */
  refreshFails?: number[];
  /** Refreshes (1-based) that wait for the test to release them: the gate is then reading its evidence. */
  hold?: Map<number, Promise<void>>;
  /** Refreshes that run (heartbeating) until cancelled, like a long copy: `n` 1-based, `dns` where the name points. */
  block?: (n: number, dns: string) => boolean;
}

/** Fake activities that record what ran, as "what:detail"; the DNS name and permissions as state. */
function fakes(o: FakeOptions = {}) {
  const calls: string[] = [];
  const alerts: AlertInput[] = [];
  const compares: CompareJobOutputsInput[] = [];
  let dns = '127.0.1.1';
  let refreshes = 0;
  const permissions = new Map<string, string>([['/data/events', '775'], ['/data/events/day=1', '777']]);
  const activities: Partial<Activities> & Record<string, unknown> = {
    async hdfsPreflight(): Promise<HdfsMovePreflightResult> {
      calls.push('preflight');
      return {
        clusters: [
          { side: 'old', name: 'dc1', blockSize: 134217728, bytesPerChecksum: 512, checksumType: 2, replication: 1 },
          { side: 'new', name: 'dc2', blockSize: 134217728, bytesPerChecksum: 512, checksumType: 2, replication: 1 },
        ],
        verify: 'checksum', verifyWhy: 'both clusters: block 134217728, 512 bytes per checksum', datasets: [{ name: 'events', source: 'local /srv/events', old: 'exists', new: 'exists' }], notes: [],
      };
    },
    async lookupDns() {
      calls.push('lookupDns');
      return { addresses: [dns] };
    },
    async hdfsRefresh(i): Promise<RefreshResult> {
      calls.push(`refresh:${i.targets.map((t) => t.cluster.name).join('+')}:${i.verify}`);
      const n = ++refreshes;
      await o.hold?.get(n);
      if (o.block?.(n, dns)) {
        try {
          for (;;) {
            Context.current().heartbeat({ files: n });
            await Context.current().sleep(100);
          }
        } catch (err) {
          calls.push(`refresh-cancelled:${n}`);
          throw err;
        }
      }
      if (o.refreshFails?.includes(n)) {
        throw ApplicationFailure.nonRetryable('hdfs refresh: hdfs dc2: CREATE /data/events/.f1._COPYING_: unreachable: 127.0.2.1:9866: ECONNREFUSED', ErrorType.HostUnreachable);
      }
      return {
        source: '/srv/events', files: 300, bytes: 3_000_000, copyMs: 40,
        targets: i.targets.map((t) => ({ cluster: t.cluster.name, path: t.path, filesWritten: 3, bytesWritten: 3000, filesSkipped: 297, staleTempsRemoved: 0 })),
        verify: { method: 'file-checksum', files: 300, bytes: 3_000_000, mismatches: [], ms: 20 },
      };
    },
    async hdfsRunJob(i: RunJobInput): Promise<RunJobResult> {
      calls.push(`job:${i.cluster.name}:${i.outputPath}`);
      const fails = o.failOn?.cluster === i.cluster.name && o.failOn.cycles.includes(cycleOf(i.outputPath));
      return { job: i.job.name, cluster: i.cluster.name, ok: !fails, exitCode: fails ? 1 : 0, ms: 10, outputPath: i.outputPath, ...(fails ? { stderrTail: 'java.io.IOException: no space left' } : {}) };
    },
    async hdfsCompareJobOutputs(i: CompareJobOutputsInput): Promise<CompareJobOutputsResult> {
      compares.push(i);
      calls.push(`compare:${i.shadow.cluster.name}:${i.shadow.path}`);
      // Two runs on the old cluster: their _timings file differs (noise).
      if (i.shadow.cluster.name === 'dc1') return { job: i.job.name, equal: false, differences: compareResult(false, { differing: [{ path: '_timings', why: 'content' }] }), noiseSeen: [] };
      const differs = o.differOn?.includes(cycleOf(i.shadow.path));
      return {
        job: i.job.name,
        equal: !differs,
        differences: differs
          ? compareResult(false, { differing: [{ path: 'part-r-00000', why: 'lines', lines: { countOnlyInA: 1, countOnlyInB: 1, sampleOnlyInA: ['delta\t7'], sampleOnlyInB: ['delta\t8'] } }] })
          : compareResult(true),
        noiseSeen: i.noise,
      };
    },
    async hdfsAlert(i: AlertInput) {
      alerts.push(i);
      calls.push(`alert:${i.job}`);
      return { sent: true, status: 200 };
    },
    async hdfsRemovePath(i) {
      calls.push(`rm:${i.cluster.name}:${i.path}`);
      return { cluster: i.cluster.name, path: i.path, removed: true };
    },
    async hdfsWritableByOthers(): Promise<PermissionEntry[]> {
      calls.push('read-permissions');
      return [...permissions].filter(([, p]) => (parseInt(p, 8) & 0o022) !== 0).map(([path, permission]) => ({ path, permission }));
    },
    async hdfsSetPermissions(i) {
      calls.push(`chmod:${i.entries.map((e) => `${e.path}=${e.permission}`).join(',')}`);
      for (const e of i.entries) permissions.set(e.path, e.permission);
      return { set: i.entries.length, gone: 0 };
    },
    async hdfsParity(i) {
      calls.push('parity');
      return i.datasets.map((d) => ({ name: d.name, equal: true, files: 300, bytes: 3_000_000, detail: 'identical' }));
    },
    async switchDns({ to }) {
      calls.push(`dns:${to}`);
      dns = to;
      return { previous: [], changed: true, confirmedMs: 3 };
    },
  };
  return { calls, alerts, compares, permissions, activities, dns: () => dns, refreshes: () => refreshes };
}

async function start(queue: string, args: HdfsDualWriteInput): Promise<{ id: string; h: WorkflowHandle }> {
  const id = uniqueQueue('hdfswf');
  await dev.env.client.workflow.start(hdfsDualWrite, { taskQueue: queue, workflowId: id, args: [args] });
  // Without a run id: queries, updates and the result follow the story across continue-as-new.
  return { id, h: dev.env.client.workflow.getHandle(id) };
}

const status = (h: WorkflowHandle) => h.query(statusQuery);
const waitFor = (h: WorkflowHandle, what: string, until: (s: MigrationStatus) => boolean, timeoutMs = 90_000) =>
  eventually(async () => {
    const s = await status(h).catch(() => null);
    if (s?.outcome && !until(s)) throw new Error(`ended (${s.outcome}: ${s.failure}) before ${what}`);
    return s && until(s) ? s : null;
  }, what, timeoutMs);
const atGate = (h: WorkflowHandle, gate: string) => waitFor(h, `gate ${gate}`, (s) => s.gate?.name === gate);

/** A signed decision; sent again when it meets a run handing over to the next or evidence that just changed. */
async function decide(h: WorkflowHandle, d: Omit<DecisionInput, 'signature'>) {
  return eventually(async () => {
    try {
      return await h.executeUpdate(decideUpdate, { args: [await signed(h, d, keyOf(d.by))] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError && !/evidence signed is not what/.test((err.cause as Error | undefined)?.message ?? '')) throw err;
      return null;
    }
  }, `decision ${d.decision} at ${d.gate}`);
}

/** A go that the workflow must not take: its refusal (the update's failure), after signing afresh what the gate shows. */
async function refusedGo(h: WorkflowHandle, d: Omit<DecisionInput, 'signature' | 'decision'>): Promise<ApplicationFailure> {
  return eventually(async () => {
    try {
      await h.executeUpdate(decideUpdate, { args: [await signed(h, { ...d, decision: 'go' }, keyOf(d.by))] });
    } catch (err) {
      const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && !/evidence signed is not what/.test(cause.message)) return cause;
      if (cause) return null; // the evidence changed between reading and sending: read, sign and send again
      throw err;
    }
    throw new GaveUp('the go was taken');
  }, `a refused go at ${d.gate}`);
}

/** A promise the test resolves: holds a fake activity until then. */
function latch(): { promise: Promise<void>; release: () => void } {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}

describe('hdfs-dual-write workflow', () => {
  it('clean cycles (noise baseline first) → cutover gate → freeze, final refresh and parity, switch → soak with refreshes to both → complete', async () => {
    const q = uniqueQueue('hdfs-ok');
    const f = fakes();
    await withWorker(dev.env, q, f.activities, async () => {
      const { id, h } = await start(q, input());
      const gate = await atGate(h, 'cutover');
      expect(gate.gate!.evidence).toMatchObject({ cleanCycles: 2, cleanNeeded: 2, verdict: 'clean period reached', verify: 'checksum', alerts: 0 });
      expect(String(gate.gate!.evidence.history)).toMatch(/#2 shadow clean: wc equal · #1 shadow clean: wc equal/);
      // The first cycle ran the job twice on the old cluster: what differed between those runs is noise from then on.
      expect(f.calls.slice(0, 8)).toEqual([
        'preflight', 'lookupDns', 'refresh:dc1+dc2:checksum', 'job:dc1:/shadow/wc/cycle-1', 'job:dc1:/shadow/wc/cycle-1-baseline',
        'compare:dc1:/shadow/wc/cycle-1-baseline', 'rm:dc1:/shadow/wc/cycle-1-baseline', 'job:dc2:/shadow/wc/cycle-1-new',
      ]);
      const shadowCompares = f.compares.filter((c) => c.shadow.cluster.name === 'dc2');
      expect(shadowCompares.every((c) => c.noise.join() === '_timings')).toBe(true);
      // The new cluster's output is thrown away each cycle; the old cluster keeps only its latest record.
      expect(f.calls).toContain('rm:dc2:/shadow/wc/cycle-2-new');
      expect(f.calls).toContain('rm:dc1:/shadow/wc/cycle-1');
      const description = await h.describe();
      expect(description.searchAttributes.CutoverCleanCycles).toEqual([2]);
      expect(f.calls.some((c) => c.startsWith('chmod') || c.startsWith('dns:'))).toBe(false);

      await decide(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'two clean cycles' });
      const complete = await atGate(h, 'complete');
      expect(f.dns()).toBe('127.0.2.1');
      // Frozen: the write bits of group and others off, cutover (the owner) still writes.
      expect(f.permissions.get('/data/events')).toBe('755');
      expect(f.permissions.get('/data/events/day=1')).toBe('755');
      const afterGo = f.calls.slice(f.calls.indexOf('read-permissions'));
      expect(afterGo.slice(0, 5)).toEqual(['read-permissions', 'chmod:/data/events=755,/data/events/day=1=755', 'refresh:dc1+dc2:checksum', 'parity', 'dns:127.0.2.1']);
      // The soak refreshes both clusters and runs no jobs.
      expect(afterGo.slice(5).filter((c) => c.startsWith('job:'))).toEqual([]);
      expect(afterGo.slice(5)).toContain('refresh:dc1+dc2:checksum');
      expect(complete.gate!.evidence).toMatchObject({ dns: 'hdfs.z → 127.0.2.1 (dc2)' });
      expect(complete.steps.find((s) => s.name === 'final-parity')!.summary).toBe('events identical on both: 300 files, 3000000 B');

      await decide(h, { gate: 'complete', decision: 'go', by: 'bob', reason: 'dc2 serves' });
      const final = (await h.result()) as MigrationStatus;
      expect(final.outcome).toBe('completed');
      expect(final.pointOfNoReturn.passedAt).not.toBeNull();
      expect(final.steps.map((s) => s.name)).toEqual(['preflight', 'check-dns', 'dual-write', 'read-permissions', 'freeze', 'final-refresh', 'final-parity', 'switch-traffic', 'soak', 'stop-dual-write']);
      expect(f.alerts).toEqual([]);
      recordHistory('hdfs-dual-write-completed', id, dev.address);
    });
  });

  it('a job whose output differs on the new cluster alerts with the file and lines and resets the clean counter; the gate waits for a clean period again', async () => {
    const q = uniqueQueue('hdfs-diff');
    const f = fakes({ differOn: [2] });
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input());
      const reset = await waitFor(h, 'the difference of cycle 2', (s) => Number(s.figures.cycles) >= 2);
      expect(reset.figures.cleanCycles).toBe(0);
      expect(reset.figures.alerts).toBe(1);
      expect(String(reset.figures.lastAlert)).toMatch(/#2 warehouse: wc: outputs differ between dc1 and dc2.*part-r-00000: 1 line\(s\) only on old, 1 only on new: -delta\t7 \+delta\t8/);
      expect(f.alerts).toHaveLength(1);
      expect(f.alerts[0]).toMatchObject({ webhook: { secret: 'slack-url' }, job: 'wc' });
      expect(f.alerts[0].details.join('\n')).toContain('part-r-00000');
      expect(reset.gate).toBeNull();
      // Clean again for two cycles (3 and 4): only then the gate.
      const gate = await atGate(h, 'cutover');
      expect(gate.figures.cycles).toBe(4);
      expect(gate.gate!.evidence).toMatchObject({ cleanCycles: 2, alerts: 1 });
      expect(String(gate.gate!.evidence.history)).toMatch(/#4 shadow clean.*#3 shadow clean.*#2 shadow NOT clean: wc different/);
      await decide(h, { gate: 'cutover', decision: 'no-go', by: 'bob', reason: 'look at the difference first' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      // Nothing was changed on the old cluster and the name never moved.
      expect(f.calls.some((c) => c.startsWith('chmod') || c.startsWith('dns:'))).toBe(false);
    });
  });

  it('a cycle that finds a difference while the cutover gate waits: a go is refused and recorded, one signed before never counts, nothing switches; clean again → a go is taken', async () => {
    const q = uniqueQueue('hdfs-gate-diff');
    // Cycle 3 differs. Refreshes 3, 5 and 6 wait for the test: the gate is then reading its evidence (a cycle runs).
    const holds = { 3: latch(), 5: latch(), 6: latch() };
    const f = fakes({ differOn: [3], hold: new Map(Object.entries(holds).map(([n, l]) => [Number(n), l.promise])) });
    const notClean = /the parity is NOT clean: cycle #3 found a difference or a failure \(wc different\), [01] of 2 clean cycles in a row since; a go is taken once the clean period is reached again, signed over the evidence shown then$/;
    const switched = () => f.calls.filter((c) => c === 'read-permissions' || c.startsWith('chmod') || c.startsWith('dns:'));
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input());
      const open = await atGate(h, 'cutover');
      expect(open.gate!.evidence).toMatchObject({ cycles: 2, cleanCycles: 2, verdict: 'clean period reached' });
      expect(open.gate!.goRefused).toBeUndefined();

      // Cycle 3 runs (held): two gos signed over the clean evidence shown now; one is sent during the cycle.
      await eventually(async () => f.refreshes() >= 3, 'cycle 3 running');
      const stale = await signed(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'signed while clean' }, keyOf('bob'));
      const duringCycle = h.executeUpdate(decideUpdate, { args: [await signed(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'clean' }, keyOf('bob'))] });
      const held = await waitFor(h, 'the go held during cycle 3', (s) => s.decisions.length === 1);
      expect(held.phase).toBe('waiting-at-cutover');
      holds[3].release();
      // Cycle 3 found a difference: the go that arrived during it is not acted on, and its update says why.
      const heldErr = await duringCycle.then(() => null, (err: unknown) => err);
      expect(heldErr).toBeInstanceOf(WorkflowUpdateFailedError);
      const heldCause = (heldErr as WorkflowUpdateFailedError).cause as ApplicationFailure;
      expect(heldCause.type).toBe(ErrorType.GoNotTaken);
      expect(heldCause.message).toMatch(/^gate "cutover" takes no go now: it arrived while the evidence was read again, and that read says: /);
      expect(heldCause.message).toMatch(notClean);

      // The gate stays open, shows why a go is not taken, and refuses a go signed over what it shows now.
      const diff = await waitFor(h, 'cycle 3 shown', (s) => s.gate?.goRefused !== undefined);
      expect(diff.gate!.name).toBe('cutover');
      expect(diff.gate!.evidence.verdict).toBe('NOT clean: cycle #3 found a difference or a failure (wc different), 0 of 2 clean cycles in a row since');
      expect(diff.gate!.goRefused).toMatch(notClean);
      expect(diff.figures.cleanCycles).toBe(0);
      const refused = await refusedGo(h, { gate: 'cutover', by: 'bob', reason: 'looks fine to me' });
      expect(refused.type).toBe(ErrorType.GoNotTaken);
      expect(refused.message).toMatch(/^gate "cutover" takes no go now: the parity is NOT clean: /);
      expect(refused.message).toMatch(notClean);
      // A signal is refused the same way, and recorded.
      await h.signal(decisionSignal, await signed(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'by signal' }, keyOf('bob')));
      const afterSignal = await waitFor(h, 'the signalled go refused', (s) => s.refusedDecisions.some((r) => r.reason === 'by signal'));
      expect(afterSignal.decisions).toEqual([]);
      expect(afterSignal.refusedDecisions.map((r) => [r.gate, r.decision, r.by, r.reason])).toEqual([
        ['cutover', 'go', 'bob', 'clean'],
        ['cutover', 'go', 'bob', 'looks fine to me'],
        ['cutover', 'go', 'bob', 'by signal'],
      ]);
      expect(afterSignal.refusedDecisions.map((r) => r.why)).toEqual([heldCause.message, refused.message, expect.stringMatching(notClean)]);
      expect(switched()).toEqual([]);
      expect(f.alerts.map((a) => a.title)).toEqual(['warehouse: wc: outputs differ between dc1 and dc2 (cycle 3)']);

      // Cycles 4 and 5 clean: the clean period again, the gate takes a go again (cycle 6 is held meanwhile).
      holds[5].release();
      const clean = await waitFor(h, 'clean again', (s) => s.gate?.name === 'cutover' && Number(s.gate.evidence.cycles) >= 5);
      expect(clean.gate!.evidence).toMatchObject({ cycles: 5, cleanCycles: 2, verdict: 'clean period reached', alerts: 1 });
      expect(clean.gate!.goRefused).toBeUndefined();
      // The go signed over the clean evidence from before the difference does not count, now or ever.
      const staleErr = await h.executeUpdate(decideUpdate, { args: [stale] }).then(() => null, (err: unknown) => err);
      const staleCause = (staleErr as WorkflowUpdateFailedError).cause as ApplicationFailure;
      expect(staleCause.type).toBe(ErrorType.GoNotTaken);
      expect(staleCause.message).toMatch(
        /^the evidence signed was shown before evidence that took no go \(the parity is NOT clean: cycle #3 .*\): a go signed before then no longer counts; sign what gate "cutover" shows now$/,
      );
      expect(switched()).toEqual([]);

      // A go signed over what the gate shows now, sent while cycle 6 runs: held, and taken once cycle 6 is clean too.
      await eventually(async () => f.refreshes() >= 6, 'cycle 6 running');
      const go = h.executeUpdate(decideUpdate, { args: [await signed(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'clean again' }, keyOf('bob'))] });
      await waitFor(h, 'the go held during cycle 6', (s) => s.decisions.length === 1);
      holds[6].release();
      const taken = await go;
      expect(taken).toMatchObject({ gate: 'cutover', decision: 'go', by: 'bob', reason: 'clean again' });
      expect(taken.evidence).toMatchObject({ cycles: 5, verdict: 'clean period reached' });
      await atGate(h, 'complete');
      expect(f.dns()).toBe('127.0.2.1');
      expect(f.permissions.get('/data/events')).toBe('755');
      await decide(h, { gate: 'complete', decision: 'go', by: 'bob', reason: 'dc2 serves' });
      const final = (await h.result()) as MigrationStatus;
      expect(final.outcome).toBe('completed');
      expect(final.decisions.map((d) => `${d.gate}:${d.decision}:${d.reason}`)).toEqual(['cutover:go:clean again', 'complete:go:dc2 serves']);
      expect(final.refusedDecisions.map((r) => r.reason)).toEqual(['clean', 'looks fine to me', 'by signal', 'signed while clean']);
      recordHistory('hdfs-dual-write-go-refused', (await h.describe()).workflowId, dev.address);
    });
  });

  it('a no-go sent while a go waits for the cycle being run is taken: the go is not, and the run rolls back', async () => {
    const q = uniqueQueue('hdfs-gate-nogo');
    const hold = latch();
    const f = fakes({ hold: new Map([[3, hold.promise]]) });
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input());
      await atGate(h, 'cutover');
      await eventually(async () => f.refreshes() >= 3, 'cycle 3 running');
      // The go's refusal is caught from the start: it arrives while the no-go is awaited.
      const goOutcome = h
        .executeUpdate(decideUpdate, { args: [await signed(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'clean' }, keyOf('bob'))] })
        .then(() => null, (err: unknown) => err);
      await waitFor(h, 'the go held during cycle 3', (s) => s.decisions.length === 1);
      const noGo = await h.executeUpdate(decideUpdate, { args: [await signed(h, { gate: 'cutover', decision: 'no-go', by: 'alice', reason: 'wait for Monday' }, keyOf('alice'))] });
      expect(noGo).toMatchObject({ decision: 'no-go', by: 'alice' });
      const goErr = await goOutcome;
      const cause = (goErr as WorkflowUpdateFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe(ErrorType.GoNotTaken);
      expect(cause.message).toBe('gate "cutover" takes no go now: a no-go by alice came while it waited for the evidence being read');
      hold.release();
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const final = (failure.details as MigrationStatus[])[0];
      expect(final.decisions.map((d) => `${d.decision}:${d.by}`)).toEqual(['no-go:alice']);
      expect(final.refusedDecisions.map((r) => `${r.decision}:${r.by}:${r.why}`)).toEqual([`go:bob:${cause.message}`]);
      expect(f.calls.some((c) => c === 'read-permissions' || c.startsWith('chmod') || c.startsWith('dns:'))).toBe(false);
      recordHistory('hdfs-dual-write-held-go-no-go', (await h.describe()).workflowId, dev.address);
    });
  });

  it('a refresh that fails while the cutover gate waits: a go sent during that cycle is refused with the reason, the gate takes one again once clean', async () => {
    const q = uniqueQueue('hdfs-gate-refresh');
    const hold = latch();
    const f = fakes({ refreshFails: [2], hold: new Map([[2, hold.promise]]) });
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input({ jobs: [], clean: { cycles: 1, minimumMs: 0 } }));
      await atGate(h, 'cutover');
      await eventually(async () => f.refreshes() >= 2, 'cycle 2 running');
      const goOutcome = h.executeUpdate(decideUpdate, { args: [await signed(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'clean' }, keyOf('bob'))] }).then(() => null, (err: unknown) => err);
      await waitFor(h, 'the go held during cycle 2', (s) => s.decisions.length === 1);
      hold.release();
      const cause = ((await goOutcome) as WorkflowUpdateFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe(ErrorType.GoNotTaken);
      expect(cause.message).toBe(
        'gate "cutover" takes no go now: it arrived while the evidence was read again, and that read says: the parity is NOT clean: cycle #2 found a difference or a failure (a refresh failed), ' +
          '0 of 1 clean cycle in a row since; a go is taken once the clean period is reached again, signed over the evidence shown then',
      );
      const refused = await waitFor(h, 'the refusal in status', (s) => s.refusedDecisions.length === 1);
      expect(refused.refusedDecisions[0]).toMatchObject({ gate: 'cutover', decision: 'go', by: 'bob', why: cause.message });
      expect(refused.decisions).toEqual([]);
      expect(f.alerts.map((a) => a.title)).toEqual(['warehouse: cycle 2: a refresh failed']);
      // Cycle 3 clean: the gate takes a go again.
      const clean = await waitFor(h, 'clean again', (s) => s.gate?.name === 'cutover' && Number(s.gate.evidence.cycles) >= 3 && !s.gate.goRefused);
      expect(clean.gate!.evidence).toMatchObject({ cleanCycles: 1, verdict: 'clean period reached' });
      await decide(h, { gate: 'cutover', decision: 'no-go', by: 'bob', reason: 'look at the refresh first' });
      expect((await failureOf(h)).type).toBe(ErrorType.RolledBack);
      expect(f.calls.some((c) => c === 'read-permissions' || c.startsWith('chmod') || c.startsWith('dns:'))).toBe(false);
      recordHistory('hdfs-dual-write-held-go-refused', (await h.describe()).workflowId, dev.address);
    });
  });

  it('`cutover approve` during a cycle: the go is held, the status says what for, and the CLI says it once after a moment', async () => {
    const q = uniqueQueue('hdfs-gate-held');
    const hold = latch();
    const f = fakes({ hold: new Map([[3, hold.promise]]) });
    const s: svc.Services = { client: dev.env.client, uiUrl: 'http://127.0.0.1:8233', namespace: 'default', taskQueue: q, signingKeys: { bob: keyOf('bob').file }, close: async () => undefined };
    await withWorker(dev.env, q, f.activities, async () => {
      const { id, h } = await start(q, input());
      await atGate(h, 'cutover');
      await eventually(async () => f.refreshes() >= 3, 'cycle 3 running');
      const reading = await waitFor(h, 'cycle 3 shown as the read', (st) => st.gate?.reading !== undefined);
      expect(reading.gate!.reading).toBe('cycle #3 (refresh, 0/1 dataset done)');
      expect(reading.gate!.heldGo).toBeUndefined();
      const lines: string[] = [];
      const go = svc.decide(s, id, 'cutover', 'go', 'bob', 'clean', undefined, undefined, { print: (l) => lines.push(l), afterMs: 500 });
      const held = await waitFor(h, 'the go held during cycle 3', (st) => st.gate?.heldGo !== undefined);
      expect(held.gate!.heldGo).toEqual({ by: 'bob', at: held.decisions[0].at });
      await eventually(async () => lines.length > 0, 'the CLI saying what the go waits for');
      expect(lines).toEqual(['gate cutover: waiting for cycle #3 (refresh, 0/1 dataset done) to end before the go is taken or refused (on what it shows)']);
      hold.release();
      // Cycle 3 clean: the go is taken, and the CLI said it only once.
      expect(await go).toMatchObject({ gate: 'cutover', decision: 'go', by: 'bob' });
      expect(lines).toHaveLength(1);
      const after = await atGate(h, 'complete');
      expect(after.gate!.heldGo).toBeUndefined();
      expect(f.dns()).toBe('127.0.2.1');
      // A decision answered at once prints nothing.
      const quiet: string[] = [];
      await svc.decide(s, id, 'complete', 'no-go', 'bob', 'test over', undefined, undefined, { print: (l) => quiet.push(l), afterMs: 500 });
      expect((await failureOf(h)).type).toBe(ErrorType.RolledBack);
      expect(quiet).toEqual([]);
    });
  });

  it('an abort while a soak refresh runs: the refresh is cancelled, no alert, no cycle recorded; the name and the permissions are put back', async () => {
    const q = uniqueQueue('hdfs-abort-soak');
    // Every refresh after the switch (the soak's) runs until cancelled.
    const f = fakes({ block: (_n, dns) => dns === '127.0.2.1' });
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input({ jobs: [], clean: { cycles: 1, minimumMs: 0 }, soakMs: 600_000 }));
      await atGate(h, 'cutover');
      await decide(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'clean' });
      const soaking = await waitFor(h, 'a soak refresh running', (s) => s.phase === 'soak');
      await eventually(async () => f.calls.at(-1)?.startsWith('refresh:') && f.dns() === '127.0.2.1', 'the soak refresh running');
      const before = { cycles: soaking.figures.cycles, history: soaking.figures.parityHistory, alerts: soaking.figures.alerts };
      await sendSigned(h, 'abort', 'alice', 'dc2 network maintenance moved up');
      const failure = await failureOf(h);
      recordHistory('hdfs-dual-write-aborted-in-soak-cycle', (await h.describe()).workflowId, dev.address);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const final = (failure.details as MigrationStatus[])[0];
      expect(final.outcome).toBe('rolled-back');
      expect(final.failure).toBe('aborted by alice: dc2 network maintenance moved up');
      // The refresh was cancelled and the cycle it was in is not recorded: neither clean nor NOT clean, no alert.
      expect(f.calls.filter((c) => c.startsWith('refresh-cancelled'))).toHaveLength(1);
      expect(f.alerts).toEqual([]);
      expect(f.calls.filter((c) => c.startsWith('alert:'))).toEqual([]);
      expect({ cycles: final.figures.cycles, history: final.figures.parityHistory, alerts: final.figures.alerts }).toEqual(before);
      expect(String(final.figures.parityHistory)).not.toMatch(/NOT clean/);
      expect(final.figures.alerts).toBe(0);
      // The rollback ran as for any abort: the name back first, then the permissions.
      expect(final.compensations.map((c) => `${c.step}:${c.state}`)).toEqual(['switch-traffic:done', 'freeze:done']);
      expect(f.dns()).toBe('127.0.1.1');
      expect(f.permissions.get('/data/events')).toBe('775');
      expect(f.permissions.get('/data/events/day=1')).toBe('777');
      expect(f.calls.slice(f.calls.indexOf(f.calls.find((c) => c.startsWith('refresh-cancelled'))!))).toEqual([
        expect.stringMatching(/^refresh-cancelled:/),
        'dns:127.0.1.1',
        'chmod:/data/events=775,/data/events/day=1=777',
      ]);
    });
  });

  it('an abort while the cutover gate runs a cycle: a go held for it is refused, no alert, no cycle recorded, the run rolls back', async () => {
    const q = uniqueQueue('hdfs-abort-gate');
    // Refresh 3 (the first cycle the gate runs) runs until cancelled.
    const f = fakes({ block: (n) => n === 3 });
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input());
      const open = await atGate(h, 'cutover');
      await eventually(async () => f.calls.at(-1)?.startsWith('refresh:') && f.refreshes() === 3, 'cycle 3 running');
      const goOutcome = h.executeUpdate(decideUpdate, { args: [await signed(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'clean' }, keyOf('bob'))] }).then(() => null, (err: unknown) => err);
      await waitFor(h, 'the go held during cycle 3', (s) => s.decisions.length === 1);
      await sendSigned(h, 'abort', 'alice', 'not this week');
      const cause = ((await goOutcome) as WorkflowUpdateFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe(ErrorType.GoNotTaken);
      expect(cause.message).toBe('gate "cutover" takes no go now: the gate closed before the evidence it waited for was read (aborted by alice: not this week)');
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const final = (failure.details as MigrationStatus[])[0];
      expect(final.failure).toBe('aborted by alice: not this week');
      expect(final.decisions).toEqual([]);
      expect(final.refusedDecisions.map((r) => `${r.decision}:${r.by}`)).toEqual(['go:bob']);
      expect(f.calls).toContain('refresh-cancelled:3');
      expect(f.alerts).toEqual([]);
      expect(final.figures).toMatchObject({ cycles: 2, cleanCycles: 2, alerts: 0, parityHistory: open.figures.parityHistory });
      // Nothing was changed: no freeze, no switch, nothing to undo.
      expect(final.compensations).toEqual([]);
      expect(f.calls.some((c) => c === 'read-permissions' || c.startsWith('chmod') || c.startsWith('dns:'))).toBe(false);
    });
  });

  it('a job that fails on one cluster is reported as that cluster\'s failure, not as a difference', async () => {
    const q = uniqueQueue('hdfs-fail');
    const f = fakes({ failOn: { cluster: 'dc2', cycles: [1] } });
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input({ clean: { cycles: 1, minimumMs: 0 } }));
      const gate = await atGate(h, 'cutover');
      // Cycle 1 failed on dc2 (no comparison of that cycle), cycle 2 was clean.
      expect(String(gate.gate!.evidence.history)).toMatch(/#2 shadow clean: wc equal · #1 shadow NOT clean: wc failed-on-new/);
      expect(f.calls).not.toContain('compare:dc2:/shadow/wc/cycle-1-new');
      expect(f.alerts).toHaveLength(1);
      expect(f.alerts[0].title).toBe('warehouse: wc: failed on new (cycle 1)');
      expect(f.alerts[0].details).toEqual(['new dc2: failed on dc2 (exit 1): java.io.IOException: no space left']);
      await decide(h, { gate: 'cutover', decision: 'no-go', by: 'bob', reason: 'enough' });
      expect((await failureOf(h)).type).toBe(ErrorType.RolledBack);
    });
  });

  it('a refresh that still fails after its retries is alerted, runs no jobs, and resets the clean counter', async () => {
    const q = uniqueQueue('hdfs-refresh');
    const f = fakes({ refreshFails: [1] });
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input({ clean: { cycles: 1, minimumMs: 0 } }));
      const gate = await atGate(h, 'cutover');
      expect(String(gate.gate!.evidence.history)).toBe('#2 shadow clean: wc equal · #1 shadow NOT clean');
      expect(f.calls.filter((c) => c.startsWith('job:dc2'))).toEqual(['job:dc2:/shadow/wc/cycle-2-new']);
      expect(f.alerts).toHaveLength(1);
      expect(f.alerts[0]).toMatchObject({ job: 'refresh', title: 'warehouse: cycle 1: a refresh failed' });
      expect(f.alerts[0].details[0]).toMatch(/^events refresh FAILED: .*127\.0\.2\.1:9866: ECONNREFUSED/);
      await decide(h, { gate: 'cutover', decision: 'no-go', by: 'bob', reason: 'enough' });
      expect((await failureOf(h)).type).toBe(ErrorType.RolledBack);
    });
  });

  it('a no-go at complete switches the name back and puts the old cluster\'s permissions back', async () => {
    const q = uniqueQueue('hdfs-back');
    const f = fakes();
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input({ clean: { cycles: 1, minimumMs: 0 }, soakMs: 0 }));
      await atGate(h, 'cutover');
      await decide(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'clean' });
      await atGate(h, 'complete');
      expect(f.dns()).toBe('127.0.2.1');
      expect(f.permissions.get('/data/events')).toBe('755');
      await decide(h, { gate: 'complete', decision: 'no-go', by: 'bob', reason: 'dc2 too slow' });
      const failure = await failureOf(h);
      expect(failure.type).toBe(ErrorType.RolledBack);
      const final = (failure.details as MigrationStatus[])[0];
      expect(final.outcome).toBe('rolled-back');
      expect(f.dns()).toBe('127.0.1.1');
      expect(f.permissions.get('/data/events')).toBe('775');
      expect(f.permissions.get('/data/events/day=1')).toBe('777');
      // The name first, then the permissions (`after` the switch's undo).
      expect(final.compensations.map((c) => `${c.step}:${c.state}`)).toEqual(['switch-traffic:done', 'freeze:done']);
      recordHistory('hdfs-dual-write-switched-back', (await h.describe()).workflowId, dev.address);
    });
  });

  it('a soak that continues as new ends when it was due, not a whole soak later', async () => {
    const q = uniqueQueue('hdfs-soak');
    const f = fakes();
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input({ jobs: [], clean: { cycles: 1, minimumMs: 0 }, soakMs: 15_000, refresh: { everyMs: 100, verify: 'auto', concurrency: 1 } }));
      const gate = await atGate(h, 'cutover');
      await decide(h, { gate: 'cutover', decision: 'go', by: 'bob', reason: 'clean' });
      const complete = await waitFor(h, 'gate complete', (s) => s.gate?.name === 'complete', 60_000);
      // Refreshes every 100 ms: the soak spanned more than one run, and still ended 15 s after it began.
      expect(complete.runs).toBeGreaterThan(gate.runs);
      const soak = complete.steps.find((st) => st.name === 'soak')!;
      const began = Date.parse(complete.steps.find((st) => st.name === 'switch-traffic')!.endedAt!);
      const until = Date.parse(/soaked until (\S+):/.exec(soak.summary!)![1]);
      expect(until - began).toBeGreaterThanOrEqual(14_000);
      expect(until - began).toBeLessThan(16_000);
      await decide(h, { gate: 'complete', decision: 'go', by: 'bob', reason: 'fine' });
      expect(((await h.result()) as MigrationStatus).outcome).toBe('completed');
    });
  });

  it('a long dual-write period continues as new: counters, history and the noise list are carried over', async () => {
    const q = uniqueQueue('hdfs-can');
    const f = fakes({ differOn: [3] });
    await withWorker(dev.env, q, f.activities, async () => {
      const { h } = await start(q, input({ clean: { cycles: 8, minimumMs: 0 }, refresh: { everyMs: 300, verify: 'auto', concurrency: 1 } }));
      const gate = await atGate(h, 'cutover');
      expect(gate.runs).toBeGreaterThan(1);
      // Cycle 3 differed: 8 clean ones after it, counted across runs without a gap (and cycles go on at the gate).
      const cycles = Number(gate.gate!.evidence.cycles);
      expect(cycles).toBeGreaterThanOrEqual(11);
      expect(gate.gate!.evidence).toMatchObject({ cleanCycles: cycles - 3, alerts: 1 });
      expect(String(gate.figures.parityHistory)).toMatch(new RegExp(`^#${cycles} shadow clean`));
      // The noise baseline ran once in the whole story.
      expect(f.calls.filter((c) => c.endsWith('-baseline') && c.startsWith('job:'))).toHaveLength(1);
      expect(f.calls.filter((c) => c.startsWith('preflight'))).toHaveLength(1);
      expect(f.compares.filter((c) => c.shadow.cluster.name === 'dc2').every((c) => c.noise.join() === '_timings')).toBe(true);
      await decide(h, { gate: 'cutover', decision: 'no-go', by: 'bob', reason: 'test over' });
      expect((await failureOf(h)).type).toBe(ErrorType.RolledBack);
    });
  });
});
