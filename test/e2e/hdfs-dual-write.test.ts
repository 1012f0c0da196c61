// The HDFS building blocks on the sandbox's two real clusters (dc1 127.0.1.1, dc2 127.0.2.1) over WebHDFS: round
// trips, a dual-write refresh with verify, an interrupted refresh resumed without rewriting what was complete, an
// HDFS source, a permission error and a missing path named clearly, and an output comparison that finds an injected
// difference. Each test works under a directory of its own, removed at the end.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HdfsChecksum, sameChecksum } from '../../activities/hdfs/checksum';
import { compareOutputs } from '../../activities/hdfs/compare';
import { hdfsDataset, localDataset } from '../../activities/hdfs/dataset';
import { hdfsFailure } from '../../activities/hdfs';
import { refreshDataset } from '../../activities/hdfs/refresh';
import { WebHdfsClient, type WebHdfsCluster, WebHdfsError } from '../../activities/hdfs/webhdfs';
import { ErrorType } from '../../workflows/shared/errors';
import { sandboxHdfs } from '../helpers/hdfs';

const id = randomUUID().slice(0, 8);
const root = `/e2e-${id}`;
let dc1: WebHdfsCluster;
let dc2: WebHdfsCluster;
let c1: WebHdfsClient;
let c2: WebHdfsClient;
const localDir = path.join(os.tmpdir(), `cutover-hdfs-e2e-${id}`);

function makeLocalTree(dir: string, files: number, bytes: number): void {
  for (let i = 0; i < files; i++) {
    mkdirSync(path.join(dir, `day=${i % 4}`), { recursive: true });
    writeFileSync(path.join(dir, `day=${i % 4}`, `part-${String(i).padStart(5, '0')}`), randomBytes(bytes + i));
  }
  writeFileSync(path.join(dir, 'large.bin'), randomBytes(6 << 20));
  writeFileSync(path.join(dir, 'empty'), '');
}

beforeAll(async () => {
  const hdfs = sandboxHdfs();
  dc1 = { name: 'dc1', url: hdfs.clusters.dc1.webhdfsUrl, user: hdfs.user };
  dc2 = { name: 'dc2', url: hdfs.clusters.dc2.webhdfsUrl, user: hdfs.user };
  c1 = new WebHdfsClient(dc1);
  c2 = new WebHdfsClient(dc2);
  makeLocalTree(localDir, 60, 2000);
});

afterAll(async () => {
  rmSync(localDir, { recursive: true, force: true });
  await Promise.all([c1?.delete(root, { recursive: true }), c2?.delete(root, { recursive: true })]);
});

