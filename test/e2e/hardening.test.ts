// Trust and safety on the sandbox's real sshd and rsync: a live pass whose files vanish, a verify longer than its
// heartbeat timeout, an injected SSH user sent around the plan schema, a non-empty target without overwrite.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import type { FileSyncPreflightResult, RsyncPassInput, RsyncPassResult } from '../../activities/files';
import { validatingInterceptor } from '../../activities/remote/validate';
import { loadPlan } from '../../scripts/plans/load';
import { fileSyncInput, type FileSyncPlan } from '../../scripts/plans/file-sync';
import type { SshHost } from '../../workflows/shared/types';
import { sandboxSshHost } from '../../scripts/sandbox/endpoints';
import { fileSyncFixture, type FileSyncFixture } from '../helpers/sandbox';
import { temporalTestEnv, uniqueQueue, type TemporalTestEnv } from '../helpers/temporal';

let env: TemporalTestEnv;
const fixtures: FileSyncFixture[] = [];
const extra: string[] = [];

beforeAll(async () => {
  env = await temporalTestEnv();
});
afterAll(async () => {
  for (const f of fixtures) f.cleanup();
  for (const p of extra) rmSync(p, { recursive: true, force: true });
  await env?.close();
});

function fixture(opts: Parameters<typeof fileSyncFixture>[0] = {}): FileSyncFixture {
  const f = fileSyncFixture(opts);
  fixtures.push(f);
  return f;
}

function host(f: FileSyncFixture, dc: 'dc1' | 'dc2'): SshHost {
  return sandboxSshHost(f.sb, dc);
}

function passInput(f: FileSyncFixture, o: Partial<RsyncPassInput> = {}): RsyncPassInput {
  return {
    migrationId: `e2e-hardening-${f.id}`,
    pass: 'initial',
    source: { host: host(f, 'dc1'), path: f.sourceDir },
    target: { host: host(f, 'dc2'), path: f.targetDir },
    exclude: [],
    delete: false,
    bandwidthLimitKBps: 0,
    ...o,
  };
}

function regularFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/** Deletes every other file of the tree once `afterMs` has passed (a live tree losing files mid-copy). */
function deleteHalfLater(dir: string, afterMs: number): Promise<number> {
  return new Promise((resolve) => {
    setTimeout(() => {
      const files = regularFiles(dir).sort();
      let n = 0;
      for (const [i, file] of files.entries()) {
        if (i % 2 === 1) {
          unlinkSync(file);
          n++;
        }
      }
      resolve(n);
    }, afterMs);
  });
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('hardening on real hosts', () => {
  it('a live rsync pass whose source files vanish mid-copy succeeds (exit 24); the final pass under the freeze does not', async () => {
    // 200 files of 32 KiB at 1 MB/s: about 6 s of copying, files deleted after 1.5 s.
    const f = fixture({ files: 200, bytesPerFile: 32_768 });
    const acts = createActivities();
    const live = new MockActivityEnvironment();
    const [result, deleted] = await Promise.all([
      live.run(acts.rsyncPass, passInput(f, { bandwidthLimitKBps: 1000 })) as Promise<RsyncPassResult>,
      deleteHalfLater(f.sourceDir, 1500),
    ]);
    expect(deleted).toBeGreaterThan(50);
    expect(result.vanishedFiles).toBeGreaterThan(0);
    expect(existsSync(f.targetDir)).toBe(true);

    // The final sync (--delete) runs while writers are frozen: a vanished file there means the freeze did not hold.
    execFileSync('sh', ['-c', `for i in $(seq 200); do head -c 32768 /dev/urandom > ${f.sourceDir}/late-$i.bin; done; chown -R ${f.sb.hosts.dc1.user}: ${f.sourceDir}`]);
    const final = new MockActivityEnvironment();
    const [failure] = await Promise.all([
      failureOf(final.run(acts.rsyncPass, passInput(f, { pass: 'final', delete: true, bandwidthLimitKBps: 1000 }))),
      deleteHalfLater(f.sourceDir, 1500),
    ]);
    expect(failure.type).toBe('CommandFailed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/vanished during the sync under the freeze/);
  });

  it('a verify that takes several times its heartbeat timeout completes (it heartbeats while rsync checksums)', async () => {
    const f = fixture({ files: 10, bytesPerFile: 1024 });
    // A 1 GiB sparse file, the same on both sides: checksumming it takes seconds on each side.
    execFileSync('sh', [
      '-c',
      `truncate -s 1G ${f.sourceDir}/big.img && touch -d @1700000000 ${f.sourceDir}/big.img && chown -R ${f.sb.hosts.dc1.user}: ${f.sourceDir} && ` +
        `cp -a --sparse=always ${f.sourceDir} ${f.targetDir}`,
    ]);
    const bundle = await bundleWorkflowCode({ workflowsPath: path.resolve(__dirname, '../helpers/activity-runner.ts'), logger: quiet });
    const taskQueue = uniqueQueue('e2e-hb');
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities: createActivities() });
    const heartbeatTimeoutMs = 2000;
    const started = Date.now();
    const result = (await worker.runUntil(
      env.client.workflow.execute('runActivity', {
        taskQueue,
        workflowId: `e2e-hb-${randomUUID()}`,
        args: [
          {
            name: 'verifyTrees',
            args: [{ migrationId: `e2e-hb-${f.id}`, source: { host: host(f, 'dc1'), path: f.sourceDir }, target: { host: host(f, 'dc2'), path: f.targetDir }, exclude: [] }],
            heartbeatTimeoutMs,
            startToCloseTimeoutMs: 300_000,
          },
        ],
      }),
    )) as { identical: boolean; bytes: number };
    const tookMs = Date.now() - started;
    expect(result.identical).toBe(true);
    expect(result.bytes).toBeGreaterThanOrEqual(1024 ** 3);
    expect(tookMs).toBeGreaterThan(2 * heartbeatTimeoutMs);
  });

  it('an SSH user "-oProxyCommand=touch MARKER" sent straight as workflow input is refused by the worker; no command runs', async () => {
    const f = fixture({ files: 5, bytesPerFile: 100 });
    const marker = path.join(f.sb.stateDir, `e2e-injected-${f.id}`);
    extra.push(marker);
    const input = fileSyncInput(loadPlan(f.planFile) as FileSyncPlan, 'alice');
    // Around the plan schema: the target's user is an ssh option that would run a command on the source host.
    input.hosts.dc2 = { ...input.hosts.dc2, user: `-oProxyCommand=touch ${marker}` };
    const taskQueue = uniqueQueue('e2e-inject');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: env.bundle,
      activities: createActivities(),
      interceptors: { activity: [validatingInterceptor()] },
    });
    const outcome = await worker.runUntil(
      env.client.workflow.execute('fileSync', { taskQueue, workflowId: `e2e-inject-${f.id}`, args: [input] }).then(
        (status) => ({ status, error: null as unknown }),
        (error: unknown) => ({ status: null, error }),
      ),
    );
    const text = outcome.status ? JSON.stringify(outcome.status) : String((outcome.error as WorkflowFailedError).cause?.message ?? outcome.error);
    expect(text).toMatch(/user: expected a plain user name/);
    expect(existsSync(marker)).toBe(false);

    // The activity is safe on its own too (no interceptor): preflight refuses the login, nothing runs.
    const failure = await failureOf(
      new MockActivityEnvironment().run(createActivities().preflightFileSync, {
        source: { host: host(f, 'dc1'), path: f.sourceDir },
        target: { host: { ...host(f, 'dc2'), user: `-oProxyCommand=touch ${marker}` }, path: f.targetDir },
        hookHosts: [],
      }),
    );
    expect(failure.type).toBe('PreflightFailed');
    expect(failure.message).toMatch(/plain user name/);
    expect(existsSync(marker)).toBe(false);
  });

  it('a non-empty file-sync target is refused in preflight without overwrite, accepted with it', async () => {
    const f = fixture({ files: 5, bytesPerFile: 100 });
    mkdirSync(f.targetDir, { recursive: true });
    writeFileSync(path.join(f.targetDir, 'precious.txt'), 'not cutover\'s');
    execFileSync('chown', ['-R', `${f.sb.hosts.dc2.user}:`, f.targetDir]);
    const input = { source: { host: host(f, 'dc1'), path: f.sourceDir }, target: { host: host(f, 'dc2'), path: f.targetDir }, hookHosts: [] };
    const refused = await failureOf(new MockActivityEnvironment().run(createActivities().preflightFileSync, input));
    expect(refused.type).toBe('PreflightFailed');
    expect(refused.message).toMatch(/is not empty.*target\.overwrite: true/);
    const accepted = (await new MockActivityEnvironment().run(createActivities().preflightFileSync, {
      ...input,
      target: { ...input.target, overwrite: true },
    })) as FileSyncPreflightResult;
    expect(accepted.targetState).toBe('non-empty');
  });
});

const noop = () => undefined;
const quiet = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };
