// HDFS dual write: every dataset refreshed to the old and the new cluster on a schedule, the same jobs run on
// both and compared, a difference alerted, and after a clean period the `hdfs` DNS name switched to the new one.
//
// Phases: preflight (both NameNodes, sources, paths writable for the plan's user, block size and bytes per
//   checksum → checksum or streamed verify, job hosts) → check-dns → dual-write (cycles until the clean period:
//   each cycle refreshes every dataset on both clusters, then runs each shadow job on the old cluster (the result
//   of record; the first time twice, for the noise baseline) and on the new one, and compares; a difference or a
//   failure alerts and resets the clean counter; between cycles the run sleeps until the next refresh is due) →
//   gate `cutover` (the parity history; cycles go on while it waits, and while the latest ones are not clean it
//   takes no go: a go is refused and recorded, one signed before the difference never counts) → read-permissions → freeze (the write bits
//   of group and others off the old cluster's paths: other writers are held off, cutover writes on as their owner)
//   → final-refresh → final-parity (every dataset identical on both) → switch-traffic (DNS) → soak (refreshes keep
//   writing to the old cluster too: the way back is a DNS switch with nothing lost) → gate `complete` (refreshes
//   go on while it waits) → [point of no return] stop-dual-write.
// An abort while a cycle runs cancels its refresh or job and ends the cycle there (patch `hdfs-abort-ends-cycle`):
//   nothing of that cycle is recorded or alerted, the rollback runs as for any abort.
// Messages: decideUpdate / decisionSignal (gates `cutover`, `complete`, `recover`), abortSignal, pauseSignal,
//   resumeSignal, statusQuery; search attribute CutoverCleanCycles (consecutive clean cycles).
// Compensations (undo procedures, data): the freeze puts back the permissions read before it (only once the name
//   points at the old cluster again: `after` the switch's undo); the switch points the name back. A no-go at
//   `cutover` changes nothing (the new cluster keeps its copies); at `complete` it switches back and unfreezes.
// Long waits: the cycles (a wait inside the dual-write and soak steps) and both gates continue as new when the
//   server suggests it; the parity state (counters, the last cycles, alerts, the noise per job) is carried with it.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { isCancellation, patched, upsertSearchAttributes } from '@temporalio/workflow';
import type { DatasetParity, HdfsMovePreflightResult, PermissionEntry, RefreshResult, WebHdfsCluster } from '../activities/hdfs';
import type { CompareJobOutputsResult, RunJobResult, ShadowJobSpec } from '../activities/hdfs/jobs';
import { checks, copies, longCopies, steps, undo, withSummary } from './lib/activity-options';
import { isDryRun } from './lib/dry-run';
import { Migration, type EvidenceSource } from './lib/migration';
import { messageOf } from './lib/saga';
import { searchAttributeNames } from './shared';
import { tsigKeyLabel, type ApprovalPolicy, type CarriedState, type DnsSwitch, type Evidence, type GatePolicy, type MigrationStatus, type SecretRef } from './shared/types';

/** One cluster: WebHDFS for cutover, the RPC address jobs get as `{fs}`, the address the DNS name points at. */
export interface HdfsCluster extends WebHdfsCluster {
  /** `hdfs://10.1.0.9:8020` */
  fs: string;
  address: string;
}

export interface HdfsDataset {
  name: string;
  /** A directory on the worker host, or a path on the old cluster. */
  source: { local: string } | { hdfs: string };
  paths: { old: string; new: string };
}

/** Workflow input for the HDFS dual-write move. Plain data, already validated by the plan schema. */
export interface HdfsDualWriteInput {
  name: string;
  startedBy: string;
  clusters: { old: HdfsCluster; new: HdfsCluster };
  datasets: HdfsDataset[];
  refresh: { everyMs: number; verify: 'auto' | 'checksum' | 'streamed'; concurrency: number; permission?: string };
  jobs: ShadowJobSpec[];
  shadow: { outputRoot: string; noiseBaseline: boolean; sampleLines: number };
  alert?: { webhook: SecretRef };
  /** The clean period: this many consecutive clean cycles, clean for at least this long. */
  clean: { cycles: number; minimumMs: number };
  freeze: boolean;
  soakMs: number;
  approval: ApprovalPolicy;
  gates: { cutover: GatePolicy; complete: GatePolicy };
  traffic: { dns: DnsSwitch };
  artifacts?: { bucket: string; prefix: string };
}

