// `npm run bench -- hdfs-dual-write [--rounds N]` (sizes: CUTOVER_BENCH_HDFS_SMALL files, default 1000, and
// CUTOVER_BENCH_HDFS_LARGE_MIB, default 256; the full scale is 10000 and 2048): the dual-write building
// block against Hadoop's own client on the sandbox's two clusters, same data, same run.
//
// Baseline: `FsShell -put` of the local tree into dc1 and into dc2, the two JVMs side by side (what an operator
// would script for a dual write). cutover: refreshDataset (WebHDFS, one read of each file teed to both clusters),
// without its verify, so both sides do the same work. Then the outputs comparison of the two copies (dc1 vs dc2) by
// file checksums and by streamed SHA-256. main.ts prints the JSON and writes it to scripts/bench/results/.
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

function makeTree(dir: string, small: number, largeMiB: number): { files: number; bytes: number } {
  let bytes = 0;
  for (let i = 0; i < small; i++) {
    const sub = path.join(dir, `part=${i % 10}`);
    mkdirSync(sub, { recursive: true });
    // 1-16 KiB: the size of many small job outputs and logs.
    const b = randomBytes(1024 + ((i * 7919) % (15 * 1024)));
    writeFileSync(path.join(sub, `f-${String(i).padStart(5, '0')}`), b);
    bytes += b.length;
  }
  let files = small;
  for (let left = largeMiB, k = 0; left > 0; k++) {
    const mib = Math.min(256, left);
    mkdirSync(path.join(dir, 'large'), { recursive: true });
    const f = path.join(dir, 'large', `big-${k}.bin`);
    writeFileSync(f, randomBytes(0)); // created, then filled in 16 MiB steps
    for (let j = 0; j < mib / 16; j++) writeFileSync(f, randomBytes(16 << 20), { flag: 'a' });
    bytes += mib << 20;
    files++;
    left -= mib;
  }
  return { files, bytes };
}

/** FsShell -put of `dir` to `dest` on one cluster, as the HDFS superuser; resolves with the time it took. */
function fsShellPut(hdfs: ReturnType<typeof sandboxHdfs>, which: 'dc1' | 'dc2', dir: string, dest: string, classpath: string): Promise<number> {
  const c = hdfs.clusters[which];
  const started = Date.now();
  const args = [
    '-cp', `${c.confDir}:${classpath}`, 'org.apache.hadoop.fs.FsShell', '-fs', c.fsUri,
    '-D', 'dfs.replication=1', '-D', 'dfs.client.use.datanode.hostname=true', '-D', 'dfs.client.block.write.locateFollowingBlock.initial.delay.ms=20',
    '-put', dir, dest,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('java', args, { env: { ...process.env, HADOOP_USER_NAME: hdfs.user }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(Date.now() - started) : reject(new Error(`FsShell -put to ${which} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

async function run(o: BenchOptions): Promise<Record<string, unknown>> {
  const small = Number(process.env.CUTOVER_BENCH_HDFS_SMALL ?? 1000);
  const largeMiB = Number(process.env.CUTOVER_BENCH_HDFS_LARGE_MIB ?? 256);
  const rounds = o.rounds ?? 1;
  const log = o.progress;
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
    log(`… writing ${small} small files + ${largeMiB} MiB of large files to ${dir}`);
    const { files, bytes } = makeTree(dir, small, largeMiB);
    await Promise.all(clients.map((c) => c.mkdirs(root)));
    const cliMs: number[] = [];
    const cutoverMs: number[] = [];
    let compareChecksumMs = 0;
    let compareStreamedMs = 0;
    for (let r = 1; r <= rounds; r++) {
      if (o.signal.aborted) throw new Error('benchmark stopped');
      // Hadoop's client: both clusters side by side, one JVM each.
      const cliStart = Date.now();
      await Promise.all((['dc1', 'dc2'] as const).map((w) => fsShellPut(hdfs, w, dir, `${root}/cli-${r}`, classpath)));
      cliMs.push(Date.now() - cliStart);
      log(`  round ${r}: FsShell -put to both clusters ${cliMs.at(-1)} ms`);

      const t = Date.now();
      const res = await refreshDataset(localDataset(dir), [{ cluster: dc1, path: `${root}/cutover-${r}` }, { cluster: dc2, path: `${root}/cutover-${r}` }], { verify: 'none' });
      cutoverMs.push(Date.now() - t);
      if (res.targets.some((x) => x.filesWritten !== files)) throw new Error(`refresh wrote ${JSON.stringify(res.targets)}, expected ${files} files each`);
      log(`  round ${r}: cutover dual write ${cutoverMs.at(-1)} ms`);

      const a = { cluster: dc1, path: `${root}/cutover-${r}` };
      const b = { cluster: dc2, path: `${root}/cutover-${r}` };
      const byChecksum = await compareOutputs(a, b);
      const streamed = await compareOutputs(a, b, { method: 'sha256' });
      if (!byChecksum.equal || !streamed.equal || byChecksum.byChecksum !== files) throw new Error(`compare found differences: ${JSON.stringify(byChecksum)}`);
      compareChecksumMs = byChecksum.ms;
      compareStreamedMs = streamed.ms;
      log(`  round ${r}: compare by checksum ${byChecksum.ms} ms, streamed SHA-256 ${streamed.ms} ms`);
      await Promise.all(clients.map((c) => Promise.all([c.delete(`${root}/cli-${r}`, { recursive: true }), c.delete(`${root}/cutover-${r}`, { recursive: true })])));
    }
    const cli = median(cliMs);
    const cutover = median(cutoverMs);
    return {
      files,
      bytes,
      rounds,
      cliMs: cli,
      cutoverMs: cutover,
      cliMiBps: Number((((2 * bytes) / 2 ** 20) / (cli / 1000)).toFixed(1)),
      cutoverMiBps: Number((((2 * bytes) / 2 ** 20) / (cutover / 1000)).toFixed(1)),
      // Throughput ratio: CLI time / cutover time (same bytes to the same two clusters).
      dualWriteVsCliRatio: ratio(cli, cutover),
      compareSecondsChecksum: Number((compareChecksumMs / 1000).toFixed(2)),
      compareSecondsStreamed: Number((compareStreamedMs / 1000).toFixed(2)),
      loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await cleanHdfs().catch(() => undefined);
  }
}

export const hdfsDualWriteBenchmark: Benchmark = {
  summary: 'HDFS dual write: the same tree to both sandbox clusters by cutover (WebHDFS, one read teed) vs FsShell -put to each; compare by checksum vs streamed SHA-256',
  run,
};
