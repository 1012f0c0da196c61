// The package as a user gets it: `npm pack` (prepack builds dist/), `npm install -g` of the tarball into a
// temporary prefix, then the installed `cutover` and `cutover-worker` commands, run outside the repository with
// a minimal environment. Read-only against the sandbox (a plan's preflight, a worker that polls an unused task
// queue): no lock needed. One pack and one install per run.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxFileSyncPlan } from '../../scripts/plans/file-sync';
import { writePlan } from '../../scripts/plans/sandbox';
import { loadSandbox, sandboxSecretsDir, setSandboxRecord, type SandboxEndpoints } from '../../scripts/sandbox/endpoints';

const root = path.resolve(__dirname, '..', '..');

let tmp: string;
let prefix: string;
let sb: SandboxEndpoints;

function check(what: string, r: SpawnSyncReturns<string>): SpawnSyncReturns<string> {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal}${r.error ? `, ${r.error.message}` : ''}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** npm's own settings inherited from an `npm test` around us would point the install elsewhere. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_(config_(global_)?prefix|lifecycle_|package_)/i.test(k)));
}

/** What an installed command sees: a shell's basics and what the test passes, nothing of the repository's. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

function installed(command: 'cutover' | 'cutover-worker'): string {
  return path.join(prefix, 'bin', command);
}

beforeAll(() => {
  sb = loadSandbox(); // no sandbox: fail here, loudly
  tmp = mkdtempSync(path.join(os.tmpdir(), 'cutover-install-'));
  prefix = path.join(tmp, 'prefix');
  check('npm pack', spawnSync('npm', ['pack', '--pack-destination', tmp], { cwd: root, env: npmEnv(), encoding: 'utf8' }));
  const tarballs = readdirSync(tmp).filter((f) => f.endsWith('.tgz'));
  expect(tarballs, 'npm pack wrote one tarball').toHaveLength(1);
  check(
    'npm install -g',
    spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp, tarballs[0])], {
      cwd: tmp,
      env: npmEnv(),
      encoding: 'utf8',
    }),
  );
}, 300_000);

/** DNS records this file added (each test's own name), removed at the end. */
const dnsNames: string[] = [];

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  for (const name of dnsNames) setSandboxRecord(loadSandbox(), name, null);
});

describe('installed package', () => {
  it('holds compiled JavaScript and the pre-built workflow bundle, and no dev dependency', () => {
    const pkg = path.join(prefix, 'lib', 'node_modules', 'cutover');
    for (const command of ['cutover', 'cutover-worker'] as const) {
      expect(lstatSync(installed(command)).isSymbolicLink(), `${command} is linked into bin/`).toBe(true);
      expect(realpathSync(installed(command))).toMatch(/\/dist\/.*\.js$/);
    }
    expect(existsSync(path.join(pkg, 'dist', 'workflow-bundle.js')), 'pre-built workflow bundle').toBe(true);
    expect(existsSync(path.join(pkg, 'test')), 'tests are not shipped').toBe(false);
    for (const dev of ['tsx', 'typescript', 'vitest', 'eslint']) {
      expect(existsSync(path.join(pkg, 'node_modules', dev)), `dev dependency ${dev} installed`).toBe(false);
    }
  });

  it('cutover --help prints the commands', () => {
    const r = check('cutover --help', spawnSync(installed('cutover'), ['--help'], { cwd: tmp, env: cleanEnv(), encoding: 'utf8' }));
    expect(r.stdout).toMatch(/^usage: cutover <command>/);
    for (const command of ['setup [--namespace NS]', 'plan FILE', 'start FILE', 'approve ID']) expect(r.stdout).toContain(command);
  });

  it("cutover-worker polls with its pre-built bundle; cutover plan dry-runs the sandbox's sample plan through it; SIGTERM stops it", async () => {
    const taskQueue = `install-${randomUUID().slice(0, 8)}`;
    // Only Temporal settings and the worker's secret store (the sandbox's, where its plans' secrets are): no
    // CUTOVER_GCS_ENDPOINT, so no emulator, whatever .state holds.
    const env = cleanEnv({
      TEMPORAL_ADDRESS: sb.temporal.address,
      TEMPORAL_NAMESPACE: sb.temporal.namespace,
      CUTOVER_TASK_QUEUE: taskQueue,
      CUTOVER_SECRETS_DIR: sandboxSecretsDir(sb),
    });
    const worker = spawn(installed('cutover-worker'), [], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    worker.stdout.on('data', (d) => (out += d));
    worker.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "polling" line within 60 s:\n${out}`)), 60_000);
        worker.stdout.on('data', () => {
          if (out.includes(`cutover worker polling task queue ${taskQueue} (namespace ${sb.temporal.namespace}; dry runs on ${taskQueue}-dry-run)`)) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`cutover-worker exited (${code}) before polling:\n${out}`));
        });
      });

      // The sample plan (scripts/plans/write-sandbox-plan.ts) with a target that does not exist and a DNS name of
      // its own: the demo's names (assets, pg, redis, hdfs) point at dc2 after a demo, which preflight rightly refuses.
      const id = randomUUID().slice(0, 8);
      const dnsName = `install-${id}.${sb.dns.zone}`;
      setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
      dnsNames.push(dnsName);
      const targetDir = path.join(sb.stateDir, 'dc2', `install-${id}`);
      const planFile = writePlan(
        path.join(tmp, `install-${id}.yaml`),
        sandboxFileSyncPlan(sb, { name: `install-${id}`, sourceDir: sb.files.sourceDir, targetDir, dnsName }),
      );
      const plan = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const cli = spawn(installed('cutover'), ['plan', planFile, '--as', 'alice'], { cwd: tmp, env });
        let stdout = '';
        let stderr = '';
        cli.stdout.on('data', (d) => (stdout += d));
        cli.stderr.on('data', (d) => (stderr += d));
        cli.on('close', (status) => resolve({ status, stdout, stderr }));
      });
      expect(plan.status, `${plan.stdout}\n${plan.stderr}`).toBe(0);
      expect(plan.stdout).toContain(`plan ${planFile} is valid; its dry run passed on a worker`);
      expect(plan.stdout).toContain(`workflow id: file-sync-install-${id}`);
      expect(plan.stdout).toContain(`check-dns: ${dnsName} → ${sb.hosts.dc1.address}`);
      expect(plan.stdout).toMatch(/initial-copy: rsync initial copy → dc2/);
      expect(plan.stdout).toMatch(/gate cutover: wait for a go from alice or bob \(not alice, who starts it\)/);
      expect(plan.stdout).toContain(`switch-traffic: switch ${dnsName} → ${sb.hosts.dc2.address}`);
      expect(plan.stdout).toContain(`initial-copy: remove ${targetDir} on dc2`);
      expect(existsSync(targetDir), 'plan created nothing').toBe(false);

      worker.kill('SIGTERM');
      expect(await exited, out).toBe(0);
      expect(out).toContain('cutover worker stopped');
      expect(out, 'bundled at start instead of loading the pre-built bundle').not.toContain('Workflow bundle created');
      expect(out, 'switched to an emulator nobody configured').not.toContain('artifacts:');
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    }
  }, 120_000);
});