/** How one job came out in one cycle: a failure is the cluster's, not a difference. */
export type JobOutcome = 'equal' | 'different' | 'failed-on-old' | 'failed-on-new' | 'failed-on-both';

export interface CycleRecord {
  cycle: number;
  at: string;
  /** `shadow`: before the switch (refresh + jobs); `soak`: after it (refresh only). */
  mode: 'shadow' | 'soak';
  clean: boolean;
  refreshed: string;
  jobs: Array<{ job: string; outcome: JobOutcome; detail: string }>;
}

export interface AlertRecord {
  cycle: number;
  at: string;
  job: string;
  title: string;
  details: string[];
  sent: string;
}

/** What the move carries across continue-as-new besides the framework's state (bounded). */
export interface ParityState {
  cycles: number;
  clean: number;
  cleanSince: string | null;
  /** When the next refresh is due (ms since the epoch, workflow time). */
  nextAt: number;
  history: CycleRecord[];
  alerts: AlertRecord[];
  alertsTotal: number;
  /** Per job, the output files that differed between two runs on the old cluster (absent: no baseline yet). */
  noise: Record<string, string[]>;
  /** Per job, the old cluster's latest output of record (the one before is removed when a new one is kept). */
  records: Record<string, string>;
}

/** Cycles and alerts kept in the carried state and status (older ones are counted, not kept). */
export const HISTORY_KEPT = 20;
export const ALERTS_KEPT = 10;

const cleanCyclesKey = defineSearchAttributeKey(searchAttributeNames.cleanCycles, SearchAttributeType.INT);

/** Permission without the write bits of group and others (octal strings, as HDFS has them). */
const readOnlyForOthers = (permission: string) => (parseInt(permission, 8) & ~0o022).toString(8);

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const CLEAN_PERIOD_REACHED = 'clean period reached';

/**
 * Patch id: an abort (the forward path cancelled) ends a running cycle where it is. Before it, the cancelled
 * refresh or job counted as a failure: the cycle was recorded NOT clean and alerted before the rollback began.
 */
const ABORT_ENDS_CYCLE = 'hdfs-abort-ends-cycle';

/**
 * Whether `err` is the run being aborted (its forward path cancelled): then the cycle stops and the abort goes on
 * to the rollback, with no alert and nothing recorded of the cycle. Histories recorded before the patch replay on
 * the old path (the cancellation counted as the cycle's failure). Asked only when a cancellation is caught.
 */
const abortEndsCycle = (err: unknown): boolean => isCancellation(err) && patched(ABORT_ENDS_CYCLE);

/**
 * The cutover gate's go check: a go is taken only on evidence whose verdict is the clean period. A cycle that finds
 * a difference or a failure while the gate waits makes it take no go (a go signed before then never again) until
 * the clean period is reached again; a no-go is always taken.
 */
export function cutoverGoRefusal(e: Evidence): string | null {
  if (e.verdict === CLEAN_PERIOD_REACHED) return null;
  const state = typeof e.verdict === 'string' ? `the parity is ${e.verdict}` : `the parity is not known (${e.evidenceError ?? 'no verdict'})`;
  return `${state}; a go is taken once the clean period is reached again, signed over the evidence shown then`;
}

/** The differing files of a job comparison (not noise), and a sample of their lines. */
function differenceLines(r: CompareJobOutputsResult, max = 10): string[] {
  const d = r.differences;
  const lines = [
    ...d.onlyInA.map((p) => `${p}: only in the old cluster's output`),
    ...d.onlyInB.map((p) => `${p}: only in the new cluster's output`),
    ...d.sizeDiffers.map((s) => `${s.path}: ${s.a} bytes on old, ${s.b} on new`),
    ...d.differing.map((f) => {
      const l = f.lines;
      if (!l) return `${f.path}: content differs${f.note ? ` (${f.note})` : ''}`;
      const sample = [...l.sampleOnlyInA.map((x) => `-${x}`), ...l.sampleOnlyInB.map((x) => `+${x}`)].join(' ');
      return `${f.path}: ${l.countOnlyInA} line(s) only on old, ${l.countOnlyInB} only on new: ${sample}`;
    }),
  ];
  return lines.length > max ? [...lines.slice(0, max), `… ${lines.length - max} more`] : lines;
}

