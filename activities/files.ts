// File-tree activities: preflight, rsync passes (pushed from the source host to the target over SSH),
// verification by checksum, hooks and the target cleanup compensation.
import { activityInfo, cancellationSignal, heartbeat, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../workflows/shared/errors';
import type { HookCommand, SshHost } from '../workflows/shared/types';
import { shq, type SshConnection } from './clients/ssh';
import { preflightFailure, sshFailure } from './failures';
import { itemizedDifferences, parseProgress, parseStats, type RsyncProgress } from './rsync';
import type { ActivityDeps } from './deps';

export interface TreeEndpoint {
  host: SshHost;
  path: string;
}

export interface FileSyncPreflightInput {
  source: TreeEndpoint;
  target: TreeEndpoint;
  hookHosts: SshHost[];
}

export interface FileSyncPreflightResult {
  sourceFiles: number;
  sourceBytes: number;
  targetState: 'absent' | 'empty' | 'non-empty';
  targetFreeBytes: number;
}

export interface RsyncPassInput {
  migrationId: string;
  pass: string;
  source: TreeEndpoint;
  target: TreeEndpoint;
  exclude: string[];
  delete: boolean;
  bandwidthLimitKBps: number;
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

export interface VerifyTreesResult {
  identical: boolean;
  files: number;
  bytes: number;
  differences: string[];
  verifiedAt: string;
}

/** rsync's remote shell from the source host to the target: key auth, pinned host keys, never a prompt. */
export function rsyncRemoteShell(target: SshHost): string {
  return `ssh -p ${target.port} -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10`;
}

export function rsyncCommand(input: Omit<RsyncPassInput, 'migrationId' | 'pass'>, mode: 'copy' | 'verify'): string {
  const args = ['rsync', '-a', '--numeric-ids', '--no-inc-recursive', '--stats'];
  if (mode === 'copy') {
    // --partial --inplace: a transfer cut off by a dead worker resumes from what already reached the target.
    args.push('--partial', '--inplace', '--info=progress2');
    if (input.bandwidthLimitKBps > 0) args.push(`--bwlimit=${input.bandwidthLimitKBps}`);
  } else {
    // Dry run comparing every file by checksum: any itemized line is a difference.
    args.push('--dry-run', '--checksum', '--itemize-changes', '--delete');
  }
  if (input.delete && mode === 'copy') args.push('--delete');
  for (const pattern of input.exclude) args.push(`--exclude=${shq(pattern)}`);
  args.push('-e', shq(rsyncRemoteShell(input.target.host)));
  args.push(shq(withSlash(input.source.path)));
  args.push(shq(`${input.target.host.user}@${input.target.host.address}:${withSlash(input.target.path)}`));
  return args.join(' ');
}

function withSlash(p: string): string {
  return p.endsWith('/') ? p : `${p}/`;
}

// rsync --info=progress2 prints a line per file (about 75 bytes): for 20,000 files that was 12,000 SSH packets,
// parses and heartbeats, 2 s of worker CPU per 1.2 GB copied. Sampled on the source host, at most one a second
// reaches the worker; records holding a newline (the --stats block at the end) always pass. perl-base is
// Essential on Debian; preflight checks for it.
const progressSampler = `perl -e '$/ = "\\r"; $| = 1; my $t = 0; while (<STDIN>) { if (/\\n/ || time - $t >= 1) { print; $t = time } }'`;

function progressFifo(migrationId: string): string {
  return `"\${TMPDIR:-/tmp}"/cutover-rsync-${migrationId.replace(/[^A-Za-z0-9_.-]/g, '_')}.progress`;
}

/** Shell: stop the rsync recorded in the pid file (if it still runs) and wait up to 2 s for it to exit. */
function stopRsync(pid: string): string {
  return (
    `pf=${pid}; if [ -f "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null; then kill "$(cat "$pf")"; ` +
    `for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$(cat "$pf")" 2>/dev/null || break; sleep 0.2; done; fi`
  );
}

function pidFile(migrationId: string): string {
  return `"\${TMPDIR:-/tmp}"/cutover-rsync-${migrationId.replace(/[^A-Za-z0-9_.-]/g, '_')}.pid`;
}

export function createFileActivities(deps: ActivityDeps) {
  async function onHost<T>(host: SshHost, what: string, fn: (c: SshConnection) => Promise<T>): Promise<T> {
    try {
      return await deps.withSsh(host, fn, cancellationSignal());
    } catch (err) {
      throw sshFailure(err, what);
    }
  }

  return {
    /** Read-only checks of both hosts; every problem is reported at once and nothing is changed. */
    async preflightFileSync(input: FileSyncPreflightInput): Promise<FileSyncPreflightResult> {
      const problems: string[] = [];
      const result: FileSyncPreflightResult = { sourceFiles: 0, sourceBytes: 0, targetState: 'absent', targetFreeBytes: 0 };
      const { source, target } = input;

      await deps
        .withSsh(source.host, async (c) => {
          if ((await c.exec('command -v rsync', { allowFailure: true })).code !== 0) {
            problems.push(`source host ${source.host.name}: rsync is not installed`);
          }
          if ((await c.exec('command -v perl', { allowFailure: true })).code !== 0) {
            problems.push(`source host ${source.host.name}: perl is not installed (it samples rsync's progress)`);
          }
          const dir = await c.exec(`test -d ${shq(source.path)} && test -r ${shq(source.path)} && test -x ${shq(source.path)}`, {
            allowFailure: true,
          });
          if (dir.code !== 0) {
            problems.push(`source.path ${source.path} on ${source.host.name} is not a readable directory`);
            return;
          }
          const count = await c.exec(`find ${shq(source.path)} -type f | wc -l; du -sb ${shq(source.path)} | cut -f1`);
          const [files, bytes] = count.stdout.trim().split('\n').map(Number);
          result.sourceFiles = files;
          result.sourceBytes = bytes;
          // rsync runs on the source host and connects to the target: check that path too.
          const hop = await c.exec(
            `${rsyncRemoteShell(target.host)} ${shq(`${target.host.user}@${target.host.address}`)} true`,
            { allowFailure: true },
          );
          if (hop.code !== 0) {
            problems.push(
              `source host ${source.host.name} cannot ssh to target host ${target.host.name} ` +
                `(${target.host.user}@${target.host.address}:${target.host.port}) with key auth and a pinned host key: ${hop.stderr.trim()}`,
            );
          }
        })
        .catch((err) => problems.push(`source host ${source.host.name}: ${(err as Error).message}`));

      await deps
        .withSsh(target.host, async (c) => {
          if ((await c.exec('command -v rsync', { allowFailure: true })).code !== 0) {
            problems.push(`target host ${target.host.name}: rsync is not installed`);
          }
          const state = await c.exec(
            `p=${shq(target.path)}; if [ ! -e "$p" ]; then echo absent; d=$(dirname "$p"); ` +
              `[ -d "$d" ] && [ -w "$d" ] || echo unwritable; ` +
              `elif [ ! -d "$p" ]; then echo not-a-directory; elif [ -z "$(ls -A "$p")" ]; then echo empty; ` +
              `[ -w "$p" ] || echo unwritable; else echo non-empty; [ -w "$p" ] || echo unwritable; fi; ` +
              `d="$p"; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -PB1 "$d" | awk 'NR==2 {print $4}'`,
          );
          const lines = state.stdout.trim().split('\n');
          const kind = lines[0];
          if (kind === 'not-a-directory') problems.push(`target.path ${target.path} on ${target.host.name} exists and is not a directory`);
          else result.targetState = kind as FileSyncPreflightResult['targetState'];
          if (lines.includes('unwritable')) problems.push(`target.path ${target.path} on ${target.host.name} is not writable by ${target.host.user}`);
          result.targetFreeBytes = Number(lines[lines.length - 1]) || 0;
        })
        .catch((err) => problems.push(`target host ${target.host.name}: ${(err as Error).message}`));

      for (const host of input.hookHosts) {
        if (host.name === source.host.name || host.name === target.host.name) continue;
        await deps
          .withSsh(host, async (c) => void (await c.exec('true')))
          .catch((err) => problems.push(`hook host ${host.name}: ${(err as Error).message}`));
      }

      if (result.sourceBytes > 0 && result.targetFreeBytes > 0 && result.targetFreeBytes < result.sourceBytes) {
        problems.push(
          `target host ${target.host.name} has ${result.targetFreeBytes} bytes free for ${target.path}, the source holds ${result.sourceBytes}`,
        );
      }
      if (problems.length > 0) throw preflightFailure(problems);
      return result;
    },

    /** One rsync pass from source to target, run on the source host. Heartbeats files and bytes. */
    async rsyncPass(input: RsyncPassInput): Promise<RsyncPassResult> {
      const info = activityInfo();
      const started = Date.now();
      const pid = pidFile(input.migrationId);
      if (info.attempt > 1) {
        log.info('resuming rsync pass after a previous attempt', { pass: input.pass, attempt: info.attempt, last: info.heartbeatDetails });
      }
      // A previous attempt's rsync may outlive its worker: stop it, so two transfers never write the same files.
      // The FIFO keeps `$!` and the exit code pointing at rsync rather than at the sampler.
      const fifo = progressFifo(input.migrationId);
      const command =
        `${stopRsync(pid)}; rm -f ${fifo}; mkfifo ${fifo} || exit 1; ${progressSampler} < ${fifo} & ` +
        `${rsyncCommand(input, 'copy')} > ${fifo} & echo $! > "$pf"; wait $!; rc=$?; wait; rm -f "$pf" ${fifo}; exit $rc`;
      // Heartbeat on a clock, not on output: rsync is silent while it builds the file list (--no-inc-recursive),
      // which on millions of files takes longer than the heartbeat timeout.
      let latest: RsyncProgress | null = null;
      const beat = setInterval(() => heartbeat({ pass: input.pass, attempt: info.attempt, ...(latest ?? { phase: 'file list' }) }), 1000);
      let output;
      try {
        output = await onHost(input.source.host, `rsync pass ${input.pass}`, (c) =>
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
          await deps.withSsh(input.source.host, (c) => c.exec(stopRsync(pid), { allowFailure: true })).catch((e) =>
            log.warn('could not stop the cancelled rsync', { error: (e as Error).message }),
          );
        }
        throw err;
      } finally {
        clearInterval(beat);
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

    /** File lists, sizes and checksums of every file compared by rsync in dry-run checksum mode. */
    async verifyTrees(input: Omit<RsyncPassInput, 'pass' | 'delete' | 'bandwidthLimitKBps'>): Promise<VerifyTreesResult> {
      heartbeat({ verifying: true });
      const output = await onHost(input.source.host, 'verify', (c) =>
        c.exec(rsyncCommand({ ...input, delete: true, bandwidthLimitKBps: 0 }, 'verify'), { signal: cancellationSignal() }),
      );
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

    /** Runs a plan hook (freeze/unfreeze writers) on its host. Hooks must be idempotent: they may run twice. */
    async runHook(input: { hook: HookCommand; host: SshHost; label: string }): Promise<{ output: string }> {
      const r = await onHost(input.host, `${input.label} hook`, (c) => c.exec(input.hook.command, { signal: cancellationSignal() }));
      return { output: (r.stdout + r.stderr).trim().slice(-2000) };
    },

    /** Compensation: remove what the move created on the target. Only called when the plan allows it. */
    async removeTargetTree(input: { target: TreeEndpoint; previousState: 'absent' | 'empty' }): Promise<{ removed: string }> {
      const p = input.target.path.replace(/\/+$/, '');
      if (!p.startsWith('/') || p.split('/').filter(Boolean).length < 2) {
        throw ApplicationFailure.nonRetryable(`refusing to remove ${input.target.path}: not an absolute path at least two levels deep`, ErrorType.InvalidPlan);
      }
      const command =
        input.previousState === 'absent'
          ? `rm -rf -- ${shq(p)}`
          : `[ ! -d ${shq(p)} ] || find ${shq(p)} -mindepth 1 -delete`;
      await onHost(input.target.host, 'remove target tree', (c) => c.exec(command));
      return { removed: input.previousState === 'absent' ? `${p} removed` : `${p} emptied` };
    },
  };
}
