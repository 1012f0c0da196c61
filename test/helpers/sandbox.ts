// Per-test fixtures on the sandbox's real servers: a source tree in dc1, a target path in dc2, a DNS name of
// its own (so tests never disturb each other or the demo), a plan file.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadSandbox, setSandboxRecord, type SandboxEndpoints } from '../../scripts/sandbox/endpoints';
import { sandboxFileSyncPlan, type SandboxFileSyncOptions } from '../../scripts/plans/file-sync';
import { writePlan } from '../../scripts/plans/sandbox';
import { fencedPath } from '../../workflows/shared/fence';

export interface FileSyncFixture {
  sb: SandboxEndpoints;
  id: string;
  sourceDir: string;
  targetDir: string;
  dnsName: string;
  freezeFlag: string;
  planFile: string;
  cleanup(): void;
}

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** Deterministic-size tree of files with random content: `files` files spread over a few directories. */
export function makeTree(dir: string, files: number, bytesPerFile: number): void {
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `d${i % 7}`, `e${i % 3}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(sub, `f${i}.bin`), randomBytes(bytesPerFile));
  }
  writeFileSync(path.join(dir, 'scratch.tmp'), 'excluded by the plan');
}

export function fileSyncFixture(opts: { files?: number; bytesPerFile?: number } & Partial<SandboxFileSyncOptions> = {}): FileSyncFixture {
  const sb = loadSandbox();
  const id = randomUUID().slice(0, 8);
  const sourceDir = path.join(sb.stateDir, 'dc1', `e2e-${id}`);
  const targetDir = path.join(sb.stateDir, 'dc2', `e2e-${id}`);
  const dnsName = `e2e-${id}.${sb.dns.zone}`;
  const freezeFlag = path.join(sb.stateDir, 'dc1', `e2e-${id}.frozen`);
  makeTree(sourceDir, opts.files ?? 200, opts.bytesPerFile ?? 8192);
  run('chown', ['-R', `${sb.hosts.dc1.user}:`, sourceDir]);
  // The dc1 directory is cutover's: the freeze hook (run as cutover over SSH) creates the flag there.
  setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
  const planFile = writePlan(
    path.join(sb.stateDir, 'plans', `e2e-${id}.yaml`),
    sandboxFileSyncPlan(sb, { name: `e2e-${id}`, sourceDir, targetDir, dnsName, freezeFlag, ...opts }),
  );
  return {
    sb,
    id,
    sourceDir,
    targetDir,
    dnsName,
    freezeFlag,
    planFile,
    cleanup() {
      for (const p of [sourceDir, fencedPath(sourceDir), targetDir, freezeFlag, `${freezeFlag}.ack`, planFile]) rmSync(p, { recursive: true, force: true });
      try {
        setSandboxRecord(sb, dnsName, null);
      } catch {
        /* best effort */
      }
    },
  };
}

/** relative path → sha256, for every regular file, skipping the given suffixes. */
export function treeDigest(dir: string, skip: (rel: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      const rel = path.relative(dir, full);
      if (e.isDirectory()) walk(full);
      else if (e.isFile() && !skip(rel)) out.set(rel, createHash('sha256').update(readFileSync(full)).digest('hex'));
    }
  };
  if (statSync(dir, { throwIfNoEntry: false })) walk(dir);
  return out;
}
