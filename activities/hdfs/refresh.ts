// Dual write: one dataset written to two clusters (the old and the new) side by side, so both run the same jobs
// on the same input during the dual-write period.
//
// - Resumable per file: a file already at its final path on a side with the same length and checksum is left
//   alone, so a retried or re-run refresh rewrites nothing that was complete.
// - Never half-visible: each file goes to a hidden temp beside it (`.name._COPYING_`: the leading dot hides it
//   from Hadoop's input formats) and is renamed into place once the DataNode has closed it.
// - The source is read once per file however many sides need it (a tee with back-pressure), and checksummed on the
//   way for a local source, so verify does not read it again.
// - Verify compares every file on every side with the source: length, then HDFS file checksums (GETFILECHECKSUM,
//   computed by the DataNodes, against the source's checksum for that side's block size and bytes per checksum),
//   or, with `verify: 'sha256'`, a streamed SHA-256 of OPEN on each side.
import { setMaxListeners } from 'node:events';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { type ChecksumParams, checksumParams, type CrcType, type FileChecksum, HdfsChecksum, sameChecksum } from './checksum';
import { type Dataset, type DatasetFile, isTempName, sha256OfStream } from './dataset';
import { DEFAULT_TIMEOUT_MS, type FileStatus, joinHdfsPath, WebHdfsClient, type WebHdfsCluster, WebHdfsError } from './webhdfs';

export { DEFAULT_TIMEOUT_MS };

export interface RefreshTarget {
  cluster: WebHdfsCluster;
  /** The dataset's root on this cluster. */
  path: string;
}

export interface RefreshOptions {
  /** Files in flight at once (each to every side that needs it); default DEFAULT_CONCURRENCY. */
  concurrency?: number;
  /** Octal permission of new files. */
  permission?: string;
  /** Block size of new files; default: an HDFS source file's own, else each cluster's default. */
  blockSize?: number;
  /** How verify compares: HDFS file checksums (default) or a SHA-256 of every file read back from every side. */
  verify?: 'checksum' | 'sha256' | 'none';
  /** A WebHDFS call on a target fails as unreachable after this long without an answer or a byte moving (see DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called at each file and phase, and every second meanwhile (so `waiting` stays current for heartbeats). */
  onProgress?: (p: RefreshProgress) => void;
}

export interface RefreshProgress {
  phase: 'list' | 'copy' | 'verify' | 'done';
  files: number;
  bytes: number;
  filesDone: number;
  bytesDone: number;
  /** Files written to at least one side / left alone on every side. */
  written: number;
  skipped: number;
  /**
   * Clusters with calls in flight that have answered nothing (no call done, no byte moved) for WAITING_AFTER_MS or
   * more: `dc2 http://127.0.2.1:9870: no answer for 12 s`. Empty while every side makes progress; a partition or a
   * hung DataNode shows here, naming the side, until its calls time out (`timeoutMs`) and the refresh fails.
   */
  waiting: string[];
}

/** How long a side may be silent before the progress names it as waited on (a quarter of a shorter timeout). */
export const WAITING_AFTER_MS = 5_000;

/** Per cluster: calls in flight and when it last answered (a call done or a byte moved), for `waiting`. */
export class Waits {
  private readonly sides = new Map<string, { url: string; inFlight: number; lastAt: number }>();

  constructor(private readonly after = WAITING_AFTER_MS) {}

  private side(c: WebHdfsCluster) {
    let x = this.sides.get(c.name);
    if (!x) this.sides.set(c.name, (x = { url: c.url, inFlight: 0, lastAt: Date.now() }));
    return x;
  }

  /** `fn`'s calls to `c` are in flight until it settles. */
  async on<T>(c: WebHdfsCluster, fn: () => Promise<T>): Promise<T> {
    const x = this.side(c);
    if (x.inFlight++ === 0) x.lastAt = Date.now();
    try {
      return await fn();
    } finally {
      x.inFlight--;
      x.lastAt = Date.now();
    }
  }

  /** `fn` writes to every one of `cs` (a teed file): in flight on each. */
  onAll<T>(cs: WebHdfsCluster[], fn: () => Promise<T>): Promise<T> {
    return cs.reduce<() => Promise<T>>((inner, c) => () => this.on(c, inner), fn)();
  }

