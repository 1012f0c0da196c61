// Shadow jobs for the hdfs-dual-write move: the same job run against the old and the new cluster, the old
// cluster's output kept as the result of record, the outputs compared (noise from two runs on the old cluster left
// out), and an alert when they differ. These are the types the workflow and the activities agree on; the
// activities live beside them.
import type { SshHost } from '../../workflows/shared/types';
import type { CompareResult } from './compare';
import type { WebHdfsCluster } from './webhdfs';

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
}

export interface AlertResult {
  sent: boolean;
  status?: number;
  error?: string;
}
