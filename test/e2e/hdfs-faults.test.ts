// Faults on the sandbox's real clusters. The new cluster's DataNode stopped in the middle of a dual-write refresh:
// the refresh fails with a retryable failure naming dc2 (the activity's retry policy retries it); once the DataNode
// is back (the sandbox's `up`, as an operator would restart it), the retried refresh completes per file: what was
// complete on a side is not written again, both sides verify. The DataNode is restarted whatever happens. A refresh
// whose process is killed -9 mid-way: the next one resumes per file, nothing complete rewritten, no temp left.
// A dc1↔dc2 partition in the middle of a refresh (iptables on lo, removed in the test's finally and in afterAll):
// the worker sits in dc1, so the cut is its path to dc2's NameNode and DataNode HTTP ports. The refresh's heartbeats
// name dc2 as waited on, the attempt fails retryably naming dc2's host once nothing has moved for the timeout, a
// retry during the partition fails the same way without touching anything; healed, the retry completes per file:
// what was complete on either side is not written again, no temp is left, every file on both clusters is the source's.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHdfsActivities, hdfsFailure, type RefreshResult } from '../../activities/hdfs';
import { withSsh } from '../../activities/clients/ssh';
import { localDataset } from '../../activities/hdfs/dataset';
import { refreshDataset, type RefreshProgress } from '../../activities/hdfs/refresh';
import { WebHdfsClient, type WebHdfsCluster } from '../../activities/hdfs/webhdfs';
import { loadSandbox } from '../../scripts/sandbox/endpoints';
import { DATA_NODE_CLASS } from '../../scripts/sandbox/hdfs';
import { HDFS, layout } from '../../scripts/sandbox/layout';
import { livePid, stopPidFile } from '../../scripts/sandbox/process';
import { ErrorType } from '../../workflows/shared/errors';
import { sandboxHdfs } from '../helpers/hdfs';
import { cutTcp, healAll, partition } from '../helpers/partition';

const id = randomUUID().slice(0, 8);
const root = `/e2e-faults-${id}`;
const localDir = path.join(os.tmpdir(), `cutover-hdfs-faults-${id}`);
let dc1: WebHdfsCluster;
let dc2: WebHdfsCluster;
const sb = loadSandbox();
const dataNodePid = layout(sb.stateDir).dc2.hdfs.dataNodePid;

/** The sandbox's own `up` (idempotent): starts what is down, here dc2's DataNode. */
function sandboxUp(): void {
  const r = spawnSync('npx', ['tsx', path.join(__dirname, '..', '..', 'scripts', 'sandbox', 'main.ts'), 'up'], {
    env: { ...process.env, CUTOVER_STATE_DIR: sb.stateDir }, encoding: 'utf8', timeout: 180_000,
  });
  if (r.status !== 0) throw new Error(`sandbox up exited ${r.status}: ${r.stderr || r.stdout}`);
}

/**
 * Until dc2 takes a write again: `up` may return while the new DataNode is still starting (the NameNode counts the
 * stopped one as live until its heartbeats expire), so wait for the thing the refresh needs.
 */