  /** `c` moved some bytes. */
  moved(c: WebHdfsCluster): void {
    this.side(c).lastAt = Date.now();
  }

  waiting(now = Date.now()): string[] {
    return [...this.sides.entries()]
      .filter(([, x]) => x.inFlight > 0 && now - x.lastAt >= this.after)
      .map(([name, x]) => `${name} ${x.url}: no answer for ${Math.round((now - x.lastAt) / 1000)} s`);
  }
}

export interface TargetFigures {
  cluster: string;
  path: string;
  filesWritten: number;
  bytesWritten: number;
  filesSkipped: number;
  staleTempsRemoved: number;
}

export interface Mismatch {
  cluster: string;
  path: string;
  why: string;
}

export interface VerifyFigures {
  /** `file-checksum`: GETFILECHECKSUM vs the source's checksum for that side; `sha256`: every byte read back. */
  method: 'file-checksum' | 'sha256' | 'none';
  files: number;
  bytes: number;
  mismatches: Mismatch[];
  ms: number;
}

export interface RefreshResult {
  source: string;
  files: number;
  bytes: number;
  targets: TargetFigures[];
  copyMs: number;
  verify: VerifyFigures;
}

/**
 * Files in flight per cluster. Measured on the sandbox (one DataNode per cluster, 2 shared cores), 600 small files
 * to both clusters: 29-45 ms a file one at a time, 17-21 ms two or four at a time; comparing them (both clusters
 * side by side) 3.3 s one at a time, 2.0 s four (checksums), 2.7 vs 1.7 s (streamed SHA-256). A WebHDFS request
 * spends most of its time waiting (the DataNode opens a DFSClient per request, the NameNode's close back-off), so a
 * few at once overlap the waits. (Before the sandbox's daemons stopped doing a reverse DNS lookup per request,
 * more at once was slower: those lookups dominated.)
 */
export const DEFAULT_CONCURRENCY = 4;

/** The hidden temp a file is written to before its rename. */
export function tempPathFor(finalPath: string): string {
  const i = finalPath.lastIndexOf('/');
  return `${finalPath.slice(0, i + 1)}.${finalPath.slice(i + 1)}._COPYING_`;
}

const CRC_TYPES: Record<number, CrcType> = { 1: 'CRC32', 2: 'CRC32C' };

/** Runs `fn` over `items` with at most `limit` at once; the first failure aborts the rest through `abort`. */
export async function forEachLimited<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>, abort?: AbortController): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (err) {
        if (failed === undefined) failed = err;
        abort?.abort(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}

/** Waits until `w` wants more, or has ended one way or another (a failed side must not stall the others). */
function drained(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.once('drain', done);
    w.once('close', done);
  });
}

/** Feeds one source stream to several consumers at the pace of the slowest live one. */
function tee(source: Readable, n: number, onChunk: (chunk: Buffer) => void): { outs: PassThrough[]; done: Promise<void> } {
  const outs = Array.from({ length: n }, () => new PassThrough({ highWaterMark: 1 << 20 }));
  const done = (async () => {
    try {
      for await (const chunk of source) {
        onChunk(chunk as Buffer);
        const waits = outs.filter((o) => !o.destroyed && !o.write(chunk)).map(drained);
        if (waits.length) await Promise.all(waits);
      }
      for (const o of outs) o.end();
    } catch (err) {
      for (const o of outs) o.destroy(err as Error);
      throw err;
    }
  })();
  return { outs, done };
}

interface Side {
  target: RefreshTarget;
  client: WebHdfsClient;
  existing: Map<string, FileStatus>;
  temps: Set<string>;
  defaults: ChecksumParams;
  figures: TargetFigures;
  /** Files left alone because their checksum matched the source's, in this run: verified already. */
  matched: Set<string>;
}

async function prepareSide(target: RefreshTarget, timeoutMs: number | undefined, signal?: AbortSignal): Promise<Side> {
  const client = new WebHdfsClient(target.cluster, fetch, { timeoutMs });
  const d = await client.getServerDefaults({ signal });
  const existing = new Map<string, FileStatus>();
  const temps = new Set<string>();
  if (await client.stat(target.path, { signal })) {
    for (const f of await client.walkFiles(target.path, { signal })) {
      if (isTempName(f.path.split('/').pop() ?? '')) temps.add(f.path);
      else existing.set(f.path, f.status);
    }
  } else {
    await client.mkdirs(target.path, { signal });
  }
  return {
    target,
    client,
    existing,
    temps,
    defaults: { blockSize: d.blockSize, bytesPerChecksum: d.bytesPerChecksum, crcType: CRC_TYPES[d.checksumType] ?? 'CRC32C' },
    figures: { cluster: target.cluster.name, path: target.path, filesWritten: 0, bytesWritten: 0, filesSkipped: 0, staleTempsRemoved: 0 },
    matched: new Set(),
  };
}

