// HDFS activities for the dual-write move: refresh a dataset on both clusters, run the same job against both, compare
// their outputs, alert on a difference, remove the shadow's output (jobs.ts, alert.ts); the move's preflight, freeze
// and parity check (preflight.ts, freeze.ts). The building blocks are exported for the tests.
import { cancellationSignal } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import { withSsh } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { keepBeating } from '../remote/heartbeat';
import { createAlertActivities, type AlertOptions } from './alert';
import { createHdfsFreezeActivities } from './freeze';
import { createHdfsPreflightActivities } from './preflight';
import { compareOutputs, type CompareOptions, type CompareResult, type OutputLocation } from './compare';
import { type Dataset, hdfsDataset, localDataset } from './dataset';
import { describeMismatches, refreshDataset, type RefreshOptions, type RefreshProgress, type RefreshResult, type RefreshTarget } from './refresh';
import { hdfsFailure } from './failures';
import { createJobActivities } from './jobs';
import { WebHdfsClient, type WebHdfsCluster } from './webhdfs';

export { checksumKey, HdfsChecksum, sameChecksum, type FileChecksum } from './checksum';
export { compareOutputs, diffLines, diffListings, type CompareResult } from './compare';
export { hdfsDataset, localDataset, type Dataset } from './dataset';
export { refreshDataset, tempPathFor, verifyDataset, type RefreshResult, type RefreshTarget } from './refresh';
export { WebHdfsClient, WebHdfsError, type WebHdfsCluster } from './webhdfs';
export { hdfsFailure } from './failures';
export { slackPayload, sendAlert } from './alert';
export { describeDifferences, judgeJobComparison, noiseFiles, substitutePlaceholders } from './jobs';
export type * from './jobs';
export { verifyMethod, type HdfsMovePreflightInput, type HdfsMovePreflightResult } from './preflight';
export { withoutOthersWrite, writableByOthers, type DatasetParity, type PermissionEntry } from './freeze';

export type RefreshSource = { local: string } | { cluster: WebHdfsCluster; path: string };

export interface HdfsRefreshInput {
  source: RefreshSource;
  targets: RefreshTarget[];
  concurrency?: number;
  permission?: string;
  blockSize?: number;
  verify?: RefreshOptions['verify'];
}

function datasetOf(source: RefreshSource, timeoutMs?: number): Dataset {
  return 'local' in source ? localDataset(source.local) : hdfsDataset(new WebHdfsClient(source.cluster, fetch, { timeoutMs }), source.path);
}

/** How long a refresh waits on a silent cluster before the attempt fails (tests shorten it). */
export interface RefreshTuning {
  /** See DEFAULT_TIMEOUT_MS: a WebHDFS call without an answer or a byte moving for this long fails as unreachable. */
  timeoutMs?: number;
}

/**
 * `deps.withSsh` runs the shadow jobs on their hosts and checks the job hosts in preflight (the real ssh2 client
 * unless a test or the dry run injects another); `alert` tunes the webhook's tries, `refresh` how long a refresh
 * waits on a cluster that does not answer (tests).
 */
export function createHdfsActivities(deps: Pick<ActivityDeps, 'withSsh'> = { withSsh }, alert: AlertOptions = {}, refresh: RefreshTuning = {}) {
  return {
    ...createJobActivities(deps),
    ...createAlertActivities(alert),
    ...createHdfsPreflightActivities(deps),
    ...createHdfsFreezeActivities(),
    /**
     * Writes a dataset to every target cluster, resumably, then verifies every file on every side. Heartbeats the
     * progress, naming any cluster it has been waiting on for seconds (`waiting`); a cluster silent for the
     * tuning's timeout fails the attempt as unreachable (retried: what was complete is then left alone).
     */
    async hdfsRefresh(input: HdfsRefreshInput): Promise<RefreshResult> {
      let last: RefreshProgress | undefined;
      const stop = keepBeating(() => last);
      try {
        const r = await refreshDataset(datasetOf(input.source, refresh.timeoutMs), input.targets, {
          concurrency: input.concurrency, permission: input.permission, blockSize: input.blockSize, verify: input.verify,
          timeoutMs: refresh.timeoutMs, signal: cancellationSignal(), onProgress: (p) => (last = p),
        });
        if (r.verify.mismatches.length) {
          throw ApplicationFailure.nonRetryable(`refresh of ${r.source}: ${r.verify.mismatches.length} file(s) differ after the copy: ${describeMismatches(r.verify.mismatches)}`, ErrorType.VerificationFailed, r);
        }
        return r;
      } catch (err) {
        throw hdfsFailure(err, 'hdfs refresh');
      } finally {
        stop();
      }
    },

    /** Compares the outputs of the same job on two clusters; differences are a result, not a failure. */
    async hdfsCompareOutputs(input: { a: OutputLocation; b: OutputLocation } & Omit<CompareOptions, 'signal'>): Promise<CompareResult> {
      const stop = keepBeating(() => ({ comparing: `${input.a.cluster.name}:${input.a.path} ↔ ${input.b.cluster.name}:${input.b.path}` }));
      try {
        return await compareOutputs(input.a, input.b, { ...input, signal: cancellationSignal() });
      } catch (err) {
        throw hdfsFailure(err, 'hdfs compare');
      } finally {
        stop();
      }
    },
  };
}
