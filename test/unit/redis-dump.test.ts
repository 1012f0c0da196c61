// The dump's checksum command, run here with and without OpenSSL on the PATH (both must print the same digest,
// the one Node computes), its parser, and the job log's per-job runs the benchmark prints for a job run twice.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSha256, sha256Command } from '../../activities/redis/dump';
import { jobRuns } from '../../scripts/workload/redis-jobs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'redis-dump-'));

function run(command: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync('/bin/sh', ['-c', command], { encoding: 'utf8', env });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('the dump checksum', () => {
  const file = path.join(dir, 'dump with space.rdb');
  const bytes = Buffer.concat([Buffer.from('REDIS0010'), Buffer.alloc(300_000, 7), Buffer.from([0xff, 0, 1])]);
  writeFileSync(file, bytes);
  const expected = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };

  it('prints the size and sha256 with openssl', () => {
    expect(spawnSync('/bin/sh', ['-c', 'command -v openssl']).status).toBe(0);
    expect(parseSha256(run(sha256Command(file)))).toEqual(expected);
  });

  it('falls back to sha256sum where there is no openssl, with the same result', () => {
    const bin = path.join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const tool of ['stat', 'sha256sum']) symlinkSync(run(`command -v ${tool}`).trim(), path.join(bin, tool));
    const out = run(sha256Command(file), { PATH: bin });
    expect(out).not.toMatch(/\*/); // sha256sum's format, not openssl's -r
    expect(parseSha256(out)).toEqual(expected);
  });

  it('a missing file fails the command, and output that is no checksum is refused', () => {
    expect(spawnSync('/bin/sh', ['-c', sha256Command(path.join(dir, 'absent.rdb'))]).status).not.toBe(0);
    expect(() => parseSha256('12\n')).toThrow(/unexpected output of the checksum/);
    expect(() => parseSha256('12\nnot-a-digest *x\n')).toThrow(/unexpected output/);
  });
});

describe('job runs from the completion log', () => {
  it('lists every run of the jobs asked for, with its server and time', () => {
    const log = path.join(dir, 'done.log');
    writeFileSync(log, 'job-1 127.0.1.1 1000\njob-2 127.0.2.1 2000\njob-2 127.0.1.1 3000\n');
    expect(jobRuns(log, ['job-2'])).toEqual({ 'job-2': ['127.0.2.1 at 1970-01-01T00:00:02.000Z', '127.0.1.1 at 1970-01-01T00:00:03.000Z'] });
    expect(jobRuns(path.join(dir, 'absent.log'), ['job-2'])).toEqual({});
  });
});
