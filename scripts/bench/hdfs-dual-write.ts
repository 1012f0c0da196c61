// `npm run bench -- hdfs-dual-write` (or `npx tsx scripts/bench/hdfs-dual-write.ts` on its own): the dual-write
// building block against Hadoop's own client on the sandbox's two clusters, same data, same run.
//
// Data: CUTOVER_BENCH_HDFS_SMALL small files of 1-16 KiB (default 10,000) and CUTOVER_BENCH_HDFS_LARGE_MIB of large
// files of up to 256 MiB (default 2,048), random bytes in a local tree.
// Baseline: `FsShell -put` of the tree into dc1 and into dc2, the two JVMs side by side (what an operator would
// script for a dual write). cutover: refreshDataset (WebHDFS, each cluster at its own pace), without its verify, so
// both sides do the same work (CUTOVER_BENCH_HDFS_CONCURRENCY: files in flight per cluster, default the refresh's).
// Then the comparison of the two copies (dc1 vs dc2) as compareOutputs does it for job outputs: by file checksums
// and by streamed SHA-256 (CUTOVER_BENCH_HDFS_COMPARE=0 skips it, for quick trials of the write path).
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compareOutputs } from '../../activities/hdfs/compare';
import { localDataset } from '../../activities/hdfs/dataset';
import { refreshDataset } from '../../activities/hdfs/refresh';
import { WebHdfsClient, type WebHdfsCluster } from '../../activities/hdfs/webhdfs';
import { sandboxHdfs } from '../../test/helpers/hdfs';
import type { Benchmark, BenchOptions } from './main';
import { median, ratio } from './stats';

const SMALL = Number(process.env.CUTOVER_BENCH_HDFS_SMALL ?? 10_000);
const LARGE_MIB = Number(process.env.CUTOVER_BENCH_HDFS_LARGE_MIB ?? 2048);
const CONCURRENCY = process.env.CUTOVER_BENCH_HDFS_CONCURRENCY ? Number(process.env.CUTOVER_BENCH_HDFS_CONCURRENCY) : undefined;
const COMPARE = process.env.CUTOVER_BENCH_HDFS_COMPARE !== '0';

function makeTree(dir: string, small: number, largeMiB: number): { files: number; bytes: number; smallBytes: number } {
  let bytes = 0;
  for (let i = 0; i < small; i++) {
    const sub = path.join(dir, `part=${i % 10}`);
    mkdirSync(sub, { recursive: true });
    // 1-16 KiB: the size of many small job outputs and logs.
    const b = randomBytes(1024 + ((i * 7919) % (15 * 1024)));
    writeFileSync(path.join(sub, `f-${String(i).padStart(5, '0')}`), b);
    bytes += b.length;
  }
  const smallBytes = bytes;
  let files = small;
  for (let left = largeMiB, k = 0; left > 0; k++) {
    const mib = Math.min(256, left);
    mkdirSync(path.join(dir, 'large'), { recursive: true });
    const f = path.join(dir, 'large', `big-${k}.bin`);
    writeFileSync(f, randomBytes(0)); // created, then filled in 16 MiB steps
    for (let j = 0; j < Math.ceil(mib / 16); j++) writeFileSync(f, randomBytes(Math.min(16, mib - j * 16) << 20), { flag: 'a' });
    bytes += mib << 20;
    files++;
    left -= mib;
  }
  return { files, bytes, smallBytes };
}