/** The parameters a side's copy of `file` was (or will be) checksummed with. */
function paramsOf(status: { blockSize: number }, checksum: FileChecksum | undefined, defaults: ChecksumParams): ChecksumParams {
  const p = checksum ? checksumParams(checksum) : undefined;
  return {
    blockSize: status.blockSize,
    bytesPerChecksum: p && p.bytesPerChecksum > 0 ? p.bytesPerChecksum : defaults.bytesPerChecksum,
    crcType: p && p.bytesPerChecksum > 0 ? p.crcType : defaults.crcType,
  };
}

/** True if the side already holds `file` complete: same length and the checksum the source has for its settings. */
async function alreadyThere(side: Side, file: DatasetFile, dataset: Dataset, signal?: AbortSignal): Promise<boolean> {
  const status = side.existing.get(file.path);
  if (!status || status.type !== 'FILE' || status.length !== file.length) return false;
  const theirs = await side.client.getFileChecksum(joinHdfsPath(side.target.path, file.path), { signal });
  const ours = await dataset.checksum(file, paramsOf(status, theirs, side.defaults), signal);
  const same = sameChecksum(theirs, ours);
  if (same) side.matched.add(file.path);
  return same;
}

export async function refreshDataset(dataset: Dataset & { remember?: (f: DatasetFile, p: ChecksumParams, c: FileChecksum) => void }, targets: RefreshTarget[], opts: RefreshOptions = {}): Promise<RefreshResult> {
  const started = Date.now();
  const abort = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, abort.signal]) : abort.signal;
  setMaxListeners(0, signal); // every call in flight listens to it
  const progress: RefreshProgress = { phase: 'list', files: 0, bytes: 0, filesDone: 0, bytesDone: 0, written: 0, skipped: 0, waiting: [] };
  const waits = new Waits(Math.min(WAITING_AFTER_MS, (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 4));
  const report = () => opts.onProgress?.({ ...progress, waiting: waits.waiting() });
  // Between files too: a side that stops answering shows in the heartbeat while the refresh waits on it.
  const ticking = opts.onProgress ? setInterval(report, 1000) : undefined;
  try {
    return await refreshWith(dataset, targets, opts, { progress, waits, report, abort, signal, started });
  } finally {
    clearInterval(ticking);
  }
}

interface RefreshRun {
  progress: RefreshProgress;
  waits: Waits;
  report: () => void;
  abort: AbortController;
  signal: AbortSignal;
  started: number;
}

async function refreshWith(dataset: Dataset & { remember?: (f: DatasetFile, p: ChecksumParams, c: FileChecksum) => void }, targets: RefreshTarget[], opts: RefreshOptions, run: RefreshRun): Promise<RefreshResult> {
  const { progress, waits, report, abort, signal, started } = run;
  const [files, ...sides] = await Promise.all([dataset.list(signal), ...targets.map((t) => waits.on(t.cluster, () => prepareSide(t, opts.timeoutMs, signal)))]);
  progress.files = files.length;
  progress.bytes = files.reduce((s, f) => s + f.length, 0);
  progress.phase = 'copy';
  report();

  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  // Per file: how many sides are done with it, and whether any had to write it.
  const sidesDone = new Map<string, { n: number; wrote: boolean }>();
  const sideDone = (file: DatasetFile, wrote: boolean) => {
    const d = sidesDone.get(file.path) ?? { n: 0, wrote: false };
    d.n++;
    d.wrote ||= wrote;
    sidesDone.set(file.path, d);
    if (d.n < sides.length) return;
    sidesDone.delete(file.path);
    if (d.wrote) progress.written++;
    else progress.skipped++;
    progress.filesDone++;
    report();
  };
  if (dataset.cheapToReopen) {
    // A local source: each side goes at its own pace, reading the file itself (the page cache serves the second
    // read), rather than every file waiting for the slower cluster (1,000 small files + 256 MiB to both sandbox
    // clusters: 50.4 s so, 52.7 s in lockstep; within this machine's noise, but never slower).
    await Promise.all(sides.map((side) => forEachLimited(files, limit, async (file) => {
      const there = await waits.on(side.target.cluster, () => alreadyThere(side, file, dataset, signal));
      if (there) side.figures.filesSkipped++;
      else {
        await waits.on(side.target.cluster, () => writeToSides(dataset, file, [side], opts, signal, (n) => {
          progress.bytesDone += n / sides.length;
          waits.moved(side.target.cluster);
        }));
      }
      if (there) progress.bytesDone += file.length / sides.length;
      sideDone(file, !there);
    }, abort)));
  } else {
    // An HDFS source is read once per file, teed to every side that needs it.
    await forEachLimited(files, limit, async (file) => {
      const need: Side[] = [];
      for (const side of sides) {
        if (await waits.on(side.target.cluster, () => alreadyThere(side, file, dataset, signal))) side.figures.filesSkipped++;
        else need.push(side);
      }
      // Teed at the pace of the slowest side: while one stalls, the others wait too (and show as waited on).
      const onBytes = (n: number) => {
        progress.bytesDone += n;
        for (const side of need) waits.moved(side.target.cluster);
      };
      if (need.length) await waits.onAll(need.map((side) => side.target.cluster), () => writeToSides(dataset, file, need, opts, signal, onBytes));
      else progress.bytesDone += file.length;
      for (const side of sides) sideDone(file, need.includes(side));
    }, abort);
  }
  progress.bytesDone = Math.round(progress.bytesDone);

  // Temps this run did not rename into place: left by an interrupted run (for a file complete by now, or one the
  // source no longer has). Never data: removed, so nothing half-written stays around.
  await Promise.all(sides.map(async (side) => {
    for (const t of side.temps) {
      if (await waits.on(side.target.cluster, () => side.client.delete(joinHdfsPath(side.target.path, t), { signal }))) side.figures.staleTempsRemoved++;
    }
  }));
  const copyMs = Date.now() - started;

  progress.phase = 'verify';
  report();
  // A file left alone was compared with the source by checksum moments ago: the checksum verify takes that as
  // its check rather than asking the DataNode again (a refresh that wrote nothing took twice as long without it:
  // 60 small files 21.1 s, the skip check 10.7 s and the verify 10.4 s, on this loaded 2-core sandbox).
  const verify = await verifyDataset(dataset, targets, { ...opts, signal, files, verified: sides.map((s) => s.matched), waits });
  progress.phase = 'done';
  report();
  return { source: dataset.describe, files: files.length, bytes: progress.bytes, targets: sides.map((s) => s.figures), copyMs, verify };
}

/** Writes one file to the sides that need it: temp, then rename over whatever was there. */
async function writeToSides(dataset: Dataset & { remember?: (f: DatasetFile, p: ChecksumParams, c: FileChecksum) => void }, file: DatasetFile, sides: Side[], opts: RefreshOptions, signal: AbortSignal, onBytes: (n: number) => void): Promise<void> {
  const blockSize = opts.blockSize ?? file.blockSize;
  // A local source is checksummed on the way out, with the settings the first side will most likely use.
  const guess: ChecksumParams = { ...sides[0].defaults, ...(blockSize ? { blockSize } : {}) };
  const sum = dataset.remember ? new HdfsChecksum(guess) : undefined;
  const source = await dataset.open(file, signal);
  const { outs, done } = tee(source, sides.length, (chunk) => {
    sum?.update(chunk);
    onBytes(chunk.length);
  });
  await Promise.all([
    done,
    ...sides.map(async (side, i) => {
      const final = joinHdfsPath(side.target.path, file.path);
      const temp = tempPathFor(final);
      try {
        await side.client.create(temp, outs[i], { overwrite: true, permission: opts.permission, blockSize, signal });
      } catch (err) {
        outs[i].destroy();
        throw err;
      }
      // RENAME never replaces: a different file at the final path (changed at the source) goes first.
      if (side.existing.has(file.path)) await side.client.delete(final, { signal });
      try {
        await side.client.rename(temp, final, { signal });
      } catch (err) {
        if (!(err instanceof WebHdfsError && err.kind === 'already-exists')) throw err;
        // Put there since this run listed the side (an earlier attempt still running): ours is a complete copy of
        // the source as it is now, so it replaces that one.
        await side.client.delete(final, { signal });
        await side.client.rename(temp, final, { signal });
      }
      side.temps.delete(tempPathFor(file.path));
      side.figures.filesWritten++;
      side.figures.bytesWritten += file.length;
    }),
  ]);
  if (sum && dataset.remember) dataset.remember(file, guess, sum.digest());
}

