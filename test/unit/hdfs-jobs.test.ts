// The shadow jobs' pure parts: placeholders (and the plan mistakes they catch), stderr made fit to show, noise from
// two runs of the old system, a comparison judged by the job's mode with noise left out, the alert's Slack JSON, and
// webhook tries that never let the URL out.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { sendAlert, slackPayload } from '../../activities/hdfs/alert';
import type { CompareResult } from '../../activities/hdfs/compare';
import { assertDeepHdfsPath, describeDifferences, isHadoopHidden, judgeJobComparison, noiseFiles, stripControl, substitutePlaceholders, tailOf } from '../../activities/hdfs/jobs';
import { ErrorType } from '../../workflows/shared/errors';

const values = { fs: 'hdfs://10.0.0.1:8020', output: '/jobs/wc/out-1', run: 'r1', datasets: { words: '/data/words', logs: '/data/logs' }, cluster: 'dc2' };

function failureOf(fn: () => unknown): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected a failure');
}

describe('placeholders', () => {
  it('substitutes inside words, each word staying one argument', () => {
    const argv = substitutePlaceholders(
      { name: 'wc', command: ['java', '-fs', '{fs}', '{dataset:words}', '{output}', 'tag={run}-{dataset:logs}', "awk '{print $1}'", 'a b'] },
      values,
    );
    expect(argv).toEqual(['java', '-fs', 'hdfs://10.0.0.1:8020', '/data/words', '/jobs/wc/out-1', 'tag=r1-/data/logs', "awk '{print $1}'", 'a b']);
  });

  it('refuses an unknown placeholder or dataset, naming it, where it is and the cluster', () => {
    const typo = failureOf(() => substitutePlaceholders({ name: 'wc', command: ['x', '{outptu}'] }, values));
    expect(typo.type).toBe(ErrorType.InvalidPlan);
    expect(typo.nonRetryable).toBe(true);
    expect(typo.message).toBe('job wc: command[1]: unknown placeholder {outptu} (known: {fs}, {output}, {run}, {dataset:NAME})');
    const ds = failureOf(() => substitutePlaceholders({ name: 'wc', command: ['{dataset:nope}'] }, values));
    expect(ds.message).toBe('job wc: command[0]: {dataset:nope} names no dataset on dc2 (datasets: logs, words)');
    expect(failureOf(() => substitutePlaceholders({ name: 'wc', command: ['{fs:x}'] }, values)).message).toContain('unknown placeholder {fs:x}');
    expect(failureOf(() => substitutePlaceholders({ name: 'wc', command: ['{dataset:toString}'] }, values)).message).toContain('names no dataset');
    expect(failureOf(() => substitutePlaceholders({ name: 'wc', command: [] }, values)).message).toBe('job wc: command must be a non-empty list of strings');
  });

  it('refuses to remove / or a one-segment path', () => {
    expect(assertDeepHdfsPath('/jobs/out/', 'x')).toBe('/jobs/out');
    expect(failureOf(() => assertDeepHdfsPath('/', 'remove')).message).toBe('remove: refusing to remove /: not at least two levels deep');
    expect(failureOf(() => assertDeepHdfsPath('/data', 'remove')).type).toBe(ErrorType.InvalidPlan);
    expect(failureOf(() => assertDeepHdfsPath('/a/../b', 'remove')).message).toContain('normalised');
  });
});

describe('stderr shown to people', () => {
  it('strips terminal escapes and control characters, keeps the last lines', () => {
    expect(stripControl('\x1b[31mred\x1b[0m\r\nnext\x07\x00 line\tx')).toBe('red\nnext line\tx');
    const log = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    expect(tailOf(log, 3)).toBe('line 47\nline 48\nline 49');
    expect(tailOf('x'.repeat(100), 5, 10)).toBe(`…${'x'.repeat(10)}`);
  });
});

function result(o: Partial<CompareResult>): CompareResult {
  return { a: 'dc1:/o', b: 'dc2:/o', equal: false, files: 3, bytes: 10, onlyInA: [], onlyInB: [], sizeDiffers: [], differing: [], sameLinesOtherOrder: [], byChecksum: 3, bySha256: 0, ms: 1, ...o };
}