async function writable(c: WebHdfsClient, within = 120_000): Promise<void> {
  const end = Date.now() + within;
  for (let i = 0; ; i++) {
    try {
      await c.create(`${root}/probe-${i}`, 'x');
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

beforeAll(() => {
  const hdfs = sandboxHdfs();
  dc1 = { name: 'dc1', url: hdfs.clusters.dc1.webhdfsUrl, user: hdfs.user };
  dc2 = { name: 'dc2', url: hdfs.clusters.dc2.webhdfsUrl, user: hdfs.user };
  for (let i = 0; i < 150; i++) {
    mkdirSync(path.join(localDir, `d${i % 5}`), { recursive: true });
    writeFileSync(path.join(localDir, `d${i % 5}`, `f${i}`), randomBytes(2000 + i));
  }
});

afterAll(async () => {
  // The partition test's rules, if it failed before its own finally: never left behind.
  await healAll();
  if (!livePid(dataNodePid, DATA_NODE_CLASS)) {
    sandboxUp();
    await writable(new WebHdfsClient(dc2)).catch(() => undefined);
  }
  rmSync(localDir, { recursive: true, force: true });
  await Promise.all([dc1, dc2].map((c) => new WebHdfsClient(c).delete(root, { recursive: true }).catch(() => false)));
}, 240_000);

describe('the new cluster loses its DataNode during a refresh', () => {
  it('fails retryably naming dc2, then the retry completes per file once the DataNode is back', async () => {
    const targets = [{ cluster: dc1, path: `${root}/ds` }, { cluster: dc2, path: `${root}/ds` }];
    let stopping: Promise<boolean> | undefined;
    const err = await refreshDataset(localDataset(localDir), targets, {
      onProgress: (p) => {
        if (p.filesDone >= 30 && !stopping) stopping = stopPidFile(dataNodePid, DATA_NODE_CLASS, 20_000);
      },
    }).catch((e: unknown) => e);
    expect(await stopping).toBe(true);
    // The DataNode gone: writes to dc2 are refused or cannot connect; the failure is one the activity retries.
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^hdfs dc2: /);
    const failure = hdfsFailure(err, 'hdfs refresh') as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe(ErrorType.HostUnreachable);
    expect(failure.nonRetryable).toBe(false);

    const c2 = new WebHdfsClient(dc2);
    const doneBefore = (await c2.walkFiles(`${root}/ds`)).filter((f) => !f.path.endsWith('._COPYING_'));
    expect(doneBefore.length).toBeGreaterThan(0);
    expect(doneBefore.length).toBeLessThan(150);

    sandboxUp();
    await writable(c2);
    const r = await refreshDataset(localDataset(localDir), targets);
    expect(r.files).toBe(150);
    expect(r.verify.mismatches).toEqual([]);
    const side2 = r.targets.find((t) => t.cluster === 'dc2')!;
    expect(side2.filesSkipped).toBeGreaterThanOrEqual(doneBefore.length);
    expect(side2.filesWritten + side2.filesSkipped).toBe(150);
    const after = new Map((await c2.walkFiles(`${root}/ds`)).map((f) => [f.path, f.status.modificationTime]));
    expect([...after.keys()].filter((p) => p.includes('_COPYING_'))).toEqual([]);
    // Complete before the fault: untouched by the retry.
    for (const f of doneBefore) expect(after.get(f.path)).toBe(f.status.modificationTime);
  }, 300_000);
});

describe('a refresh whose process is killed mid-way', () => {
  it('resumes per file: files complete before the kill are left alone, temps are cleared, both sides verify', async () => {
    const targets = [{ cluster: dc1, path: `${root}/killed` }, { cluster: dc2, path: `${root}/killed` }];
    // node itself (tsx as a loader), not npx: a kill -9 of npx would leave the refresh running in its child.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'helpers', 'hdfs-refresh-child.ts'), localDir, JSON.stringify(targets)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const killedAt = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        const n = Math.max(...d.toString().trim().split('\n').map((l) => Number(l.split(' ')[1]) || 0));
        if (n >= 40) {
          child.kill('SIGKILL');
          resolve(n);
        }
      });
      child.on('exit', (code, sig) => (sig === 'SIGKILL' ? undefined : reject(new Error(`the refresh ended (${code}) before it was killed`))));
    });
    expect(killedAt).toBeGreaterThanOrEqual(40);
    const before = new Map<string, Map<string, number>>();
    for (const c of [dc1, dc2]) {
      const listing = await new WebHdfsClient(c).walkFiles(`${root}/killed`);
      before.set(c.name, new Map(listing.filter((f) => !f.path.endsWith('._COPYING_')).map((f) => [f.path, f.status.modificationTime])));
      expect(before.get(c.name)!.size).toBeLessThan(150);
    }
    const r = await refreshDataset(localDataset(localDir), targets);
    expect(r.verify).toMatchObject({ files: 150, mismatches: [] });
    for (const t of r.targets) {
      const done = before.get(t.cluster)!;
      expect(t.filesSkipped).toBe(done.size);
      expect(t.filesWritten).toBe(150 - done.size);
      const after = await new WebHdfsClient(t.cluster === 'dc1' ? dc1 : dc2).walkFiles(`${root}/killed`);
      expect(after.filter((f) => f.path.includes('_COPYING_'))).toEqual([]);
      for (const [p, mtime] of done) expect(after.find((f) => f.path === p)?.status.modificationTime).toBe(mtime);
    }
  }, 180_000);
});

