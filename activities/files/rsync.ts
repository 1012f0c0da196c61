// rsync's command line (pushed from the source host to the target over SSH) and its --info=progress2 and
// --stats output: pure, unit-tested.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { SshHost } from '../../workflows/shared/types';
import { shq } from '../clients/ssh';
import { addressProblem, loginProblem } from '../remote/validate';

/** A directory tree on a host. */
export interface TreeEndpoint {
  host: SshHost;
  path: string;
}

/** What one rsync run copies or compares. */
export interface RsyncTransfer {
  source: TreeEndpoint;
  target: TreeEndpoint;
  exclude: string[];
  delete: boolean;
  bandwidthLimitKBps: number;
}

/** rsync's remote shell from the source host to the target: key auth, pinned host keys, never a prompt. */
export function rsyncRemoteShell(target: SshHost): string {
  if (!Number.isInteger(target.port)) throw ApplicationFailure.nonRetryable(`host ${target.name}: port ${target.port} is not a number`, ErrorType.InvalidPlan);
  return `ssh -p ${target.port} -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10`;
}

/**
 * rsync's command line. `-s` (--secluded-args, called --protect-args before 3.2.6; any rsync since 3.0 takes it)
 * sends paths and options to the remote rsync over the protocol, never through the remote shell, so a path is
 * never split, globbed or expanded there. rsync 3.2.4+ backslash-escapes by default already; `-s` keeps that
 * true with an older rsync on either side (and with RSYNC_OLD_ARGS set). The remote shell gets `-l user host`
 * from rsync, which cannot take a `--` before them: the user and address are validated instead (plan schema,
 * worker interceptor, and rsyncTarget below).
 */
export function rsyncCommand(
  input: RsyncTransfer,
  mode: 'copy' | 'verify',
  /**
   * changesLog: a file on the source host (a shell word) where a copy appends what it changed, one itemized line
   * per file. filesFrom: a file on the source host listing the only paths a verify looks at.
   */
  extra: { changesLog?: string; filesFrom?: string } = {},
): string {
  const args = ['rsync', '-a', '-s', '--numeric-ids', '--no-inc-recursive', '--stats'];
  if (mode === 'copy') {
    // --partial --inplace: a transfer cut off by a dead worker resumes from what already reached the target.
    args.push('--partial', '--inplace', '--info=progress2');
    if (input.bandwidthLimitKBps > 0) args.push(`--bwlimit=${input.bandwidthLimitKBps}`);
    if (extra.changesLog) args.push(`--log-file=${extra.changesLog}`, `--log-file-format=${shq('%i %n')}`);
  } else if (extra.filesFrom) {
    // Only the listed files (no recursion: -a does not imply -r with --files-from), compared by checksum.
    args.push('--dry-run', '--checksum', '--itemize-changes', `--files-from=${extra.filesFrom}`);
  } else {
    // Dry run comparing every file by checksum: any itemized line is a difference.
    args.push('--dry-run', '--checksum', '--itemize-changes', '--delete');
  }
  if (input.delete && mode === 'copy') args.push('--delete');
  for (const pattern of input.exclude) args.push(`--exclude=${shq(pattern)}`);
  args.push('-e', shq(rsyncRemoteShell(input.target.host)));
  // `--` ends rsync's options: a source path can never be read as one.
  args.push('--', shq(withSlash(input.source.path)));
  args.push(shq(`${sshLogin(input.target.host)}:${withSlash(input.target.path)}`));
  return args.join(' ');
}

/** "user@address" for ssh or rsync on another host; refuses anything ssh could read as an option. */
export function sshLogin(host: SshHost): string {
  const bad = loginProblem(host.user) ?? addressProblem(host.address);
  if (bad) throw ApplicationFailure.nonRetryable(`host ${host.name}: ${bad} (user ${JSON.stringify(host.user)}, address ${JSON.stringify(host.address)})`, ErrorType.InvalidPlan);
  return `${host.user}@${host.address}`;
}

function withSlash(p: string): string {
  return p.endsWith('/') ? p : `${p}/`;
}

export interface RsyncProgress {
  bytes: number;
  percent: number;
  rate: string;
  transferredFiles: number;
  toCheck: number;
  totalFiles: number;
}

export interface RsyncStats {
  files: number;
  regularFiles: number;
  filesTransferred: number;
  deletedFiles: number;
  totalBytes: number;
  transferredBytes: number;
  literalBytes: number;
}

const num = (s: string) => Number(s.replace(/,/g, ''));

/** "  1,234,567  45%   12.34MB/s    0:00:10 (xfr#12, to-chk=100/2000)" — the last one in a chunk wins. */
export function parseProgress(chunk: string): RsyncProgress | null {
  let last: RsyncProgress | null = null;
  const re = /([\d,]+)\s+(\d+)%\s+(\S+\/s)\s+\S+(?:\s+\(xfr#(\d+), (?:to|ir)-chk=(\d+)\/(\d+)\))?/g;
  for (const m of chunk.matchAll(re)) {
    last = {
      bytes: num(m[1]),
      percent: Number(m[2]),
      rate: m[3],
      transferredFiles: m[4] ? Number(m[4]) : 0,
      toCheck: m[5] ? Number(m[5]) : 0,
      totalFiles: m[6] ? Number(m[6]) : 0,
    };
  }
  return last;
}

export function parseStats(output: string): RsyncStats {
  const field = (label: string): number => {
    const m = output.match(new RegExp(`^${label}: ([\\d,]+)`, 'm'));
    return m ? num(m[1]) : 0;
  };
  const reg = output.match(/^Number of files: [\d,]+ \(reg: ([\d,]+)/m);
  return {
    files: field('Number of files'),
    regularFiles: reg ? num(reg[1]) : 0,
    filesTransferred: field('Number of regular files transferred'),
    deletedFiles: field('Number of deleted files'),
    totalBytes: field('Total file size'),
    transferredBytes: field('Total transferred file size'),
    literalBytes: field('Literal data'),
  };
}

/**
 * Paths of regular files a copy changed, from its --log-file (`2026/11/27 04:30:00 [123] <f.st...... a/b.bin`,
 * format `%i %n`): what the checksum inside the freeze looks at. Deletions and directories are left to the
 * whole-tree metadata comparison.
 */
export function changedFiles(log: string): string[] {
  const out = new Set<string>();
  for (const line of log.split('\n')) {
    const m = /^\S+ \S+ \[\d+\] [<>ch.]f\S* (.+)$/.exec(line);
    if (m) out.add(m[1]);
  }
  return [...out];
}

/**
 * Of a live checksum comparison's differences, those no live writer explains: a regular file whose checksum
 * differs while its size and time are the same (`<fc.......`, `>fc.......`). rsync's quick check would never
 * copy it again: the copy is wrong. Anything else (new, deleted, resized, touched) is a write since the last
 * pass, for the final sync to copy.
 */
export function unexplainedDifferences(itemized: string[]): string[] {
  return itemized.filter((l) => /^[<>ch.]fc\.\./.test(l)).map((l) => l.slice(l.indexOf(' ') + 1).trimStart());
}

/** Lines of `rsync -i` output that describe a difference (dry-run verification). */
export function itemizedDifferences(output: string): string[] {
  return output
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => /^(\*deleting|[<>ch.][fdLDS][.+?a-zA-Z]{9})\s/.test(l));
}
