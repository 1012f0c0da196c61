// Copying a file tree: one rsync pass from the source host to the target, and its undo (the target put back).
import { activityInfo, cancellationSignal, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { ExecResult } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { assertRemovable, keepBeating, onHost, privateTempDir, removeIfOurs, restoreTarget, RUN_DIR, runFile, stopProcess } from '../remote';
import { parseProgress, parseStats, rsyncCommand, type RsyncProgress, type RsyncTransfer, type TreeEndpoint } from './rsync';

export interface RsyncPassInput extends RsyncTransfer {
  migrationId: string;
  pass: string;
  /**
   * Keep the list of what this pass changed on the source host (the final sync: what the checksum inside the
   * freeze looks at, `verifyFrozen`). A retry appends to the first attempt's list.
   */
  recordChanges?: boolean;
}

/** Shell word: the final sync's list of changes on the source host; needs RUN_DIR first. */
export function changesLog(migrationId: string): string {
  return runFile('rsync', migrationId, 'changes');
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
  /** Source files that disappeared between rsync's listing and their copy (exit 24): normal on a live tree. */
  vanishedFiles?: number;
}

// rsync --info=progress2 prints a line per file (about 75 bytes): for 20,000 files that was 12,000 SSH packets,
// parses and heartbeats, 2 s of worker CPU per 1.2 GB copied. Sampled on the source host, at most one a second
// reaches the worker; records holding a newline (the --stats block at the end) always pass. perl-base is
// Essential on Debian; preflight checks for it.
const progressSampler = `perl -e '$/ = "\\r"; $| = 1; my $t = 0; while (<STDIN>) { if (/\\n/ || time - $t >= 1) { print; $t = time } }'`;

/** rsync's exit 24: "partial transfer due to vanished source files". */
const VANISHED = 24;

/**
 * A live pass (writers running) expects files to vanish between the listing and their copy: that is exit 24,
 * and the next pass (or the final one) sees the tree as it is then. The final sync runs under the freeze (the
 * only pass with --delete): there a vanished file means something still writes, so it fails, not retried, and
 * an operator looks at the freeze hook before anything is verified or switched.
 */
function checkExit(r: ExecResult, input: RsyncPassInput): ExecResult & { vanishedFiles: number } {
  const vanishedFiles = (r.stderr.match(/^file has vanished: /gm) ?? []).length;
  if (r.code === 0) return { ...r, vanishedFiles };
  const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
  if (r.code === VANISHED && !input.delete) {
    log.info('files vanished during a live rsync pass (expected while writers run)', { pass: input.pass, vanishedFiles });
    return { ...r, vanishedFiles };
  }
  if (r.code === VANISHED) {
    throw ApplicationFailure.nonRetryable(
      `rsync pass ${input.pass}: ${vanishedFiles || 'some'} source file(s) vanished during the sync under the freeze: something still writes to ` +
        `${input.source.host.name}:${input.source.path} (check the freeze hook): ${tail}`,
      ErrorType.CommandFailed,
    );
  }
  throw ApplicationFailure.nonRetryable(`rsync pass ${input.pass} on ${input.source.host.name} exited ${r.code}: ${tail}`, ErrorType.CommandFailed);
}

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
      // The FIFO (in a private directory of this attempt) keeps `$!` and the exit code pointing at rsync rather
      // than at the sampler.
      const changes = input.recordChanges ? changesLog(input.migrationId) : undefined;
      const command =
        `${RUN_DIR}; ${stopProcess(pid, 'rsync')}; ${privateTempDir('t', 'rsync')}; f="$t/progress"; mkfifo "$f" || exit 1; ` +
        (changes && info.attempt === 1 ? `rm -f ${changes}; ` : '') +
        `${progressSampler} < "$f" & ${rsyncCommand(input, 'copy', { changesLog: changes })} > "$f" & b=$!; echo $b > ${pid}; wait $b; rc=$?; wait; ` +
        `${removeIfOurs(pid, '$b')}; rm -rf "$t"; exit $rc`;
      // Heartbeat on a clock, not on output: rsync is silent while it builds the file list (--no-inc-recursive),
      // which on millions of files takes longer than the heartbeat timeout.
      let latest: RsyncProgress | null = null;
      const stopBeating = keepBeating(() => ({ pass: input.pass, attempt: info.attempt, ...(latest ?? { phase: 'file list' }) }));
      let output;
      try {
        output = await onHost(deps, input.source.host, `rsync pass ${input.pass}`, async (c) => {
          const r = await c.exec(command, {
            signal: cancellationSignal(),
            allowFailure: true,
            // Only the tail matters (--stats); the whole progress stream of a huge tree would not fit in a string.
            keepStdout: 64 * 1024,
            onStdout: (chunk) => {
              latest = parseProgress(chunk) ?? latest;
            },
          });
          return checkExit(r, input);
        });
      } catch (err) {
        if (cancellationSignal().aborted) {
          // Cancelled (abort, rollback): make sure the remote rsync is gone before a compensation removes its target.
          await deps.withSsh(input.source.host, (c) => c.exec(`${RUN_DIR}; ${stopProcess(pid, 'rsync')}`, { allowFailure: true })).catch((e) =>
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
        vanishedFiles: output.vanishedFiles,
      };
    },

    /** Compensation: remove what the move created on the target. Only called when the plan allows it. */
    async removeTargetTree(input: { target: TreeEndpoint; previousState: 'absent' | 'empty' }): Promise<{ removed: string }> {
      const p = assertRemovable(input.target.path);
      // Removing a large tree outlasts a heartbeat timeout.
      const stop = keepBeating(() => ({ stage: 'removing', path: p }));
      try {
        const done = await onHost(deps, input.target.host, 'remove target tree', (c) => restoreTarget(c, p, input.previousState, cancellationSignal()));
        return { removed: `${p} ${done}` };
      } finally {
        stop();
      }
    },
  };
}
