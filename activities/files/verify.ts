// Verifying a copied tree: every file compared by checksum (rsync in dry-run mode); any difference fails the run.
import { cancellationSignal } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { ActivityDeps } from '../deps';
import { keepBeating, onHost } from '../remote';
import type { RsyncPassInput } from './copy';
import { itemizedDifferences, parseStats, rsyncCommand } from './rsync';

export interface VerifyTreesResult {
  identical: boolean;
  files: number;
  bytes: number;
  differences: string[];
  verifiedAt: string;
}

export function createVerifyActivities(deps: ActivityDeps) {
  return {
    /** File lists, sizes and checksums of every file compared by rsync in dry-run checksum mode. */
    async verifyTrees(input: Omit<RsyncPassInput, 'pass' | 'delete' | 'bandwidthLimitKBps'>): Promise<VerifyTreesResult> {
      // Checksumming a large tree on both sides takes minutes, and rsync prints nothing until it is done:
      // heartbeat on a clock (also what delivers a cancellation), with how long it has been going.
      const started = Date.now();
      const stop = keepBeating(() => ({ stage: 'verifying', seconds: Math.round((Date.now() - started) / 1000) }));
      let output;
      try {
        output = await onHost(deps, input.source.host, 'verify', (c) =>
          c.exec(rsyncCommand({ ...input, delete: true, bandwidthLimitKBps: 0 }, 'verify'), { signal: cancellationSignal() }),
        );
      } finally {
        stop();
      }
      const stats = parseStats(output.stdout);
      const differences = itemizedDifferences(output.stdout);
      const result = {
        identical: differences.length === 0,
        files: stats.regularFiles,
        bytes: stats.totalBytes,
        differences: differences.slice(0, 20),
        verifiedAt: new Date().toISOString(),
      };
      if (!result.identical) {
        throw ApplicationFailure.create({
          type: ErrorType.VerificationFailed,
          nonRetryable: true,
          message: `${differences.length} difference(s) between ${input.source.host.name}:${input.source.path} and ${input.target.host.name}:${input.target.path}, first: ${differences.slice(0, 3).join(', ')}`,
          details: [result],
        });
      }
      return result;
    },
  };
}
