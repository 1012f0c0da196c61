// Copying a file tree: one rsync pass from the source host to the target, and its undo (the target put back).
import { activityInfo, cancellationSignal, log } from '@temporalio/activity';
import type { ActivityDeps } from '../deps';
import { assertRemovable, keepBeating, onHost, restoreTarget, runFile, stopProcess } from '../remote';
import { parseProgress, parseStats, rsyncCommand, type RsyncProgress, type RsyncTransfer, type TreeEndpoint } from './rsync';

export interface RsyncPassInput extends RsyncTransfer {
  migrationId: string;
  pass: string;
}

export interface RsyncPassResult {
  pass: string;
  filesTransferred: number;
  bytesTransferred: number;
  literalBytes: number;
  deletedFiles: number;
  totalFiles: number;
  totalBytes: number;
  durationMs: number;
  attempt: number;
}

// rsync --info=progress2 prints a line per file (about 75 bytes): for 20,000 files that was 12,000 SSH packets,
// parses and heartbeats, 2 s of worker CPU per 1.2 GB copied. Sampled on the source host, at most one a second
// reaches the worker; records holding a newline (the --stats block at the end) always pass. perl-base is
// Essential on Debian; preflight checks for it.
const progressSampler = `perl -e '$/ = "\\r"; $| = 1; my $t = 0; while (<STDIN>) { if (/\\n/ || time - $t >= 1) { print; $t = time } }'`;

export function createCopyActivities(deps: ActivityDeps) {
  return {
    /** One rsync pass from source to target, run on the source host. Heartbeats files and bytes. */
    async rsyncPass(input: RsyncPassInput): Promise<RsyncPassResult> {
      const info = activityInfo();
      const started = Date.now();
      const pid = runFile('rsync', input.migrationId, 'pid');
      if (info.attempt > 1) {
        log.info('resuming rsync pass after a previous attempt', { pass: input.pass, attempt: info.attempt, last: info.heartbeatDetails });
      }
      // A previous attempt's rsync may outlive its worker: stop it, so two transfers never write the same files.
      // The FIFO keeps `$!` and the exit code pointing at rsync rather than at the sampler.
      const fifo = runFile('rsync', input.migrationId, 'progress');
      const command =
        `${stopProcess(pid)}; rm -f ${fifo}; mkfifo ${fifo} || exit 1; ${progressSampler} < ${fifo} & ` +
        `${rsyncCommand(input, 'copy')} > ${fifo} & echo $! > ${pid}; wait $!; rc=$?; wait; rm -f ${pid} ${fifo}; exit $rc`;
      // Heartbeat on a clock, not on output: rsync is silent while it builds the file list (--no-inc-recursive),
      // which on millions of files takes longer than the heartbeat timeout.
      let latest: RsyncProgress | null = null;
      const stopBeating = keepBeating(() => ({ pass: input.pass, attempt: info.attempt, ...(latest ?? { phase: 'file list' }) }));
      let output;
      try {
        output = await onHost(deps, input.source.host, `rsync pass ${input.pass}`, (c) =>
          c.exec(command, {
            signal: cancellationSignal(),
            // Only the tail matters (--stats); the whole progress stream of a huge tree would not fit in a string.
            keepStdout: 64 * 1024,
            onStdout: (chunk) => {
              latest = parseProgress(chunk) ?? latest;
            },
          }),
        );
      } catch (err) {
        if (cancellationSignal().aborted) {
          // Cancelled (abort, rollback): make sure the remote rsync is gone before a compensation removes its target.
          await deps.withSsh(input.source.host, (c) => c.exec(stopProcess(pid), { allowFailure: true })).catch((e) =>
            log.warn('could not stop the cancelled rsync', { error: (e as Error).message }),
          );
        }
        throw err;
      } finally {
        stopBeating();
      }
      const stats = parseStats(output.stdout);
      return {
        pass: input.pass,
        filesTransferred: stats.filesTransferred,
        bytesTransferred: stats.transferredBytes,
        literalBytes: stats.literalBytes,
        deletedFiles: stats.deletedFiles,
        totalFiles: stats.regularFiles,
        totalBytes: stats.totalBytes,
        durationMs: Date.now() - started,
        attempt: info.attempt,
      };
    },

    /** Compensation: remove what the move created on the target. Only called when the plan allows it. */
    async removeTargetTree(input: { target: TreeEndpoint; previousState: 'absent' | 'empty' }): Promise<{ removed: string }> {
      const p = assertRemovable(input.target.path);
      const done = await onHost(deps, input.target.host, 'remove target tree', (c) => restoreTarget(c, p, input.previousState));
      return { removed: `${p} ${done}` };
    },
  };
}