describe('WebHDFS on both clusters', () => {
  it('writes, reads back and checksums the same bytes on dc1 and dc2', async () => {
    const data = randomBytes((1 << 20) * 3 + 123);
    for (const c of [c1, c2]) {
      await c.mkdirs(`${root}/rt`, { permission: '755' });
      await c.create(`${root}/rt/f.bin`, data, { blockSize: 1 << 20, permission: '640' });
      expect((await c.readFile(`${root}/rt/f.bin`)).equals(data)).toBe(true);
      const st = await c.getFileStatus(`${root}/rt/f.bin`);
      expect(st).toMatchObject({ type: 'FILE', length: data.length, blockSize: 1 << 20, permission: '640' });
    }
    const [x1, x2] = await Promise.all([c1.getFileChecksum(`${root}/rt/f.bin`), c2.getFileChecksum(`${root}/rt/f.bin`)]);
    expect(sameChecksum(x1, x2)).toBe(true);
    // The same checksum computed on the worker, without reading the file back.
    expect(sameChecksum(x1, new HdfsChecksum({ blockSize: 1 << 20, bytesPerChecksum: 512, crcType: 'CRC32C' }).update(data).digest())).toBe(true);
    await c1.setPermission(`${root}/rt/f.bin`, '600');
    expect((await c1.getFileStatus(`${root}/rt/f.bin`)).permission).toBe('600');
    await c1.rename(`${root}/rt/f.bin`, `${root}/rt/g.bin`);
    expect(await c1.stat(`${root}/rt/f.bin`)).toBeUndefined();
    expect(await c1.delete(`${root}/rt/g.bin`)).toBe(true);
    expect(await c1.delete(`${root}/rt/g.bin`)).toBe(false);
  });

  it('lists a directory bigger than one LISTSTATUS_BATCH page (1,000 entries)', async () => {
    await c2.mkdirs(`${root}/many`);
    const names = Array.from({ length: 1100 }, (_, i) => `m${i}`);
    // Directories are one NameNode call each: cheap enough to make a second page.
    for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((n) => c2.mkdirs(`${root}/many/${n}`)));
    let pages = 0;
    for await (const page of c2.listPages(`${root}/many`)) {
      pages++;
      expect(page.length).toBeLessThanOrEqual(1000);
    }
    expect(pages).toBe(2);
    expect((await c2.listStatus(`${root}/many`)).map((s) => s.pathSuffix).sort()).toEqual([...names].sort());
  });

  it('names the cluster and path of a permission error (another user) and of a missing path', async () => {
    await c1.mkdirs(`${root}/locked`, { permission: '755' });
    const mallory = new WebHdfsClient({ ...dc1, user: 'mallory' });
    const denied = await mallory.create(`${root}/locked/x`, 'x').catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(WebHdfsError);
    expect((denied as WebHdfsError).kind).toBe('permission');
    expect((denied as WebHdfsError).status).toBe(403);
    expect((denied as Error).message).toMatch(new RegExp(`^hdfs dc1: CREATE ${root}/locked/x: permission denied: .*user=mallory, access=WRITE`));
    const failure = hdfsFailure(denied, 'hdfs refresh');
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(ErrorType.CommandFailed);
    expect((failure as ApplicationFailure).nonRetryable).toBe(true);

    const missing = await c2.getFileStatus(`${root}/no/such/file`).catch((e: unknown) => e);
    expect((missing as WebHdfsError).kind).toBe('not-found');
    expect((missing as Error).message).toBe(`hdfs dc2: GETFILESTATUS ${root}/no/such/file: no such file or directory: File does not exist: ${root}/no/such/file`);
    const fromMissing = await refreshDataset(hdfsDataset(c1, `${root}/nothing-here`), [{ cluster: dc2, path: `${root}/copy-of-nothing` }]).catch((e: unknown) => e);
    expect((fromMissing as WebHdfsError).kind).toBe('not-found');
    expect((fromMissing as Error).message).toContain(`hdfs dc1: GETFILESTATUS ${root}/nothing-here`);
  });
});