/**
 * Every file of the dataset on every side: present, same length, same content (by checksum or SHA-256). Returns
 * the mismatches rather than throwing, so a caller can show all of them.
 */
export async function verifyDataset(dataset: Dataset, targets: RefreshTarget[], opts: RefreshOptions & { files?: DatasetFile[]; verified?: Array<Set<string>>; waits?: Waits } = {}): Promise<VerifyFigures> {
  const started = Date.now();
  const method = opts.verify ?? 'checksum';
  const files = opts.files ?? (await dataset.list(opts.signal));
  const figures: VerifyFigures = { method: method === 'sha256' ? 'sha256' : method === 'none' ? 'none' : 'file-checksum', files: 0, bytes: 0, mismatches: [], ms: 0 };
  if (method === 'none') return figures;
  const signal = opts.signal;
  const waits = opts.waits ?? new Waits();
  const sides = await Promise.all(targets.map(async (t, i) => {
    const client = new WebHdfsClient(t.cluster, fetch, { timeoutMs: opts.timeoutMs });
    const d = await waits.on(t.cluster, () => client.getServerDefaults({ signal }));
    const listing = new Map((await waits.on(t.cluster, () => client.walkFiles(t.path, { signal }))).map((f) => [f.path, f.status]));
    const defaults: ChecksumParams = { blockSize: d.blockSize, bytesPerChecksum: d.bytesPerChecksum, crcType: CRC_TYPES[d.checksumType] ?? 'CRC32C' };
    return { target: t, client, listing, defaults, verified: opts.verified?.[i] ?? new Set<string>() };
  }));
  const sourceSha = new Map<string, Promise<string>>();
  await forEachLimited(files, opts.concurrency ?? DEFAULT_CONCURRENCY, async (file) => {
    await Promise.all(sides.map(async (side) => {
      const status = side.listing.get(file.path);
      const name = side.target.cluster.name;
      if (!status) {
        figures.mismatches.push({ cluster: name, path: file.path, why: 'missing' });
        return;
      }
      if (status.length !== file.length) {
        figures.mismatches.push({ cluster: name, path: file.path, why: `length ${status.length}, source ${file.length}` });
        return;
      }
      const p = joinHdfsPath(side.target.path, file.path);
      if (method === 'checksum' && side.verified.has(file.path)) return;
      if (method === 'sha256') {
        if (!sourceSha.has(file.path)) sourceSha.set(file.path, dataset.open(file, signal).then(sha256OfStream));
        const [theirs, ours] = await Promise.all([waits.on(side.target.cluster, () => side.client.open(p, { signal }).then(sha256OfStream)), sourceSha.get(file.path)!]);
        if (theirs !== ours) figures.mismatches.push({ cluster: name, path: file.path, why: `SHA-256 ${theirs.slice(0, 12)}…, source ${ours.slice(0, 12)}…` });
      } else {
        const theirs = await waits.on(side.target.cluster, () => side.client.getFileChecksum(p, { signal }));
        const ours = await dataset.checksum(file, paramsOf(status, theirs, side.defaults), signal);
        if (!sameChecksum(theirs, ours)) figures.mismatches.push({ cluster: name, path: file.path, why: `checksum ${theirs.bytes.slice(24, 36)}…, source ${ours.bytes.slice(24, 36)}…` });
      }
    }));
    figures.files++;
    figures.bytes += file.length;
  });
  figures.ms = Date.now() - started;
  return figures;
}

/** A digest of a mismatch list for messages: the first few, and how many more. */
export function describeMismatches(m: Mismatch[], max = 5): string {
  const shown = m.slice(0, max).map((x) => `${x.cluster}:${x.path} (${x.why})`);
  return m.length > max ? `${shown.join(', ')} and ${m.length - max} more` : shown.join(', ');
}