describe('noise and judging a comparison', () => {
  it('takes as noise every file two runs of the old system disagree on', () => {
    expect(noiseFiles(
      result({ differing: [{ path: 'stamp', why: 'content' }], onlyInB: ['tmp-123'] }),
      result({ sizeDiffers: [{ path: 'log', a: 1, b: 2 }], differing: [{ path: 'stamp', why: 'content' }] }),
    )).toEqual(['log', 'stamp', 'tmp-123']);
    expect(noiseFiles(result({ equal: true }))).toEqual([]);
  });

  it('leaves noise out of equal and reports it as seen', () => {
    const r = result({ differing: [{ path: 'stamp', why: 'lines', lines: { countOnlyInA: 1, countOnlyInB: 1, sampleOnlyInA: ['1'], sampleOnlyInB: ['2'] } }] });
    const j = judgeJobComparison({ name: 'j', compare: 'sorted-lines' }, r, ['stamp', 'other']);
    expect(j).toMatchObject({ job: 'j', equal: true, noiseSeen: ['stamp'] });
    expect(j.differences.differing).toEqual([]);
    expect(judgeJobComparison({ name: 'j', compare: 'sorted-lines' }, r, []).equal).toBe(false);
  });

  it('counts the same lines in another order as equal for sorted-lines, as a difference for bytes', () => {
    const r = result({ sameLinesOtherOrder: ['part-r-00000'] });
    expect(judgeJobComparison({ name: 'j', compare: 'sorted-lines' }, r, []).equal).toBe(true);
    const bytes = judgeJobComparison({ name: 'j', compare: 'bytes' }, r, []);
    expect(bytes.equal).toBe(false);
    expect(bytes.differences.differing).toEqual([{ path: 'part-r-00000', why: 'content', note: 'the same lines in another order' }]);
    // A size difference alone is a difference in bytes mode only (lines mode judges it by its lines).
    const sized = result({ sizeDiffers: [{ path: 'p', a: 1, b: 2 }], sameLinesOtherOrder: ['p'] });
    expect(judgeJobComparison({ name: 'j', compare: 'sorted-lines' }, sized, []).equal).toBe(true);
    expect(judgeJobComparison({ name: 'j', compare: 'bytes' }, sized, []).equal).toBe(false);
  });

  it('clips sample lines and describes differences with them', () => {
    const long = `x${'y'.repeat(1000)}\x1b[2J`;
    const r = result({
      onlyInB: ['extra'],
      differing: [{ path: 'part-r-00000', why: 'lines', lines: { countOnlyInA: 1, countOnlyInB: 2, sampleOnlyInA: ['alpha\t3'], sampleOnlyInB: ['alpha\t4', long] } }],
    });
    const j = judgeJobComparison({ name: 'wc', compare: 'sorted-lines' }, r, []);
    expect(j.differences.differing[0].lines!.sampleOnlyInB[1]).toHaveLength(301);
    expect(describeDifferences(j)).toEqual([
      'extra: only in dc2:/o',
      `part-r-00000: 1 line(s) only in dc1:/o, 2 only in dc2:/o\n  - alpha\t3\n  + alpha\t4\n  + x${'y'.repeat(299)}…`,
    ]);
    expect(isHadoopHidden('_SUCCESS')).toBe(true);
    expect(isHadoopHidden('_logs/history/x')).toBe(true);
    expect(isHadoopHidden('.part-r-00000.crc')).toBe(true);
    expect(isHadoopHidden('part-r-00000')).toBe(false);
  });
});

describe('alert', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-alert-'));
  const servers: Server[] = [];
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    for (const s of servers) s.close();
  });

  async function receiver(statuses: number[]): Promise<{ base: string; bodies: string[] }> {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        bodies.push(b);
        res.statusCode = statuses[Math.min(bodies.length - 1, statuses.length - 1)];
        res.end('ok');
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
  }

  it('builds Slack JSON: text plus header, job and one block per detail', () => {
    const p = slackPayload({ title: 'hdfs-dual-write: wc differs', job: 'wc', details: ['a: differs', 'b ```x```'] });
    expect(p.text).toBe('hdfs-dual-write: wc differs (job wc)');
    expect(p.blocks).toEqual([
      { type: 'header', text: { type: 'plain_text', text: 'hdfs-dual-write: wc differs' } },
      { type: 'section', text: { type: 'mrkdwn', text: '*job* `wc`' } },
      { type: 'section', text: { type: 'mrkdwn', text: '```a: differs```' } },
      { type: 'section', text: { type: 'mrkdwn', text: "```b '''x'''```" } },
    ]);
    expect(slackPayload({ title: 't', job: 'j', details: Array.from({ length: 60 }, () => 'd') }).blocks).toHaveLength(2 + 40 + 1);
  });

  it('retries a failing webhook, then reports it unsent without the URL', async () => {
    const { base, bodies } = await receiver([503, 500, 502]);
    const secretUrl = `${base}/services/T0/B0/sekrit-token-123`;
    const file = path.join(dir, 'hook');
    writeFileSync(file, `${secretUrl}\n`);
    const r = await sendAlert({ webhook: { file }, title: 't', job: 'j', details: [] }, { backoffMs: 10 });
    expect(r).toEqual({ sent: false, status: 502, error: 'the webhook answered HTTP 502 (after 3 tries)', attempts: 3 });
    expect(bodies).toHaveLength(3);
    const ok = await receiver([500, 200]);
    writeFileSync(file, `${ok.base}/services/sekrit-token-123`);
    expect(await sendAlert({ webhook: { file }, title: 't', job: 'j', details: [] }, { backoffMs: 10 })).toEqual({ sent: true, status: 200, attempts: 2 });
    // 404 is final: retrying a wrong URL does not help.
    const gone = await receiver([404]);
    writeFileSync(file, `${gone.base}/services/sekrit-token-123`);
    expect(await sendAlert({ webhook: { file }, title: 't', job: 'j', details: [] }, { backoffMs: 10 })).toMatchObject({ sent: false, status: 404, attempts: 1 });
    // Nobody listening: a network error code, never the address.
    const closed = await receiver([200]);
    servers.pop()!.close();
    writeFileSync(file, `${closed.base}/services/sekrit-token-123`);
    const down = await sendAlert({ webhook: { file }, title: 't', job: 'j', details: [], attempts: 2 }, { backoffMs: 10 });
    expect(down).toEqual({ sent: false, error: 'the webhook is not reachable (ECONNREFUSED) (after 2 tries)', attempts: 2 });
    writeFileSync(file, 'not a url sekrit-token-123');
    const bad = await sendAlert({ webhook: { file }, title: 't', job: 'j', details: [] });
    expect(bad).toEqual({ sent: false, error: 'the webhook secret is not a URL', attempts: 0 });
    const missing = await sendAlert({ webhook: { env: 'CUTOVER_TEST_NO_SUCH_HOOK' }, title: 't', job: 'j', details: [] });
    expect(missing).toEqual({ sent: false, error: 'hdfs alert webhook: environment variable CUTOVER_TEST_NO_SUCH_HOOK is not set on the worker', attempts: 0 });
    for (const x of [r, down, bad]) expect(JSON.stringify(x)).not.toContain('sekrit');
  });
});
