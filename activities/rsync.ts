// Parsing rsync's --info=progress2 and --stats output: pure, unit-tested.

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
