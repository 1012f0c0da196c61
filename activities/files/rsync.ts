// rsync's command line (pushed from the source host to the target over SSH) and its --info=progress2 and
// --stats output: pure, unit-tested.
import type { SshHost } from '../../workflows/shared/types';
import { shq } from '../clients/ssh';

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
  return `ssh -p ${target.port} -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10`;
}

export function rsyncCommand(input: RsyncTransfer, mode: 'copy' | 'verify'): string {
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

/** Lines of `rsync -i` output that describe a difference (dry-run verification). */
export function itemizedDifferences(output: string): string[] {
  return output
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => /^(\*deleting|[<>ch.][fdLDS][.+?a-zA-Z]{9})\s/.test(l));
}
