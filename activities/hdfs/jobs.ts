// Shadow jobs for the hdfs-dual-write move: the same job run against the old and the new cluster, the old
// cluster's output kept as the result of record, the outputs compared (noise from two runs on the old cluster left
// out), and an alert when they differ. These are the types the workflow and the activities agree on; the
// activities live beside them.
import { createHash } from 'node:crypto';
import { cancellationSignal, cancelled, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { SshHost } from '../../workflows/shared/types';
import { shellWords, SshError } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { toFailure } from '../failures';
import { keepBeating, RUN_DIR, runFile, runInOwnSession, stopSession } from '../remote';
import { compareOutputs, type CompareResult, type FileDifference, type LineDiff } from './compare';
import { hdfsFailure } from './failures';
import { normaliseHdfsPath, WebHdfsClient, type WebHdfsCluster } from './webhdfs';
import { deadlineSignal } from '../deadline';

/** One job from the plan: an argv run on `host` over SSH, with placeholders substituted per cluster. */
export interface ShadowJobSpec {
  name: string;
  /**
   * The command as argv (each element quoted for the remote shell). Placeholders: `{fs}` the cluster's
   * `hdfs://host:8020`, `{output}` this run's output path on that cluster, `{dataset:NAME}` the dataset's path on
   * that cluster, `{run}` a short id of this run.
   */
  command: string[];
  /** Where the job runs (an edge host with the Hadoop client): the plan's host, reached over SSH. */
  host: SshHost;
  /** `bytes`: outputs equal file by file; `sorted-lines`: text outputs equal as sorted line multisets. */
  compare: 'bytes' | 'sorted-lines';
  timeoutSeconds: number;
}

/** A cluster as a job sees it: WebHDFS for cutover, the RPC address for the job's `{fs}`. */
export interface JobCluster extends WebHdfsCluster {
  /** `hdfs://10.1.0.9:8020` */
  fs: string;
}

export interface RunJobInput {
  job: ShadowJobSpec;
  cluster: JobCluster;
  /** Output path on that cluster for this run (removed first if a previous attempt left it). */
  outputPath: string;
  /** Dataset name → its path on that cluster. */
  datasets: Record<string, string>;
  run: string;
}

/** A job that fails is a result (which cluster, exit code, the end of its stderr), not an activity failure. */
export interface RunJobResult {
  job: string;
  cluster: string;
  ok: boolean;
  exitCode: number | null;
  ms: number;
  outputPath: string;
  /** The last lines of stderr, control characters stripped, when the job failed. */
  stderrTail?: string;
  /** The job ran past its `timeoutSeconds` and was stopped (then `ok` is false). */
  timedOut?: boolean;
}

export interface CompareJobOutputsInput {
  job: ShadowJobSpec;
  /** The result of record (old cluster) and the shadow (new cluster). */
  record: { cluster: WebHdfsCluster; path: string };
  shadow: { cluster: WebHdfsCluster; path: string };
  /** Files (relative paths) that differed between two runs on the old cluster: left out and reported as noise. */
  noise: string[];
  sampleLines: number;
}

export interface CompareJobOutputsResult {
  job: string;
  equal: boolean;
  /** Differences that are not noise. */
  differences: CompareResult;
  /** Noise files that differed here too (left out of `equal`). */
  noiseSeen: string[];
}

export interface AlertInput {
  /** Secret name or reference of the webhook URL (Slack-compatible); the URL itself never enters history. */
  webhook: import('../../workflows/shared/types').SecretRef;
  /** Slack-compatible JSON: `text` plus `blocks`, built by the workflow from the comparison. */
  title: string;
  job: string;
  details: string[];
  /** Tries before giving up (default 3), with a growing pause between them. */
  attempts?: number;
}

export interface AlertResult {
  sent: boolean;
  status?: number;
  error?: string;
  /** Tries made (retried on no answer, 429 and 5xx). */
  attempts?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Placeholders

/** `{name}` or `{name:arg}`: a word without spaces, so `awk '{print $1}'` is left alone; `{fs}` or `{outptu}` are not. */
const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_-]*)(?::([^{}\s]*))?\}/g;