describe('a dc1↔dc2 partition during a refresh', () => {
  it('heartbeats name dc2, the attempt fails retryably naming its host; healed, the retry completes per file and both clusters hold the source', async () => {
    const dir = path.join(localDir, 'partition');
    const N = 400;
    for (let i = 0; i < N; i++) {
      mkdirSync(path.join(dir, `p${i % 8}`), { recursive: true });
      writeFileSync(path.join(dir, `p${i % 8}`, `f${i}`), randomBytes(4000 + i * 7));
    }
    const targets = [{ cluster: dc1, path: `${root}/partition` }, { cluster: dc2, path: `${root}/partition` }];
    const input = { source: { local: dir }, targets };
    // A short timeout for the test (the default waits 60 s on a silent cluster).
    const timeoutMs = 8_000;
    const acts = createHdfsActivities({ withSsh }, {}, { timeoutMs });
    const dc2Address = new URL(dc2.url).hostname;
    // The worker sits in dc1: the dc1↔dc2 link it uses is its path to dc2's NameNode and DataNode HTTP ports.
    const rules = cutTcp(dc2Address, [HDFS.httpPort, HDFS.dataNodeHttpPort]);
    const attempt = (onBeat?: (d: RefreshProgress) => void) => {
      const env = new MockActivityEnvironment();
      if (onBeat) env.on('heartbeat', (d?: RefreshProgress) => d && onBeat(d));
      return env.run(acts.hdfsRefresh, input) as Promise<RefreshResult>;
    };
    const failureOf = (e: unknown) => {
      expect(e).toBeInstanceOf(ApplicationFailure);
      return e as ApplicationFailure;
    };

    const beats: Array<RefreshProgress & { at: number }> = [];
    let cut: Awaited<ReturnType<typeof partition>> | undefined;
    let cutting: Promise<void> | undefined;
    let first: ApplicationFailure;
    let duringCut: ApplicationFailure;
    let failedAfterMs: number;
    let retryFailedAfterMs: number;
    const before = new Map<string, Map<string, number>>();
    try {
      const err = await attempt((d) => {
        beats.push({ ...d, at: Date.now() });
        if (d.phase === 'copy' && d.filesDone >= 40 && !cutting) cutting = partition(rules).then((p) => void (cut = p));
      }).catch((e: unknown) => e);
      await cutting;
      expect(cut).toBeDefined();
      failedAfterMs = Date.now() - cut!.since;
      first = failureOf(err);
      // While cut: what was complete on each side before the retry.
      for (const c of [dc1]) {
        const listing = await new WebHdfsClient(c).walkFiles(`${root}/partition`);
        before.set(c.name, new Map(listing.filter((f) => !f.path.endsWith('._COPYING_')).map((f) => [f.path, f.status.modificationTime])));
      }
      // A retry while the partition lasts: fails the same way, in about the timeout, before writing anything.
      const t = Date.now();
      duringCut = failureOf(await attempt().catch((e: unknown) => e));
      retryFailedAfterMs = Date.now() - t;
    } finally {
      await cut?.heal();
    }
    expect(cut!.rules).toEqual(rules);
    // Heartbeats while cut named dc2 and its NameNode as waited on; dc1 never showed as waited on.
    const waiting = beats.filter((b) => b.at >= cut!.since && b.waiting.length);
    expect(waiting.length).toBeGreaterThan(0);
    expect(waiting.flatMap((b) => b.waiting).every((w) => w.startsWith(`dc2 ${dc2.url}: no answer for `))).toBe(true);
    // Failed, not a difference: a retryable unreachable cluster naming dc2 and its address, within about the timeout.
    for (const f of [first!, duringCut!]) {
      expect(f.type).toBe(ErrorType.HostUnreachable);
      expect(f.nonRetryable).toBe(false);
      expect(f.message).toMatch(new RegExp(`^hdfs refresh: hdfs dc2: [A-Z]+ .*: cluster unreachable: http://${dc2Address.replace(/\./g, '\\.')}:(${HDFS.httpPort}|${HDFS.dataNodeHttpPort}): (nothing received for 8 s|no answer within 8 s|no connection within 10 s \\(UND_ERR_CONNECT_TIMEOUT\\))$`));
    }
    expect(failedAfterMs!).toBeGreaterThanOrEqual(timeoutMs - 1000);
    expect(failedAfterMs!).toBeLessThan(timeoutMs + 15_000);
    expect(retryFailedAfterMs!).toBeLessThan(Math.max(timeoutMs, 10_000) + 5_000);
    for (const c of [dc2]) {
      const listing = await new WebHdfsClient(c).walkFiles(`${root}/partition`);
      before.set(c.name, new Map(listing.filter((f) => !f.path.endsWith('._COPYING_')).map((f) => [f.path, f.status.modificationTime])));
    }
    expect(before.get('dc2')!.size).toBeGreaterThan(0);
    expect(before.get('dc2')!.size).toBeLessThan(N);

    // Healed: the retry completes; what either side had complete is left alone.
    const healedAt = Date.now();
    const r = await attempt();
    const retryMs = Date.now() - healedAt;
    expect(r.files).toBe(N);
    expect(r.verify.mismatches).toEqual([]);
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const source = new Map(Array.from({ length: N }, (_, i) => [`p${i % 8}/f${i}`, digest(readFileSync(path.join(dir, `p${i % 8}`, `f${i}`)))]));
    for (const t of r.targets) {
      const done = before.get(t.cluster)!;
      expect(t.filesSkipped).toBeGreaterThanOrEqual(done.size);
      expect(t.filesWritten + t.filesSkipped).toBe(N);
      const c = new WebHdfsClient(t.cluster === 'dc1' ? dc1 : dc2);
      const after = await c.walkFiles(`${root}/partition`);
      expect(after.filter((f) => f.path.includes('_COPYING_'))).toEqual([]);
      expect(after).toHaveLength(N);
      // Nothing written twice: complete before the cut, the same file (same modification time) after the retry.
      for (const [p, mtime] of done) expect(after.find((f) => f.path === p)?.status.modificationTime).toBe(mtime);
      // Every file on this cluster is the source's, read back.
      const differing = [];
      for (const f of after) if (digest(await c.readFile(`${root}/partition/${f.path}`)) !== source.get(f.path)) differing.push(f.path);
      expect(differing).toEqual([]);
    }
    console.log(`partition: cut after ${before.get('dc2')!.size} files on dc2, attempt failed ${failedAfterMs!} ms after the cut, a retry during it ${retryFailedAfterMs!} ms, healed retry ${retryMs} ms (${r.targets.map((t) => `${t.cluster} ${t.filesWritten} written ${t.filesSkipped} skipped`).join(', ')}); waiting beats: ${waiting.length}, last "${waiting[waiting.length - 1].waiting[0]}"`);
  }, 240_000);
});
