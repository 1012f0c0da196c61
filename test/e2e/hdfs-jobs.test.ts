// Shadow jobs on the sandbox's two real HDFS clusters, run over the real sshd of dc1 as the plan's job host:
// WordCount (Hadoop's example, local runner) against both clusters on the same input gives equal outputs; with one
// extra input line on the new cluster the comparison names the file and the lines, and the alert carries them to a
// webhook (whose URL stays out of the result); a job that fails on one cluster is a result naming it; a job whose
// output differs between two runs on the old cluster is found as noise and left out; timeouts, cancellation and a
// retry stop the remote process; an unreachable job host is retried. Everything lives under a root of its own,
// removed at the end.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withSsh } from '../../activities/clients/ssh';
import { createHdfsActivities } from '../../activities/hdfs';
import { describeDifferences, noiseFiles, type JobCluster, type RunJobInput, type ShadowJobSpec } from '../../activities/hdfs/jobs';
import { WebHdfsClient } from '../../activities/hdfs/webhdfs';
import { loadSandbox } from '../../scripts/sandbox/endpoints';
import { ErrorType } from '../../workflows/shared/errors';
import type { SshHost } from '../../workflows/shared/types';
import { sandboxHdfs } from '../helpers/hdfs';

const id = randomUUID().slice(0, 8);
const root = `/e2e-jobs-${id}`;
const localDir = path.join(os.tmpdir(), `cutover-hdfs-jobs-${id}`);
/** The local runner's scratch space on the job host (written by the SSH user). */
const jobTmp = `/tmp/cutover-e2e-jobs-${id}`;
const acts = createHdfsActivities({ withSsh }, { backoffMs: 50 });
let dc1: JobCluster;
let dc2: JobCluster;
let host: SshHost;
let wordCount: ShadowJobSpec;
let stamp: ShadowJobSpec;
let server: Server;
let hookBase: string;
const received: Array<{ url: string; body: string }> = [];

const run = <A, R>(fn: (a: A) => Promise<R>, a: A): Promise<R> => new MockActivityEnvironment().run(fn, a);

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

/** Processes on the job host whose command line has `marker` (pgrep's own command line does not match the pattern). */
async function remoteProcesses(marker: string): Promise<string> {
  const pattern = `${marker.slice(0, -1)}[${marker.slice(-1)}]`;
  return withSsh(host, async (c) => (await c.exec(`pgrep -af '${pattern}' || true`)).stdout.trim());
}

const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
const text = (file: number) => Array.from({ length: 40 }, (_, i) => `${words[(i + file) % 8]} ${words[(i * 3 + file) % 8]} w${(i * file) % 11}`).join('\n') + '\n';

beforeAll(async () => {
  const hdfs = sandboxHdfs();
  const sb = loadSandbox();
  const h = sb.hosts.dc1;
  host = { name: 'dc1', address: h.address, port: h.sshPort, user: h.user, identityFile: h.identityFile, knownHostsFile: h.knownHostsFile };
  dc1 = { name: 'dc1', url: hdfs.clusters.dc1.webhdfsUrl, user: hdfs.user, fs: hdfs.clusters.dc1.fsUri };
  dc2 = { name: 'dc2', url: hdfs.clusters.dc2.webhdfsUrl, user: hdfs.user, fs: hdfs.clusters.dc2.fsUri };
  // A client JVM needs a core-site.xml on its classpath: dc1's conf dir serves (`-fs` says which cluster).
  const cp = `${hdfs.clusters.dc1.confDir}:${readFileSync(hdfs.classpathFile, 'utf8').trim()}`;
  const client = ['-D', 'dfs.client.use.datanode.hostname=true', '-D', `hadoop.tmp.dir=${jobTmp}`];
  wordCount = {
    name: 'wordcount', host, compare: 'sorted-lines', timeoutSeconds: 300,
    command: ['java', '-Xmx384m', '-cp', cp, 'org.apache.hadoop.examples.WordCount', '-D', 'mapreduce.framework.name=local', ...client, '-fs', '{fs}', '{dataset:words}', '{output}'],
  };
  // Writes a stable part and a timestamp: two runs on the same cluster differ in `stamp` only.
  stamp = {
    name: 'stamp', host, compare: 'bytes', timeoutSeconds: 120,
    command: [
      'sh', '-c',
      'd=$(mktemp -d) && echo stable > "$d/part-00000" && date +%s%N > "$d/stamp" && ' +
        'java -Xmx256m -cp "$0" org.apache.hadoop.fs.FsShell "$@" -put "$d" "$OUT"; rc=$?; rm -rf "$d"; exit $rc',
      cp, ...client, '-fs', '{fs}',
    ],
  };
  // FsShell takes its options first: the output goes in through the environment.
  stamp.command = ['env', 'OUT={output}', ...stamp.command];

  // The input: five text files on both clusters; on dc2 also a copy with one extra line.
  const c1 = new WebHdfsClient(dc1);
  const c2 = new WebHdfsClient(dc2);
  await Promise.all([c1, c2].map(async (c) => {
    for (let f = 0; f < 5; f++) await c.create(`${root}/words/part-${f}.txt`, text(f));
  }));
  for (let f = 0; f < 5; f++) await c2.create(`${root}/words-plus/part-${f}.txt`, f === 2 ? `${text(f)}cutoverextra alpha\n` : text(f));

  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ url: req.url ?? '', body });
      res.statusCode = req.url?.includes('/broken/') ? 500 : 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hookBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mkdirSync(localDir, { recursive: true });
});