export interface PlaceholderValues {
  fs: string;
  output: string;
  run: string;
  datasets: Record<string, string>;
  /** For messages: the cluster these values are for. */
  cluster: string;
}

/**
 * Pure: the job's argv with `{fs}`, `{output}`, `{run}` and `{dataset:NAME}` replaced, each element staying one
 * word. An unknown placeholder or dataset is a mistake in the plan: InvalidPlan, naming it and where it is.
 */
export function substitutePlaceholders(job: Pick<ShadowJobSpec, 'name' | 'command'>, v: PlaceholderValues): string[] {
  if (!Array.isArray(job.command) || job.command.length === 0 || job.command.some((w) => typeof w !== 'string')) {
    throw ApplicationFailure.nonRetryable(`job ${job.name}: command must be a non-empty list of strings`, ErrorType.InvalidPlan);
  }
  return job.command.map((word, i) =>
    word.replace(PLACEHOLDER, (whole: string, name: string, arg: string | undefined) => {
      const where = `job ${job.name}: command[${i}]`;
      if (arg === undefined && name === 'fs') return v.fs;
      if (arg === undefined && name === 'output') return v.output;
      if (arg === undefined && name === 'run') return v.run;
      if (name === 'dataset' && arg !== undefined) {
        const p = Object.hasOwn(v.datasets, arg) ? v.datasets[arg] : undefined;
        if (p === undefined) {
          const known = Object.keys(v.datasets).sort().join(', ') || 'none';
          throw ApplicationFailure.nonRetryable(`${where}: ${whole} names no dataset on ${v.cluster} (datasets: ${known})`, ErrorType.InvalidPlan);
        }
        return p;
      }
      throw ApplicationFailure.nonRetryable(
        `${where}: unknown placeholder ${whole} (known: {fs}, {output}, {run}, {dataset:NAME})`,
        ErrorType.InvalidPlan,
      );
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Text shown to people: a job's stderr, differing lines

/** Pure: terminal escapes and control characters out (newlines and tabs kept, carriage returns as newlines). */
export function stripControl(s: string): string {
  return s
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b[@-_]/g, '')
    .replace(/\r\n?/g, '\n')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}

/** Pure: the last `lines` non-empty lines of `s`, control characters stripped, at most `maxChars`. */
export function tailOf(s: string, lines = 20, maxChars = 4000): string {
  const out = stripControl(s)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .join('\n');
  return out.length > maxChars ? `…${out.slice(-maxChars)}` : out;
}

const SAMPLE_LINE_CHARS = 300;
const clip = (l: string) => {
  const c = stripControl(l).replace(/\n/g, ' ');
  return c.length > SAMPLE_LINE_CHARS ? `${c.slice(0, SAMPLE_LINE_CHARS)}…` : c;
};

// ---------------------------------------------------------------------------------------------------------------
// Comparing a job's outputs, noise

/** Hadoop's hidden files (`_SUCCESS`, `_logs/...`, `.crc`): markers and logs, not the output a reader sees. */
export const isHadoopHidden = (relPath: string) => relPath.split('/').some((s) => s.startsWith('_') || s.startsWith('.'));

/** Pure: every file two runs disagree on (only on one side, other size, other content or lines). */
export function differingFiles(r: CompareResult): string[] {
  return [...r.onlyInA, ...r.onlyInB, ...r.sizeDiffers.map((d) => d.path), ...r.differing.map((d) => d.path)];
}

/**
 * Pure: the noise of a job, from comparisons of two runs of it on the old cluster (Diffy's idea: what differs
 * between two runs of the old system says nothing about the new one). Sorted, each once.
 */
export function noiseFiles(...baselines: CompareResult[]): string[] {
  return [...new Set(baselines.flatMap(differingFiles))].sort();
}

/**
 * Pure: a comparison made with lines (compareOutputs `lines: true`) judged as the job asks, noise left out.
 * `bytes`: the same lines in another order, or a size that differs, still differ (and carry their sample lines);
 * `sorted-lines`: only the line multisets count. Sample lines are clipped and stripped of control characters.
 */
export function judgeJobComparison(job: Pick<ShadowJobSpec, 'name' | 'compare'>, r: CompareResult, noise: string[]): CompareJobOutputsResult {
  const noisy = new Set(noise);
  const seen = new Set<string>();
  const keep = (p: string) => {
    if (!noisy.has(p)) return true;
    seen.add(p);
    return false;
  };
  const cleanLines = (l: LineDiff): LineDiff => ({ ...l, sampleOnlyInA: l.sampleOnlyInA.map(clip), sampleOnlyInB: l.sampleOnlyInB.map(clip) });
  const differing: FileDifference[] = r.differing.filter((d) => keep(d.path)).map((d) => (d.lines ? { ...d, lines: cleanLines(d.lines) } : d));
  let sameLinesOtherOrder = r.sameLinesOtherOrder.filter(keep);
  if (job.compare === 'bytes') {
    for (const path of sameLinesOtherOrder) differing.push({ path, why: 'content', note: 'the same lines in another order' });
    sameLinesOtherOrder = [];
    differing.sort((x, y) => (x.path < y.path ? -1 : 1));
  }
  const differences: CompareResult = {
    ...r,
    onlyInA: r.onlyInA.filter(keep),
    onlyInB: r.onlyInB.filter(keep),
    sizeDiffers: r.sizeDiffers.filter((d) => keep(d.path)),
    differing,
    sameLinesOtherOrder,
  };
  differences.equal =
    !differences.onlyInA.length && !differences.onlyInB.length && !differences.differing.length && (job.compare === 'sorted-lines' || !differences.sizeDiffers.length);
  return { job: job.name, equal: differences.equal, differences, noiseSeen: [...seen].sort() };
}

/** Pure: what an alert says about a comparison, one line per finding, with sample lines. */
export function describeDifferences(c: CompareJobOutputsResult, maxFiles = 10): string[] {
  const d = c.differences;
  const out: string[] = [];
  for (const p of d.onlyInA) out.push(`${p}: only in ${d.a}`);
  for (const p of d.onlyInB) out.push(`${p}: only in ${d.b}`);
  for (const f of d.differing) {
    const l = f.lines;
    if (l) {
      const a = l.sampleOnlyInA.map((x) => `  - ${x}`).join('\n');
      const b = l.sampleOnlyInB.map((x) => `  + ${x}`).join('\n');
      out.push(`${f.path}: ${l.countOnlyInA} line(s) only in ${d.a}, ${l.countOnlyInB} only in ${d.b}${a ? `\n${a}` : ''}${b ? `\n${b}` : ''}`);
    } else {
      out.push(`${f.path}: content differs${f.note ? ` (${f.note})` : ''}`);
    }
  }
  const shown = new Set(d.differing.map((f) => f.path));
  for (const s of d.sizeDiffers) if (!shown.has(s.path)) out.push(`${s.path}: ${s.a} bytes in ${d.a}, ${s.b} in ${d.b}`);
  if (c.noiseSeen.length) out.push(`noise (differs between two runs on the old cluster too, left out): ${c.noiseSeen.join(', ')}`);
  return out.length > maxFiles ? [...out.slice(0, maxFiles), `… and ${out.length - maxFiles} more`] : out;
}

// ---------------------------------------------------------------------------------------------------------------
// Activities

/** Refuses `/` and one-segment paths: removing a job's output must never take a dataset root or the whole tree. */
export function assertDeepHdfsPath(p: string, what: string): string {
  let clean: string;
  try {
    clean = normaliseHdfsPath(p);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`${what}: ${(err as Error).message}`, ErrorType.InvalidPlan);
  }
  if (clean.split('/').filter(Boolean).length < 2) {
    throw ApplicationFailure.nonRetryable(`${what}: refusing to remove ${p}: not at least two levels deep`, ErrorType.InvalidPlan);
  }
  return clean;
}

/** Exit code of `timeout` when the command ran out of time. */
const TIMED_OUT = 124;
/** Grace after the remote `timeout` before the worker gives up on the connection itself. */
const LOCAL_GRACE_MS = 30_000;
/** How long a stopped job's channel may take to close before it is dropped. */
const STOP_GRACE_MS = 20_000;

export function createJobActivities(deps: Pick<ActivityDeps, 'withSsh'>) {
  return {
    /**
     * Runs one job against one cluster on the job's host, over SSH: placeholders substituted, each word quoted,
     * under `timeout`, in a session of its own whose id is in a pid file per job, cluster and run (a retry stops
     * what an earlier attempt left running, then removes its output, so the job writes it once). A job that exits
     * non-zero is a result naming the cluster, not a failure; an unreachable host is retried.
     */
    async hdfsRunJob(input: RunJobInput): Promise<RunJobResult> {
      const { job, cluster, run } = input;
      const where = `job ${job.name} on ${cluster.name}`;
      const output = assertDeepHdfsPath(input.outputPath, `${where}: outputPath`);
      if (!Number.isFinite(job.timeoutSeconds) || job.timeoutSeconds <= 0) {
        throw ApplicationFailure.nonRetryable(`${where}: timeoutSeconds must be a positive number (got ${job.timeoutSeconds})`, ErrorType.InvalidPlan);
      }
      const argv = substitutePlaceholders(job, { fs: cluster.fs, output, run, datasets: input.datasets, cluster: cluster.name });
      const started = Date.now();
      let phase = 'removing an earlier output';
      let lastLine = '';
      const stop = keepBeating(() => ({ job: job.name, cluster: cluster.name, run, phase, seconds: Math.round((Date.now() - started) / 1000), lastLine }));
      const signal = cancellationSignal();
      // Per job, cluster, output and run: a retry finds its earlier attempt, two runs side by side never meet.
      const key = createHash('sha256').update(`${cluster.name}\n${output}\n${run}`).digest('hex').slice(0, 12);
      const pidFile = runFile('job', `${job.name.slice(0, 40)}-${cluster.name.slice(0, 20)}-${key}`, 'pid');
      try {
        // The output first: a previous attempt may have written part of it, and MapReduce refuses an existing one.
        try {
          const hdfs = new WebHdfsClient(cluster);
          await hdfs.delete(output, { recursive: true, signal });
          const parent = output.slice(0, output.lastIndexOf('/'));
          await hdfs.mkdirs(parent, { signal });
        } catch (err) {
          throw hdfsFailure(err, `${where}: preparing ${output}`);
        }
        phase = 'running';
        const timeout = ['timeout', '-k', '10', String(Math.ceil(job.timeoutSeconds))];
        const command = `${RUN_DIR}; ${stopSession(pidFile)}; ${runInOwnSession(pidFile, shellWords([...timeout, ...argv]))}`;
        const guard = deadlineSignal(job.timeoutSeconds * 1000 + LOCAL_GRACE_MS);
        const execSignal = AbortSignal.any([signal, guard]);
        const stopRemote = () => deps.withSsh(job.host, (c) => c.exec(`${RUN_DIR}; ${stopSession(pidFile)}`, { allowFailure: true })).then(() => undefined, () => undefined);
        // sshd closes a channel only once its command has exited, and ignores a signal request without a terminal:
        // on cancellation or the worker's own timeout the job is stopped over a second connection (by its session
        // id), which ends the command and so the channel; if even that does not end it, the channel is dropped.
        let stopping: Promise<void> | undefined;
        const gaveUp = new Promise<never>((_, reject) => {
          execSignal.addEventListener('abort', () => {
            stopping ??= stopRemote();
            setTimeout(() => reject(new SshError(`${where}: the command did not end after it was stopped`, 'command')), STOP_GRACE_MS).unref();
          }, { once: true });
        });
        let code: number;
        let stderr: string;
        try {
          const r = await deps.withSsh(
            job.host,
            (c) => Promise.race([gaveUp,
              c.exec(command, {
                signal: execSignal,
                allowFailure: true,
                keepStdout: 16 * 1024,
                keepStderr: 64 * 1024,
                onStderr: (chunk) => {
                  const l = tailOf(chunk, 1, 300);
                  if (l) lastLine = l;
                },
              })]),
            signal,
          );
          code = r.code;
          stderr = r.stderr;
        } catch (err) {
          // Whatever ended the command on this side, nothing may keep writing the output after this attempt.
          if (signal.aborted || guard.aborted) await (stopping ?? stopRemote());
          if (signal.aborted) await cancelled(); // a cancellation, reported as one
          if (guard.aborted) {
            return { job: job.name, cluster: cluster.name, ok: false, exitCode: null, ms: Date.now() - started, outputPath: output, timedOut: true, stderrTail: `no answer from ${job.host.name} ${LOCAL_GRACE_MS / 1000} s after the job's timeout of ${job.timeoutSeconds} s: stopped` };
          }
          if (err instanceof SshError && err.kind === 'command') {
            await stopRemote();
            throw ApplicationFailure.retryable(`${where}: lost the connection to ${job.host.name} while the job ran: ${err.message}`, ErrorType.HostUnreachable);
          }
          throw toFailure(err, `${where}: on ${job.host.name}`);
        }
        if (code === -1) {
          // No exit status: the connection went away under the command. Stop what may still run; the retry starts over.
          await stopRemote();
          throw ApplicationFailure.retryable(`${where}: lost the connection to ${job.host.name} while the job ran`, ErrorType.HostUnreachable);
        }
        const ms = Date.now() - started;
        heartbeat({ job: job.name, cluster: cluster.name, run, phase: 'done', exitCode: code });
        if (code === 0) return { job: job.name, cluster: cluster.name, ok: true, exitCode: 0, ms, outputPath: output };
        const timedOut = code === TIMED_OUT;
        const tail = tailOf(stderr);
        return {
          job: job.name, cluster: cluster.name, ok: false, exitCode: code, ms, outputPath: output,
          stderrTail: timedOut ? `${tail}\n(stopped after its timeout of ${job.timeoutSeconds} s)`.trim() : tail,
          ...(timedOut ? { timedOut } : {}),
        };
      } finally {
        stop();
      }
    },

    /**
     * The shadow's output against the result of record: file lists, sizes, checksums, and for differing files their
     * lines (a sample for the alert). Hadoop's hidden files (`_SUCCESS`) are left out; `noise` files are compared
     * but do not count (`noiseSeen`). A difference is a result, not a failure.
     */
    async hdfsCompareJobOutputs(input: CompareJobOutputsInput): Promise<CompareJobOutputsResult> {
      const what = `job ${input.job.name}: comparing ${input.record.cluster.name}:${input.record.path} with ${input.shadow.cluster.name}:${input.shadow.path}`;
      const stop = keepBeating(() => ({ comparing: what }));
      try {
        const r = await compareOutputs(input.record, input.shadow, {
          lines: true, sampleLines: input.sampleLines, skip: isHadoopHidden, signal: cancellationSignal(),
        });
        return judgeJobComparison(input.job, r, input.noise);
      } catch (err) {
        throw hdfsFailure(err, what);
      } finally {
        stop();
      }
    },

    /** Idempotent recursive delete of a path (the new cluster's thrown-away output); `/` and one-segment paths refused. */
    async hdfsRemovePath(input: { cluster: WebHdfsCluster; path: string }): Promise<{ cluster: string; path: string; removed: boolean }> {
      const p = assertDeepHdfsPath(input.path, `hdfs remove on ${input.cluster.name}`);
      try {
        const removed = await new WebHdfsClient(input.cluster).delete(p, { recursive: true, signal: cancellationSignal() });
        return { cluster: input.cluster.name, path: p, removed };
      } catch (err) {
        throw hdfsFailure(err, `hdfs remove ${input.cluster.name}:${p}`);
      }
    },
  };
}