/** FsShell -put of `dir` to `dest` on one cluster, as the HDFS superuser; resolves with the time it took. */
function fsShellPut(hdfs: ReturnType<typeof sandboxHdfs>, which: 'dc1' | 'dc2', dir: string, dest: string, classpath: string, signal: AbortSignal): Promise<number> {
  const c = hdfs.clusters[which];
  const started = Date.now();
  const args = [
    '-cp', `${c.confDir}:${classpath}`, 'org.apache.hadoop.fs.FsShell', '-fs', c.fsUri,
    '-D', 'dfs.replication=1', '-D', 'dfs.client.use.datanode.hostname=true', '-D', 'dfs.client.block.write.locateFollowingBlock.initial.delay.ms=20',
    '-put', dir, dest,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('java', args, { env: { ...process.env, HADOOP_USER_NAME: hdfs.user }, stdio: ['ignore', 'ignore', 'pipe'], signal });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(Date.now() - started) : reject(new Error(`FsShell -put to ${which} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

function checkAbort(signal: AbortSignal): void {
  if (signal.aborted) throw Object.assign(new Error('interrupted'), { name: 'AbortError' });
}

async function run(o: BenchOptions): Promise<Record<string, unknown>> {
  const rounds = o.rounds ?? 1;
  const hdfs = sandboxHdfs();
  const classpath = readFileSync(hdfs.classpathFile, 'utf8').trim();
  const id = randomUUID().slice(0, 8);
  const root = `/bench-${id}`;
  const dir = path.join(os.tmpdir(), `cutover-hdfs-bench-${id}`);
  const dc1: WebHdfsCluster = { name: 'dc1', url: hdfs.clusters.dc1.webhdfsUrl, user: hdfs.user };
  const dc2: WebHdfsCluster = { name: 'dc2', url: hdfs.clusters.dc2.webhdfsUrl, user: hdfs.user };
  const clients = [new WebHdfsClient(dc1), new WebHdfsClient(dc2)];
  const cleanHdfs = () => Promise.all(clients.map((c) => c.delete(root, { recursive: true })));
  try {
    o.progress(`writing ${SMALL} small files + ${LARGE_MIB} MiB of large files to ${dir}`);
    const { files, bytes, smallBytes } = makeTree(dir, SMALL, LARGE_MIB);
    await Promise.all(clients.map((c) => c.mkdirs(root)));
    const cliMs: number[] = [];
    const cutoverMs: number[] = [];
    const checksumMs: number[] = [];
    const streamedMs: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      checkAbort(o.signal);
      // Hadoop's client: both clusters side by side, one JVM each.
      const cliStart = Date.now();
      await Promise.all((['dc1', 'dc2'] as const).map((w) => fsShellPut(hdfs, w, dir, `${root}/cli-${r}`, classpath, o.signal)));
      cliMs.push(Date.now() - cliStart);
      o.progress(`round ${r}: FsShell -put to both clusters ${cliMs.at(-1)} ms`);

      checkAbort(o.signal);
      const t = Date.now();
      const res = await refreshDataset(localDataset(dir), [{ cluster: dc1, path: `${root}/cutover-${r}` }, { cluster: dc2, path: `${root}/cutover-${r}` }], {
        verify: 'none', concurrency: CONCURRENCY, signal: o.signal,
      });
      cutoverMs.push(Date.now() - t);
      if (res.targets.some((x) => x.filesWritten !== files)) throw new Error(`refresh wrote ${JSON.stringify(res.targets)}, expected ${files} files each`);
      o.progress(`round ${r}: cutover dual write ${cutoverMs.at(-1)} ms`);

      if (COMPARE) {
        checkAbort(o.signal);
        const a = { cluster: dc1, path: `${root}/cutover-${r}` };
        const b = { cluster: dc2, path: `${root}/cutover-${r}` };
        const byChecksum = await compareOutputs(a, b, { signal: o.signal });
        if (!byChecksum.equal || byChecksum.byChecksum !== files) throw new Error(`compare by checksum: ${JSON.stringify({ ...byChecksum, differing: byChecksum.differing.slice(0, 5) })}`);
        checksumMs.push(byChecksum.ms);
        o.progress(`round ${r}: compare by checksum ${byChecksum.ms} ms`);
        const streamed = await compareOutputs(a, b, { method: 'sha256', signal: o.signal });
        if (!streamed.equal || streamed.bySha256 !== files) throw new Error(`compare streamed: ${JSON.stringify({ ...streamed, differing: streamed.differing.slice(0, 5) })}`);
        streamedMs.push(streamed.ms);
        o.progress(`round ${r}: compare by streamed SHA-256 ${streamed.ms} ms`);
      }
      await Promise.all(clients.map((c) => Promise.all([c.delete(`${root}/cli-${r}`, { recursive: true }), c.delete(`${root}/cutover-${r}`, { recursive: true })])));
    }
    const cli = median(cliMs);
    const cutover = median(cutoverMs);
    const mibps = (ms: number) => Number((((2 * bytes) / 2 ** 20) / (ms / 1000)).toFixed(1));
    return {
      files,
      bytes,
      smallFiles: SMALL,
      smallBytes,
      largeMiB: LARGE_MIB,
      rounds,
      concurrency: CONCURRENCY ?? 'default',
      cliMs: cli,
      cutoverMs: cutover,
      cliMiBps: mibps(cli),
      cutoverMiBps: mibps(cutover),
      // Throughput ratio: CLI time / cutover time (the same bytes to the same two clusters).
      dualWriteVsCliRatio: ratio(cli, cutover),
      compareSecondsChecksum: COMPARE ? Number((median(checksumMs) / 1000).toFixed(2)) : null,
      compareSecondsStreamed: COMPARE ? Number((median(streamedMs) / 1000).toFixed(2)) : null,
      loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await cleanHdfs().catch(() => undefined);
  }
}

export const hdfsDualWriteBenchmark: Benchmark = {
  summary: 'HDFS dual write: cutover (WebHDFS) vs FsShell -put to each cluster, same data and run; comparing the copies by checksum vs streamed SHA-256',
  run,
};

if (require.main === module) {
  // Run on its own (before or without the registry): progress on stderr, the result on stdout and in results/.
  const started = Date.now();
  const signal = new AbortController().signal;
  const progress = (line: string) => console.error(`[bench hdfs-dual-write +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
  const rounds = process.env.CUTOVER_BENCH_ROUNDS ? Number(process.env.CUTOVER_BENCH_ROUNDS) : undefined;
  run({ rounds, cold: false, progress, signal }).then(
    (figures) => {
      const result = { name: 'hdfs-dual-write', ...figures, cpus: os.cpus().length, at: new Date(started).toISOString(), durationMs: Date.now() - started };
      if (process.env.CUTOVER_BENCH_WRITE !== '0') writeFileSync(path.join(__dirname, 'results', 'hdfs-dual-write.json'), `${JSON.stringify(result, null, 2)}\n`);
      console.log(JSON.stringify(result));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