/** Output files named in a comparison of two runs on the old cluster: the job's noise. */
function differingFiles(r: CompareJobOutputsResult): string[] {
  const d = r.differences;
  return [...new Set([...d.onlyInA, ...d.onlyInB, ...d.sizeDiffers.map((s) => s.path), ...d.differing.map((f) => f.path)])].sort();
}

const refreshText = (name: string, r: RefreshResult) => {
  const written = Math.max(0, ...r.targets.map((t) => t.filesWritten));
  return `${name} ${plural(r.files, 'file')} ${r.bytes} B (${written} written, verified by ${r.verify.method})`;
};

export async function hdfsDualWrite(input: HdfsDualWriteInput, carried?: CarriedState): Promise<MigrationStatus> {
  const { old, new: neu } = input.clusters;
  const dns = input.traffic.dns;
  const cluster = (side: 'old' | 'new') => input.clusters[side];

  const undos = {
    async switchBack(a: { from: string; to: string }) {
      const r = await undo(`switch ${dns.name} back to ${a.to}`).switchDns({ dns, from: a.from, to: a.to });
      return r.changed ? `${dns.name} → ${a.to} again` : `${dns.name} already at ${a.to}`;
    },
    async unfreeze(a: { entries: PermissionEntry[] }) {
      const r = await undo(`put back the permissions of ${plural(a.entries.length, 'path')} on ${old.name}`).hdfsSetPermissions({ cluster: old, entries: a.entries });
      return `permissions on ${old.name} as before the freeze: ${r.set} set${r.gone ? `, ${r.gone} gone meanwhile` : ''}`;
    },
  };

  const m = new Migration({
    undos,
    input,
    carried,
    kind: 'hdfs-dual-write',
    name: input.name,
    startedBy: input.startedBy,
    approval: input.approval,
    pointOfNoReturn: 'stop-dual-write',
    artifacts: input.artifacts,
  });

  const parity = m.keep<ParityState>('parity', () => ({ cycles: 0, clean: 0, cleanSince: null, nextAt: 0, history: [], alerts: [], alertsTotal: 0, noise: {}, records: {} }));

  // ---- phases ------------------------------------------------------------------------------------------

  const preflight = () =>
    m.check(
      'preflight',
      () =>
        checks(`preflight ${old.name} → ${neu.name}: NameNodes, sources, paths, job hosts`).hdfsPreflight({
          clusters: { old, new: neu },
          datasets: input.datasets,
          ...(input.jobs.length ? { outputRoot: input.shadow.outputRoot } : {}),
          jobHosts: input.jobs.map((j, i) => ({ field: `jobs[${i}].host`, host: j.host })),
          verify: input.refresh.verify,
          freeze: input.freeze,
        }),
      (r: HdfsMovePreflightResult) =>
        `${r.clusters.map((c) => `${c.side} ${c.name}: block ${c.blockSize}, ${c.bytesPerChecksum} bytes/checksum`).join('; ')}; verify by ${r.verify} (${r.verifyWhy}); ` +
        r.datasets.map((d) => `${d.name} from ${d.source}: old ${d.old}, new ${d.new}`).join('; '),
    );

  const checkDns = () =>
    m.check('check-dns', () => checks(`look up ${dns.name}`).lookupDns({ dns }), (r) => `${dns.name} → ${r.addresses.join(', ')}`).then((r) => {
      if (!(r.addresses.length === 1 && r.addresses[0] === old.address)) {
        throw new Error(`${dns.name} resolves to ${r.addresses.join(', ') || 'nothing'}, the plan expects the old cluster ${old.name} ${old.address}`);
      }
    });

  /** Every dataset to both clusters; a refresh that still fails after its retries is reported, not thrown. */
  const refreshAll = async (verify: 'checksum' | 'sha256', progress?: (done: number) => void): Promise<{ ok: boolean; lines: string[] }> => {
    const lines: string[] = [];
    let ok = true;
    for (const d of input.datasets) {
      progress?.(lines.length);
      try {
        const r = await copies(`refresh ${d.name} on ${old.name} and ${neu.name}`).hdfsRefresh({
          source: 'local' in d.source ? { local: d.source.local } : { cluster: old, path: d.source.hdfs },
          targets: [
            { cluster: old, path: d.paths.old },
            { cluster: neu, path: d.paths.new },
          ],
          verify,
          concurrency: input.refresh.concurrency,
          ...(input.refresh.permission ? { permission: input.refresh.permission } : {}),
        });
        lines.push(refreshText(d.name, r));
      } catch (err) {
        if (abortEndsCycle(err)) throw err;
        ok = false;
        lines.push(`${d.name} refresh FAILED: ${messageOf(err)}`);
      }
    }
    return { ok, lines };
  };

  const datasetPaths = (side: 'old' | 'new') => Object.fromEntries(input.datasets.map((d) => [d.name, d.paths[side]]));

  /** One shadow job in one cycle: the old cluster's run is the result of record, the new cluster's is compared and thrown away. */
  const shadowJob = async (job: ShadowJobSpec, cycle: number): Promise<{ outcome: JobOutcome; detail: string; alert?: string[] }> => {
    const jobs = withSummary({ ...longCopies, startToCloseTimeout: (job.timeoutSeconds + 300) * 1000, retry: { ...longCopies.retry, maximumAttempts: 2 } });
    const base = `${input.shadow.outputRoot}/${job.name}`;
    const outputOf = (side: 'old' | 'new' | 'baseline') => `${base}/cycle-${cycle}${side === 'old' ? '' : `-${side}`}`;
    const run = (side: 'old' | 'new', output: string, tag: string) =>
      jobs(`run ${job.name} on ${cluster(side).name}${tag}`).hdfsRunJob({
        job,
        cluster: cluster(side),
        outputPath: output,
        datasets: datasetPaths(side),
        run: `${input.name}-${cycle}-${side}${tag ? '-baseline' : ''}`,
      });
    const remove = (side: 'old' | 'new', path: string) => steps(`remove ${cluster(side).name}:${path}`).hdfsRemovePath({ cluster: cluster(side), path });
    const compare = (a: string, b: { side: 'old' | 'new'; path: string }, noise: string[], what: string) =>
      jobs(what).hdfsCompareJobOutputs({ job, record: { cluster: old, path: a }, shadow: { cluster: cluster(b.side), path: b.path }, noise, sampleLines: input.shadow.sampleLines });

    const record = await run('old', outputOf('old'), '');
    // Noise baseline, once per job: the same job twice on the old cluster; what differs between those is noise.
    if (input.shadow.noiseBaseline && record.ok && !(job.name in parity.noise)) {
      const again = await run('old', outputOf('baseline'), ' again (noise baseline)');
      if (again.ok) {
        const c = await compare(outputOf('old'), { side: 'old', path: outputOf('baseline') }, [], `compare two runs of ${job.name} on ${old.name} (noise)`);
        parity.noise[job.name] = differingFiles(c);
      }
      await remove('old', outputOf('baseline'));
    }
    const shadow = await run('new', outputOf('new'), '');
    const failed = (r: RunJobResult) => `failed on ${cluster(r.cluster === neu.name ? 'new' : 'old').name} (exit ${r.exitCode ?? 'none'}): ${r.stderrTail ?? ''}`.trim();
    let result: { outcome: JobOutcome; detail: string; alert?: string[] };
    if (!record.ok || !shadow.ok) {
      const outcome: JobOutcome = !record.ok && !shadow.ok ? 'failed-on-both' : !record.ok ? 'failed-on-old' : 'failed-on-new';
      const lines = [...(record.ok ? [] : [`old ${old.name}: ${failed(record)}`]), ...(shadow.ok ? [] : [`new ${neu.name}: ${failed(shadow)}`])];
      result = { outcome, detail: lines.join('; '), alert: lines };
    } else {
      const c = await compare(outputOf('old'), { side: 'new', path: outputOf('new') }, parity.noise[job.name] ?? [], `compare ${job.name}: ${old.name} (record) vs ${neu.name}`);
      const noise = c.noiseSeen.length ? `; noise left out: ${c.noiseSeen.join(', ')}` : '';
      result = c.equal
        ? { outcome: 'equal', detail: `equal (${plural(c.differences.files, 'file')}, ${c.differences.bytes} B)${noise}` }
        : { outcome: 'different', detail: `${differenceLines(c, 3).join('; ')}${noise}`, alert: differenceLines(c) };
    }
    // The new cluster's output is thrown away; the old one's is kept as the record (the previous record goes).
    await remove('new', outputOf('new'));
    const previous = parity.records[job.name];
    if (record.ok) {
      parity.records[job.name] = outputOf('old');
      if (previous && previous !== outputOf('old')) await remove('old', previous);
    }
    return result;
  };

  const sendAlert = async (cycle: number, job: string, title: string, details: string[]) => {
    let sent = 'no webhook in the plan';
    if (input.alert) {
      try {
        const r = await steps(`alert: ${title}`).hdfsAlert({ webhook: input.alert.webhook, title, job, details });
        sent = r.sent ? `sent (HTTP ${r.status ?? '?'})` : `not sent: ${r.error ?? `HTTP ${r.status ?? '?'}`}`;
      } catch (err) {
        if (abortEndsCycle(err)) throw err;
        sent = `not sent: ${messageOf(err)}`;
      }
    }
    parity.alerts.push({ cycle, at: new Date().toISOString(), job, title, details, sent });
    parity.alerts.splice(0, Math.max(0, parity.alerts.length - ALERTS_KEPT));
    parity.alertsTotal++;
  };

  /** One cycle: refresh every dataset on both clusters; before the switch, each shadow job on both and compared. */
  const runCycle = async (mode: 'shadow' | 'soak', verify: 'checksum' | 'sha256') => {
    const cycle = parity.cycles + 1;
    const startedAt = Date.now();
    const at = new Date(startedAt).toISOString();
    parity.nextAt = startedAt + input.refresh.everyMs;
    // Shown while a gate waits for this cycle (a go sent meanwhile is held until it ends): where it is.
    const refreshed = await refreshAll(verify, (done) => m.reading(`cycle #${cycle} (refresh, ${done}/${plural(input.datasets.length, 'dataset')} done)`));
    const jobs: CycleRecord['jobs'] = [];
    if (!refreshed.ok) await sendAlert(cycle, 'refresh', `${input.name}: cycle ${cycle}: a refresh failed`, refreshed.lines.filter((l) => l.includes('FAILED')));
    if (mode === 'shadow' && refreshed.ok) {
      for (const job of input.jobs) {
        m.reading(`cycle #${cycle} (shadow job ${job.name}, ${jobs.length}/${plural(input.jobs.length, 'job')} done)`);
        let r: { outcome: JobOutcome; detail: string; alert?: string[] };
        try {
          r = await shadowJob(job, cycle);
        } catch (err) {
          if (abortEndsCycle(err)) throw err;
          r = { outcome: 'failed-on-both', detail: `could not be run: ${messageOf(err)}`, alert: [messageOf(err)] };
        }
        jobs.push({ job: job.name, outcome: r.outcome, detail: r.detail });
        if (r.alert) {
          const what = r.outcome === 'different' ? `outputs differ between ${old.name} and ${neu.name}` : r.outcome.replace(/-/g, ' ');
          await sendAlert(cycle, job.name, `${input.name}: ${job.name}: ${what} (cycle ${cycle})`, r.alert);
        }
      }
    }
    const clean = refreshed.ok && jobs.every((j) => j.outcome === 'equal');
    parity.cycles = cycle;
    if (clean) {
      parity.clean++;
      parity.cleanSince ??= at;
    } else {
      parity.clean = 0;
      parity.cleanSince = null;
    }
    parity.history.push({ cycle, at, mode, clean, refreshed: refreshed.lines.join('; '), jobs });
    parity.history.splice(0, Math.max(0, parity.history.length - HISTORY_KEPT));
    publishParity();
  };

  const cycleLine = (c: CycleRecord) =>
    `#${c.cycle} ${c.mode} ${c.clean ? 'clean' : 'NOT clean'}${c.jobs.length ? `: ${c.jobs.map((j) => `${j.job} ${j.outcome}`).join(', ')}` : ''}`;
  const lastAlert = () => {
    const a = parity.alerts[parity.alerts.length - 1];
    return a ? `#${a.cycle} ${a.title}: ${a.details.slice(0, 3).join('; ')} (${a.sent})` : 'none';
  };
  const cleanEnough = () =>
    parity.clean >= input.clean.cycles && parity.cleanSince !== null && Date.now() - Date.parse(parity.cleanSince) >= input.clean.minimumMs;
  /** What the latest cycle that was not clean found: the jobs that were not equal, or the refresh. */
  const uncleanWhat = (c: CycleRecord) => c.jobs.filter((j) => j.outcome !== 'equal').map((j) => `${j.job} ${j.outcome}`).join(', ') || 'a refresh failed';
  /** The gate's verdict: the clean period reached, or why not (what reset the count, how far it has come since). */
  const verdict = (): string => {
    if (cleanEnough()) return CLEAN_PERIOD_REACHED;
    if (parity.clean >= input.clean.cycles) {
      const cleanS = parity.cleanSince ? Math.floor((Date.now() - Date.parse(parity.cleanSince)) / 1000) : 0;
      return `NOT clean: clean for ${cleanS} s of the ${Math.round(input.clean.minimumMs / 1000)} s the plan asks`;
    }
    const last = [...parity.history].reverse().find((c) => !c.clean);
    const since = `${parity.clean} of ${plural(input.clean.cycles, 'clean cycle')} in a row`;
    return `NOT clean: ${last ? `cycle #${last.cycle} found a difference or a failure (${uncleanWhat(last)}), ${since} since` : since}`;
  };

  function publishParity() {
    m.setFigures({
      cycles: parity.cycles,
      cleanCycles: parity.clean,
      cleanNeeded: `${plural(input.clean.cycles, 'cycle')}${input.clean.minimumMs ? ` over ${Math.round(input.clean.minimumMs / 1000)} s` : ''}`,
      cleanSince: parity.cleanSince ?? 'not clean',
      lastCycle: parity.history.length ? `${cycleLine(parity.history[parity.history.length - 1])}; ${parity.history[parity.history.length - 1].refreshed}` : 'none',
      parityHistory: parity.history.slice(-5).reverse().map(cycleLine).join(' · '),
      alerts: parity.alertsTotal,
      lastAlert: lastAlert(),
      // What differed between two runs of a job on the old cluster: left out of its comparisons, reported here.
      ...(input.jobs.length ? { noise: Object.entries(parity.noise).map(([job, files]) => `${job}: ${files.length ? files.join(', ') : 'none'}`).join('; ') || 'no baseline yet' } : {}),
      nextRefreshAt: new Date(parity.nextAt).toISOString(),
    });
    upsertSearchAttributes([{ key: cleanCyclesKey, value: parity.clean }]);
  }

  /** Cycles until the clean period is reached: a wait (it continues as new with the parity state when due). */
  const dualWrite = (verify: 'checksum' | 'sha256') =>
    m.step(
      'dual-write',
      () =>
        m.waitUntil(
          async () => {
            const wait = parity.nextAt - Date.now();
            if (wait > 0) await m.sleep(wait);
            await runCycle('shadow', verify);
            // A dry run shows one cycle: its clock does not move and nothing it compares can differ.
            if (cleanEnough() || isDryRun()) return { done: true as const, value: { cycles: parity.cycles, clean: parity.clean } };
            return { done: false as const, state: null };
          },
          null,
          { timeoutMs: Number.MAX_SAFE_INTEGER, onTimeout: 'wait', late: () => 'not clean yet' },
        ),
      (r) => `clean period reached after ${plural(r.cycles, 'cycle')}: ${plural(r.clean, 'clean cycle')} in a row`,
    );

  const parityEvidence = (verify: string): Evidence => ({
    cleanCycles: parity.clean,
    cleanNeeded: input.clean.cycles,
    cleanSince: parity.cleanSince ?? 'not clean',
    cycles: parity.cycles,
    history: parity.history.slice(-Math.max(input.clean.cycles, 5)).reverse().map(cycleLine).join(' · ') || 'none',
    lastRefresh: parity.history[parity.history.length - 1]?.refreshed ?? 'none',
    alerts: parity.alertsTotal,
    lastAlert: lastAlert(),
    verify,
    nextRefreshAt: new Date(parity.nextAt).toISOString(),
  });

  /**
   * Gate evidence that keeps the cycles going while the gate waits: a due cycle runs before a refresh's read (not
   * before the first, which opens the gate on what the last cycle found). A decision taken during a cycle is
   * recorded at once and acted on when the cycle ends (at `cutover`, a go only if that cycle kept the clean period).
   */
  const cyclingEvidence = (gate: string, mode: 'shadow' | 'soak', verify: 'checksum' | 'sha256', extra: () => Evidence): EvidenceSource => ({
    read: async (): Promise<Evidence> => {
      if (m.status.gate?.name === gate && Date.now() >= parity.nextAt) await runCycle(mode, verify);
      return { ...parityEvidence(verify), ...extra() };
    },
    everyMs: input.refresh.everyMs,
    maxEveryMs: input.refresh.everyMs,
  });

  const freeze = async (): Promise<void> => {
    if (!input.freeze) return;
    const entries = await m.check(
      'read-permissions',
      () => checks(`what group and others may write under the datasets on ${old.name}`).hdfsWritableByOthers({ cluster: old, paths: input.datasets.map((d) => d.paths.old) }),
      (r) => (r.length ? `${plural(r.length, 'path')} writable by group or others on ${old.name}: ${r.slice(0, 3).map((e) => `${e.path} ${e.permission}`).join(', ')}${r.length > 3 ? ' …' : ''}` : `nothing on ${old.name} is writable by group or others`),
    );
    // Registered first: a freeze that times out after taking effect is still undone. Only after the name is back.
    m.compensate({
      step: 'freeze',
      manualAction: `on ${old.name}, put back the permissions: ${entries.slice(0, 5).map((e) => `hdfs dfs -chmod ${e.permission} ${e.path}`).join('; ')}${entries.length > 5 ? ` (and ${entries.length - 5} more, see read-permissions)` : ''}`,
      undo: 'unfreeze',
      args: { entries },
      after: ['switch-traffic'],
    });
    await m.step(
      'freeze',
      () => steps(`take the write bits of group and others off ${plural(entries.length, 'path')} on ${old.name}`).hdfsSetPermissions({ cluster: old, entries: entries.map((e) => ({ path: e.path, permission: readOnlyForOthers(e.permission) })) }),
      (r) => `old cluster's dataset paths read-only for everyone but ${old.user ?? 'their owner'} (${r.set} permission(s) changed)`,
    );
  };

  const finalSync = async (verify: 'checksum' | 'sha256') => {
    await m.step(
      'final-refresh',
      async () => {
        const r = await refreshAll(verify);
        if (!r.ok) throw new Error(`final refresh failed: ${r.lines.filter((l) => l.includes('FAILED')).join('; ')}`);
        return r.lines.join('; ');
      },
      (s) => s,
    );
    await m.step(
      'final-parity',
      async () => {
        const r = await copies(`compare every dataset on ${old.name} and ${neu.name}`).hdfsParity({ old, new: neu, datasets: input.datasets, method: verify === 'checksum' ? 'auto' : 'sha256' });
        const differ = r.filter((d) => !d.equal);
        if (differ.length) throw new Error(`datasets differ between ${old.name} and ${neu.name}: ${differ.map((d) => `${d.name}: ${d.detail}`).join('; ')}`);
        return r;
      },
      (r: DatasetParity[]) => r.map((d) => `${d.name} identical on both: ${plural(d.files, 'file')}, ${d.bytes} B`).join('; '),
    );
  };

  const switchTraffic = async () => {
    m.compensate({ step: 'switch-traffic', manualAction: `point ${dns.name} back at ${old.address} (nsupdate -k ${tsigKeyLabel(dns)})`, undo: 'switchBack', args: { from: neu.address, to: old.address } });
    const r = await m.step(
      'switch-traffic',
      () => steps(`${dns.name} → ${neu.address}`).switchDns({ dns, from: old.address, to: neu.address }),
      (r) => `${dns.name} → ${neu.address} (${neu.name}; ${r.changed ? `confirmed in ${r.confirmedMs} ms` : 'already there'})`,
    );
    m.setFigures({ dnsSwitchedAt: new Date().toISOString(), dnsConfirmMs: r.confirmedMs });
  };

  /** After the switch, refreshes keep writing to both clusters for the soak: the way back loses nothing. */
  const soak = (verify: 'checksum' | 'sha256') =>
    m.step(
      'soak',
      () =>
        // The end of the soak is the wait's own state: a run that continues as new mid-soak keeps it.
        m.waitUntil(
          async (state: { until: number }) => {
            const next = Math.min(parity.nextAt, state.until);
            if (next > Date.now()) await m.sleep(next - Date.now());
            if (Date.now() >= state.until || isDryRun()) return { done: true as const, value: { until: new Date(state.until).toISOString(), cycles: parity.cycles } };
            await runCycle('soak', verify);
            return { done: false as const, state };
          },
          { until: Date.now() + input.soakMs },
          { timeoutMs: Number.MAX_SAFE_INTEGER, onTimeout: 'wait', late: () => 'soaking' },
        ),
      (r) => `soaked until ${r.until}: both clusters refreshed throughout (${plural(r.cycles, 'cycle')} in all)`,
    );

  // ---- the move ----------------------------------------------------------------------------------------

  return m.run(async () => {
    const pre = await preflight();
    m.setFigures({ verify: pre.verify, verifyWhy: pre.verifyWhy, datasets: input.datasets.length, jobs: input.jobs.length });
    await checkDns();
    await dualWrite(pre.verify);
    await m.gate(
      'cutover',
      {
        ...cyclingEvidence('cutover', 'shadow', pre.verify, () => ({
          verdict: verdict(),
          dns: `${dns.name} → ${old.address} (${old.name})`,
          onGo: `${input.freeze ? `freeze the datasets on ${old.name} (go-w), ` : ''}final refresh and parity check, then ${dns.name} → ${neu.address}`,
          irreversible: 'nothing yet: a no-go leaves the old cluster as it is',
        })),
        // Cycles go on while the gate waits: one that finds a difference or a failure stops a go (see cutoverGoRefusal).
        goRefusal: cutoverGoRefusal,
      },
      input.gates.cutover,
    );
    m.openOutageWindow('freeze');
    await freeze();
    await finalSync(pre.verify);
    await switchTraffic();
    m.closeOutageWindow();
    await soak(pre.verify);
    await m.gate(
      'complete',
      cyclingEvidence('complete', 'soak', pre.verify, () => ({
        dns: `${dns.name} → ${neu.address} (${neu.name})`,
        oldCluster: `${old.name} ${input.freeze ? 'frozen for others, ' : ''}still refreshed by cutover`,
        onGo: `stop refreshing ${old.name}: it stays as it is (frozen) until you retire it`,
        onNoGo: `${dns.name} back to ${old.address} and ${old.name}'s permissions as before: nothing lost, it was refreshed throughout`,
      })),
      input.gates.complete,
    );
    m.passPointOfNoReturn();
    await m.step(
      'stop-dual-write',
      async () => ({ cycles: parity.cycles, alerts: parity.alertsTotal }),
      (r) => `dual write ended after ${plural(r.cycles, 'cycle')} (${plural(r.alerts, 'alert')}); ${neu.name} serves ${dns.name}; ${old.name} is no longer refreshed`,
    );
  });
}
