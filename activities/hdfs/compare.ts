// Comparing the outputs of the same job run on two clusters: file lists, sizes, checksums, and for text output
// optionally the lines as sorted multisets (a job whose reducers emit in another order is still the same job).
// The diff logic is pure (diffListings, diffLines); compareOutputs does the I/O.
import { createInterface } from 'node:readline';
import { checksumParams, sameChecksum } from './checksum';
import { isTempName, sha256OfStream } from './dataset';
import { DEFAULT_CONCURRENCY, forEachLimited } from './refresh';
import { joinHdfsPath, WebHdfsClient, type WebHdfsCluster } from './webhdfs';

export interface OutputLocation {
  cluster: WebHdfsCluster;
  path: string;
}

export interface CompareOptions {
  /** Compare differing files (by bytes) as sorted line multisets; equal lines in another order then count as equal. */
  lines?: boolean;
  /** Differing lines shown per file and side. */
  sampleLines?: number;
  /** Files larger than this are not compared line by line (their lines would have to fit in memory). */
  maxLineCompareBytes?: number;
  /** `auto`: file checksums where both sides' settings allow, else SHA-256; `sha256`: read every file on both sides. */
  method?: 'auto' | 'sha256';
  /** Files compared at once, both clusters side by side (see DEFAULT_CONCURRENCY). */
  concurrency?: number;
  /** Names to leave out (besides temps): e.g. `_SUCCESS` markers whose presence is not the data. */
  ignore?: string[];
  /** Relative paths to leave out (besides temps and `ignore`): e.g. Hadoop's hidden `_`/`.` files. */
  skip?: (path: string) => boolean;
  signal?: AbortSignal;
}

export interface ListedFile {
  path: string;
  length: number;
}

export interface ListingDiff {
  onlyInA: string[];
  onlyInB: string[];
  sizeDiffers: Array<{ path: string; a: number; b: number }>;
  /** Same path and size on both: their content still needs a look. */
  same: string[];
}

/** Pure: two file listings → files on one side only, files whose sizes differ, and files to compare by content. */
export function diffListings(a: ListedFile[], b: ListedFile[]): ListingDiff {
  const bm = new Map(b.map((f) => [f.path, f.length]));
  const am = new Map(a.map((f) => [f.path, f.length]));
  const out: ListingDiff = { onlyInA: [], onlyInB: [], sizeDiffers: [], same: [] };
  for (const f of a) {
    const other = bm.get(f.path);
    if (other === undefined) out.onlyInA.push(f.path);
    else if (other !== f.length) out.sizeDiffers.push({ path: f.path, a: f.length, b: other });
    else out.same.push(f.path);
  }
  for (const f of b) if (!am.has(f.path)) out.onlyInB.push(f.path);
  for (const list of [out.onlyInA, out.onlyInB, out.same]) list.sort();
  out.sizeDiffers.sort((x, y) => (x.path < y.path ? -1 : 1));
  return out;
}

export interface LineDiff {
  /** Lines (with multiplicity) in A and not in B, and the other way round. */
  countOnlyInA: number;
  countOnlyInB: number;
  sampleOnlyInA: string[];
  sampleOnlyInB: string[];
}

/** Pure: the two texts' lines as sorted multisets, and what one has that the other has not (a sample of each). */
export function diffLines(a: string[], b: string[], sample = 5): LineDiff {
  const counts = new Map<string, number>();
  for (const l of a) counts.set(l, (counts.get(l) ?? 0) + 1);
  for (const l of b) counts.set(l, (counts.get(l) ?? 0) - 1);
  const onlyA: string[] = [];
  const onlyB: string[] = [];
  let countOnlyInA = 0;
  let countOnlyInB = 0;
  for (const [line, n] of [...counts.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    if (n > 0) {
      countOnlyInA += n;
      if (onlyA.length < sample) onlyA.push(line);
    } else if (n < 0) {
      countOnlyInB += -n;
      if (onlyB.length < sample) onlyB.push(line);
    }
  }
  return { countOnlyInA, countOnlyInB, sampleOnlyInA: onlyA, sampleOnlyInB: onlyB };
}

export interface FileDifference {
  path: string;
  /** What differs: the bytes (checksum or SHA-256) and, when compared as lines, whether the lines do too. */
  why: 'content' | 'lines';
  lines?: LineDiff;
  note?: string;
}

export interface CompareResult {
  a: string;
  b: string;
  equal: boolean;
  files: number;
  bytes: number;
  onlyInA: string[];
  onlyInB: string[];
  sizeDiffers: ListingDiff['sizeDiffers'];
  differing: FileDifference[];
  /** Files whose bytes differ but whose lines are the same multiset (counted equal). */
  sameLinesOtherOrder: string[];
  /** How contents were compared: file checksums where both clusters use the same block size and CRC settings, else SHA-256. */
  byChecksum: number;
  bySha256: number;
  ms: number;
}

async function readLines(client: WebHdfsClient, p: string, signal?: AbortSignal): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of createInterface({ input: await client.open(p, { signal }), crlfDelay: Infinity })) lines.push(line);
  return lines;
}