afterAll(async () => {
  server?.close();
  rmSync(localDir, { recursive: true, force: true });
  rmSync(jobTmp, { recursive: true, force: true });
  await Promise.all([dc1, dc2].filter(Boolean).map((c) => new WebHdfsClient(c).delete(root, { recursive: true })));
});

const input = (job: ShadowJobSpec, cluster: JobCluster, out: string, datasets: Record<string, string> = { words: `${root}/words` }, r = id): RunJobInput =>
  ({ job, cluster, outputPath: `${root}/out/${out}`, datasets, run: r });

describe('WordCount on both clusters', () => {
  it('equal on the same input; an extra line on dc2 names the file and lines and alerts; a failure on dc2 is a result', async () => {
    const [rec, same, plus, failed] = await Promise.all([
      run(acts.hdfsRunJob, input(wordCount, dc1, 'wc-dc1')),
      run(acts.hdfsRunJob, input(wordCount, dc2, 'wc-dc2')),
      run(acts.hdfsRunJob, input(wordCount, dc2, 'wc-dc2-plus', { words: `${root}/words-plus` })),
      run(acts.hdfsRunJob, input(wordCount, dc2, 'wc-dc2-missing', { words: `${root}/no-such-input` })),
    ]);
    for (const r of [rec, same, plus]) expect(r, r.stderrTail).toMatchObject({ ok: true, exitCode: 0 });
    expect(rec.cluster).toBe('dc1');
    expect(failed).toMatchObject({ job: 'wordcount', cluster: 'dc2', ok: false, outputPath: `${root}/out/wc-dc2-missing` });
    expect(failed.exitCode).not.toBe(0);
    expect(failed.stderrTail).toContain(`Input path does not exist: hdfs://127.0.2.1:8020${root}/no-such-input`);
    expect(failed.stderrTail).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);

    const record = { cluster: dc1, path: rec.outputPath };
    const equal = await run(acts.hdfsCompareJobOutputs, { job: wordCount, record, shadow: { cluster: dc2, path: same.outputPath }, noise: [], sampleLines: 5 });
    expect(equal).toMatchObject({ job: 'wordcount', equal: true, noiseSeen: [] });
    // part-r-00000 compared; _SUCCESS (present on both) left out as a marker.
    expect(equal.differences.files).toBe(1);
    expect((await new WebHdfsClient(dc1).readFile(`${rec.outputPath}/part-r-00000`)).toString()).toMatch(/^alpha\t\d+\n/);

    const differs = await run(acts.hdfsCompareJobOutputs, { job: wordCount, record, shadow: { cluster: dc2, path: plus.outputPath }, noise: [], sampleLines: 5 });
    expect(differs.equal).toBe(false);
    const alphas = (await new WebHdfsClient(dc1).readFile(`${rec.outputPath}/part-r-00000`)).toString().match(/^alpha\t(\d+)$/m)![1];
    expect(differs.differences.differing).toEqual([{
      path: 'part-r-00000',
      why: 'lines',
      lines: { countOnlyInA: 1, countOnlyInB: 2, sampleOnlyInA: [`alpha\t${alphas}`], sampleOnlyInB: [`alpha\t${Number(alphas) + 1}`, 'cutoverextra\t1'] },
    }]);

    // The alert reaches the webhook with the job, the file and the lines; the URL (a credential) stays out.
    const hookFile = path.join(localDir, 'webhook');
    const secretPath = `/services/T0/B0/sekrit-${id}`;
    writeFileSync(hookFile, `${hookBase}${secretPath}\n`);
    const details = describeDifferences(differs);
    const sent = await run(acts.hdfsAlert, { webhook: { file: hookFile }, title: 'hdfs-dual-write e2e: wordcount differs on dc2', job: 'wordcount', details });
    expect(sent).toEqual({ sent: true, status: 200, attempts: 1 });
    const got = received.find((r) => r.url === secretPath);
    const payload = JSON.parse(got!.body) as { text: string; blocks: Array<{ text?: { text: string } }> };
    expect(payload.text).toBe('hdfs-dual-write e2e: wordcount differs on dc2 (job wordcount)');
    const shown = payload.blocks.map((b) => b.text?.text ?? '').join('\n');
    expect(shown).toContain('`wordcount`');
    expect(shown).toContain('part-r-00000: 1 line(s) only in dc1:');
    expect(shown).toContain('+ cutoverextra\t1');
    expect(shown).toContain(`- alpha\t${alphas}`);
    // A webhook that keeps failing: tried three times, then a result, without the URL.
    writeFileSync(hookFile, `${hookBase}/broken/sekrit-${id}`);
    const unsent = await run(acts.hdfsAlert, { webhook: { file: hookFile }, title: 't', job: 'wordcount', details });
    expect(unsent).toEqual({ sent: false, status: 500, error: 'the webhook answered HTTP 500 (after 3 tries)', attempts: 3 });
    expect(received.filter((r) => r.url.startsWith('/broken/'))).toHaveLength(3);
    for (const r of [sent, unsent]) expect(JSON.stringify(r)).not.toContain(`sekrit-${id}`);

    // The shadow's output is thrown away: removed once, then nothing to do; shallow paths refused.
    expect(await run(acts.hdfsRemovePath, { cluster: dc2, path: plus.outputPath })).toEqual({ cluster: 'dc2', path: plus.outputPath, removed: true });
    expect(await run(acts.hdfsRemovePath, { cluster: dc2, path: plus.outputPath })).toMatchObject({ removed: false });
    expect(await new WebHdfsClient(dc2).stat(plus.outputPath)).toBeUndefined();
    for (const p of ['/', root]) expect((await failureOf(run(acts.hdfsRemovePath, { cluster: dc2, path: p }))).type).toBe(ErrorType.InvalidPlan);

    // Run again into the same output (a retried activity): the leftover is removed first, the job succeeds.
    const again = await run(acts.hdfsRunJob, input(wordCount, dc1, 'wc-dc1'));
    expect(again).toMatchObject({ ok: true, exitCode: 0 });
  });
});