describe('dual-write refresh', () => {
  const targets = () => [{ cluster: dc1, path: `${root}/ds` }, { cluster: dc2, path: `${root}/ds` }];

  it('resumes an interrupted refresh: nothing complete is rewritten, no temp is left, both sides verify', async () => {
    // Interrupted after about half the files.
    const ac = new AbortController();
    const stopped = await refreshDataset(localDataset(localDir), targets(), {
      concurrency: 4,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.filesDone >= 30) ac.abort(new Error('interrupted by the test'));
      },
    }).catch((e: unknown) => e);
    expect((stopped as Error).message).toBe('interrupted by the test');

    // What is visible under a final name is complete (same length and checksum as the source).
    const before = new Map<string, Map<string, number>>();
    for (const c of [c1, c2]) {
      const listing = await c.walkFiles(`${root}/ds`);
      const finals = listing.filter((f) => !f.path.endsWith('._COPYING_'));
      expect(finals.length).toBeGreaterThan(0);
      expect(finals.length).toBeLessThan(62);
      for (const f of listing.filter((x) => x.path.endsWith('._COPYING_'))) expect(path.basename(f.path)).toMatch(/^\./); // hidden
      before.set(c.cluster.name, new Map(finals.map((f) => [f.path, f.status.modificationTime])));
    }

    const r = await refreshDataset(localDataset(localDir), targets(), { concurrency: 4 });
    expect(r.files).toBe(62);
    expect(r.verify).toMatchObject({ method: 'file-checksum', files: 62, mismatches: [] });
    for (const t of r.targets) {
      const done = before.get(t.cluster)!;
      expect(t.filesSkipped).toBe(done.size);
      expect(t.filesWritten).toBe(62 - done.size);
    }
    for (const c of [c1, c2]) {
      const listing = await c.walkFiles(`${root}/ds`);
      expect(listing.filter((f) => f.path.includes('_COPYING_'))).toEqual([]);
      expect(listing.length).toBe(62);
      // Complete before the retry: untouched by it.
      for (const [p, mtime] of before.get(c.cluster.name)!) expect(listing.find((f) => f.path === p)?.status.modificationTime).toBe(mtime);
    }

    // A source file that changed is rewritten on both sides; the rest is left alone.
    writeFileSync(path.join(localDir, 'day=1', 'part-00001'), randomBytes(2001));
    const again = await refreshDataset(localDataset(localDir), targets());
    expect(again.targets.map((t) => [t.filesWritten, t.filesSkipped])).toEqual([[1, 61], [1, 61]]);
    expect(again.verify.mismatches).toEqual([]);

    // Streamed SHA-256 of every file on both sides agrees too.
    const sha = await refreshDataset(localDataset(localDir), targets(), { verify: 'sha256' });
    expect(sha.verify).toMatchObject({ method: 'sha256', files: 62, mismatches: [] });
  });

  it('copies an HDFS path of the old cluster to both clusters, keeping block sizes so checksums compare', async () => {
    await c1.mkdirs(`${root}/src`);
    await c1.create(`${root}/src/a`, randomBytes(3 << 20), { blockSize: 1 << 20 });
    await c1.create(`${root}/src/sub/b`, randomBytes(1000));
    const r = await refreshDataset(hdfsDataset(c1, `${root}/src`), [{ cluster: dc1, path: `${root}/src-copy` }, { cluster: dc2, path: `${root}/src` }]);
    expect(r.files).toBe(2);
    expect(r.verify).toMatchObject({ method: 'file-checksum', mismatches: [] });
    expect((await c2.getFileStatus(`${root}/src/a`)).blockSize).toBe(1 << 20);
    // A difference injected on one side is found by verify.
    await c2.delete(`${root}/src/sub/b`);
    await c2.create(`${root}/src/sub/b`, randomBytes(1000));
    const { verifyDataset } = await import('../../activities/hdfs/refresh');
    const v = await verifyDataset(hdfsDataset(c1, `${root}/src`), [{ cluster: dc2, path: `${root}/src` }]);
    expect(v.mismatches).toEqual([{ cluster: 'dc2', path: 'sub/b', why: expect.stringMatching(/^checksum /) }]);
  });
});

describe('output comparison', () => {
  it('finds an injected difference in one output file, with sample lines, and accepts reordered lines', async () => {
    const words = Array.from({ length: 300 }, (_, i) => `word${i}\t${i % 17}`);
    const parts = [words.slice(0, 100), words.slice(100, 200), words.slice(200)];
    for (const c of [c1, c2]) {
      for (const [i, lines] of parts.entries()) await c.create(`${root}/out/part-r-0000${i}`, `${lines.join('\n')}\n`);
      await c.create(`${root}/out/_SUCCESS`, '');
    }
    const a = { cluster: dc1, path: `${root}/out` };
    const b = { cluster: dc2, path: `${root}/out` };
    const same = await compareOutputs(a, b);
    expect(same).toMatchObject({ equal: true, files: 4, differing: [], onlyInA: [], onlyInB: [], byChecksum: 4 });

    // dc2's part 1: one count changed (same size), and its lines in another order.
    const changed = [...parts[1]].reverse().map((l) => (l === 'word150\t14' ? 'word150\t15' : l));
    await c2.create(`${root}/out/part-r-00001`, `${changed.join('\n')}\n`, { overwrite: true });
    const plain = await compareOutputs(a, b);
    expect(plain.equal).toBe(false);
    expect(plain.differing).toEqual([{ path: 'part-r-00001', why: 'content' }]);
    const byLines = await compareOutputs(a, b, { lines: true });
    expect(byLines.differing).toEqual([{
      path: 'part-r-00001',
      why: 'lines',
      lines: { countOnlyInA: 1, countOnlyInB: 1, sampleOnlyInA: ['word150\t14'], sampleOnlyInB: ['word150\t15'] },
    }]);

    // Only the order differs: equal as lines.
    await c2.create(`${root}/out/part-r-00001`, `${[...parts[1]].reverse().join('\n')}\n`, { overwrite: true });
    const reordered = await compareOutputs(a, b, { lines: true });
    expect(reordered).toMatchObject({ equal: true, sameLinesOtherOrder: ['part-r-00001'] });
    await c2.delete(`${root}/out/_SUCCESS`);
    expect((await compareOutputs(a, b, { lines: true })).onlyInA).toEqual(['_SUCCESS']);
  });
});