/** Compares two directories (job outputs) on two clusters. */
export async function compareOutputs(a: OutputLocation, b: OutputLocation, opts: CompareOptions = {}): Promise<CompareResult> {
  const started = Date.now();
  const signal = opts.signal;
  const ca = new WebHdfsClient(a.cluster);
  const cb = new WebHdfsClient(b.cluster);
  const ignored = new Set(opts.ignore ?? []);
  const list = async (c: WebHdfsClient, root: string) =>
    (await c.walkFiles(root, { signal }))
      .filter((f) => {
        const name = f.path.split('/').pop() ?? '';
        return !isTempName(name) && !ignored.has(name) && !opts.skip?.(f.path);
      })
      .map((f) => ({ path: f.path, length: f.status.length, blockSize: f.status.blockSize }));
  const [la, lb] = await Promise.all([list(ca, a.path), list(cb, b.path)]);
  const diff = diffListings(la, lb);
  const blockA = new Map(la.map((f) => [f.path, f.blockSize]));
  const blockB = new Map(lb.map((f) => [f.path, f.blockSize]));
  const result: CompareResult = {
    a: `${a.cluster.name}:${a.path}`,
    b: `${b.cluster.name}:${b.path}`,
    equal: false,
    files: la.length,
    bytes: la.reduce((s, f) => s + f.length, 0),
    onlyInA: diff.onlyInA,
    onlyInB: diff.onlyInB,
    sizeDiffers: diff.sizeDiffers,
    differing: [],
    sameLinesOtherOrder: [],
    byChecksum: 0,
    bySha256: 0,
    ms: 0,
  };
  const maxLines = opts.maxLineCompareBytes ?? 64 << 20;
  const lineCompare = async (path: string, length: number): Promise<void> => {
    if (length > maxLines) {
      result.differing.push({ path, why: 'content', note: `larger than ${maxLines} bytes: not compared line by line` });
      return;
    }
    const [x, y] = await Promise.all([readLines(ca, joinHdfsPath(a.path, path), signal), readLines(cb, joinHdfsPath(b.path, path), signal)]);
    const d = diffLines(x, y, opts.sampleLines ?? 5);
    if (d.countOnlyInA === 0 && d.countOnlyInB === 0) result.sameLinesOtherOrder.push(path);
    else result.differing.push({ path, why: 'lines', lines: d });
  };
  await forEachLimited(diff.same, opts.concurrency ?? DEFAULT_CONCURRENCY, async (path) => {
    const pa = joinHdfsPath(a.path, path);
    const pb = joinHdfsPath(b.path, path);
    const [xa, xb] = opts.method === 'sha256' ? [undefined, undefined] : await Promise.all([ca.getFileChecksum(pa, { signal }), cb.getFileChecksum(pb, { signal })]);
    const pA = xa && checksumParams(xa);
    const pB = xb && checksumParams(xb);
    let equal: boolean;
    if (opts.method !== 'sha256' && pA && pB && pA.bytesPerChecksum === pB.bytesPerChecksum && pA.crcType === pB.crcType && blockA.get(path) === blockB.get(path)) {
      result.byChecksum++;
      equal = sameChecksum(xa!, xb!);
    } else {
      result.bySha256++;
      const [ha, hb] = await Promise.all([ca.open(pa, { signal }).then(sha256OfStream), cb.open(pb, { signal }).then(sha256OfStream)]);
      equal = ha === hb;
    }
    if (equal) return;
    if (opts.lines) await lineCompare(path, la.find((f) => f.path === path)?.length ?? 0);
    else result.differing.push({ path, why: 'content' });
  });
  if (opts.lines) {
    for (const s of diff.sizeDiffers) await lineCompare(s.path, Math.max(s.a, s.b));
  }
  result.differing.sort((x, y) => (x.path < y.path ? -1 : 1));
  result.equal = !result.onlyInA.length && !result.onlyInB.length && !result.differing.length && (opts.lines ? true : !result.sizeDiffers.length);
  result.ms = Date.now() - started;
  return result;
}