describe('noise', () => {
  it('finds what differs between two runs on the old cluster and leaves it out of the comparison', async () => {
    const [a, b, shadow] = await Promise.all([
      run(acts.hdfsRunJob, input(stamp, dc1, 'stamp-1', {}, `${id}-1`)),
      run(acts.hdfsRunJob, input(stamp, dc1, 'stamp-2', {}, `${id}-2`)),
      run(acts.hdfsRunJob, input(stamp, dc2, 'stamp-dc2', {}, `${id}-1`)),
    ]);
    for (const r of [a, b, shadow]) expect(r, r.stderrTail).toMatchObject({ ok: true });
    const baseline = await run(acts.hdfsCompareJobOutputs, { job: stamp, record: { cluster: dc1, path: a.outputPath }, shadow: { cluster: dc1, path: b.outputPath }, noise: [], sampleLines: 3 });
    expect(baseline.equal).toBe(false);
    const noise = noiseFiles(baseline.differences);
    expect(noise).toEqual(['stamp']);

    const cmp = { job: stamp, record: { cluster: dc1, path: a.outputPath }, shadow: { cluster: dc2, path: shadow.outputPath }, sampleLines: 3 };
    const withNoise = await run(acts.hdfsCompareJobOutputs, { ...cmp, noise });
    expect(withNoise).toMatchObject({ equal: true, noiseSeen: ['stamp'] });
    expect(withNoise.differences.files).toBe(2);
    const without = await run(acts.hdfsCompareJobOutputs, { ...cmp, noise: [] });
    expect(without.equal).toBe(false);
    expect(without.differences.differing.map((d) => d.path)).toEqual(['stamp']);
  });
});

describe('the job process', () => {
  const sleeper = (marker: string, timeoutSeconds = 120): ShadowJobSpec => ({
    name: 'sleeper', host, compare: 'bytes', timeoutSeconds, command: ['sh', '-c', 'sleep 600; echo never', marker],
  });
  const until = async (cond: () => Promise<boolean>, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await cond()) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  };

  it('is stopped at its timeout, on cancellation and by a retry of the same run; a bad placeholder runs nothing', async () => {
    const t0 = Date.now();
    const timedOut = await run(acts.hdfsRunJob, input(sleeper(`cutover-timeout-${id}`, 2), dc1, 'sleep-t'));
    expect(timedOut).toMatchObject({ ok: false, exitCode: 124, timedOut: true, cluster: 'dc1' });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(await remoteProcesses(`cutover-timeout-${id}`)).toBe('');

    const env = new MockActivityEnvironment();
    const marker = `cutover-cancel-${id}`;
    const cancelledRun = env.run(acts.hdfsRunJob, input(sleeper(marker), dc1, 'sleep-c')).then(() => undefined, (e: unknown) => e);
    expect(await until(async () => (await remoteProcesses(marker)) !== '', 15_000)).toBe(true);
    env.cancel();
    expect(await cancelledRun).toBeInstanceOf(CancelledFailure);
    expect(await until(async () => (await remoteProcesses(marker)) === '', 10_000)).toBe(true);

    // An attempt still running when its retry starts (a worker that lost it): the retry stops it first.
    const first = `cutover-first-${id}`;
    const earlier = run(acts.hdfsRunJob, input(sleeper(first), dc1, 'sleep-r', {}, `${id}-r`));
    expect(await until(async () => (await remoteProcesses(first)) !== '', 15_000)).toBe(true);
    const retry = await run(acts.hdfsRunJob, input({ ...sleeper(first), command: ['true'] }, dc1, 'sleep-r', {}, `${id}-r`));
    expect(retry).toMatchObject({ ok: true, exitCode: 0 });
    expect((await earlier).ok).toBe(false);
    expect(await remoteProcesses(first)).toBe('');

    const typo = await failureOf(run(acts.hdfsRunJob, input({ ...wordCount, command: ['echo', '{outptu}'] }, dc1, 'typo')));
    expect(typo).toMatchObject({ type: ErrorType.InvalidPlan, nonRetryable: true, message: 'job wordcount: command[1]: unknown placeholder {outptu} (known: {fs}, {output}, {run}, {dataset:NAME})' });
  });

  it('an unreachable job host is a retryable failure', async () => {
    // The host key pinned for a port nobody listens on: the connection itself fails.
    const kh = path.join(localDir, 'known_hosts');
    writeFileSync(kh, readFileSync(host.knownHostsFile, 'utf8').replace('[127.0.1.1]:2222', '[127.0.1.1]:2299'));
    const f = await failureOf(run(acts.hdfsRunJob, input({ ...stamp, host: { ...host, port: 2299, knownHostsFile: kh } }, dc1, 'unreachable')));
    expect(f.type).toBe(ErrorType.HostUnreachable);
    expect(f.nonRetryable).toBe(false);
    expect(f.message).toMatch(/^job stamp on dc1: on dc1: dc1 \(cutover@127\.0\.1\.1:2299\): unreachable: .*ECONNREFUSED/);
  });
});
