// file-sync benchmark: how long cutover's file-sync copy takes next to plain rsync between the same hosts, and
// how long writers stay frozen (freeze hook to unfreeze hook) next to the final sync inside it.
//
// The source is a cached tree in dc1 (20,220 files, 1.22 GB: many small files, some 1 MiB and 32 MiB ones,
// random content so rsync cannot compress or match anything). Each round runs, in alternating order:
//   raw      `rsync -a`, run as cutover on dc1 over the same SSH hop cutover uses, pushing to a fresh dc2 dir;
//   cutover  a real file-sync migration (in-process worker on its own task queue, its own DNS name and workflow
//            id) to another fresh dc2 dir. Right after the initial copy 0.5% of the files are rewritten and a
//            few added (work for catch-up); at the gate a few more are rewritten, added and deleted (work for the
//            final sync); then bob approves alice's migration. The plan's freeze and unfreeze hooks raise and
//            remove a flag over SSH (no writer to wait for), so the frozen window includes their real cost.
// Then the same move once more on a tree 4× larger (the tree four times over, hard-linked: 4× the files and
// bytes to copy, list and compare) to show the frozen window follows the final sync, not the tree
// (CUTOVER_BENCH_FILE_SYNC_LARGE=0 skips it).
// Before every timed run the page cache is put in the same state: the source read once (warm, default), or
// dropped (--cold). Cold favours cutover slightly: its preflight walks the tree (find, du) just before the
// copy, warming the inode cache that raw rsync has to fill itself.
// Figures are medians over the rounds; step times come from the migration's status, pass details from the
// rsyncPass results in the workflow history. Afterwards the dc2 copies, the DNS name and the plan are removed;
// the source tree stays cached for the next run (regenerated only when TREE changes).
import { spawn, spawnSync } from 'node:child_process';
import { randomFillSync, randomUUID } from 'node:crypto';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { RsyncPassResult } from '../../activities/files';
import { rsyncRemoteShell } from '../../activities/files';
import { shq } from '../../activities/clients/ssh';
import { fencedPath, type MigrationStatus, type SshHost } from '../../workflows/shared';
import { createWorker } from '../../workers/main';
import { UserError } from '../cli/errors';
import * as svc from '../cli/services';
import { loadSandbox, sandboxSshHost, setSandboxRecord, useSandboxWorkerEnv, type SandboxEndpoints, type SandboxHost } from '../sandbox/endpoints';
import { median, medianRounded, ratio } from './stats';
import type { Benchmark, BenchOptions } from './main';
import { prng } from '../sandbox/files';
import { sandboxFileSyncPlan } from '../plans/file-sync';
import { writePlan } from '../plans/sandbox';
import { sandboxSigningKeys } from '../sandbox/people';

const MiB = 1024 * 1024;

/** The source tree. Any change here regenerates the cached copy. */
const TREE = {
  version: 1,
  seed: 0x5eed,
  small: { count: 20_000, perDir: 200, minBytes: 1024, maxBytes: 32 * 1024 },
  medium: { count: 200, bytes: 1 * MiB },
  large: { count: 20, bytes: 32 * MiB },
};

/** Source changes while the migration runs: after the initial copy, and at the gate before approval. */
const CHANGES = {
  afterCopy: { rewrite: 100, add: 20, remove: 0 },
  atGate: { rewrite: 20, add: 5, remove: 5 },
};

const DEFAULT_ROUNDS = 3;
/** The larger tree: this many copies of TREE side by side. */
const LARGE_FACTOR = 4;

type Progress = (line: string) => void;

interface TreeFile {
  rel: string;
  bytes: number;
}


function treeFiles(): TreeFile[] {
  const rand = prng(TREE.seed);
  const { small, medium, large } = TREE;
  const files: TreeFile[] = [];
  for (let i = 0; i < small.count; i++) {
    const dir = String(Math.floor(i / small.perDir)).padStart(3, '0');
    const bytes = small.minBytes + Math.floor(rand() * (small.maxBytes - small.minBytes + 1));
    files.push({ rel: `small/d${dir}/f${String(i).padStart(5, '0')}.bin`, bytes });
  }
  for (let i = 0; i < medium.count; i++) files.push({ rel: `medium/m${String(i).padStart(3, '0')}.bin`, bytes: medium.bytes });
  for (let i = 0; i < large.count; i++) files.push({ rel: `large/l${String(i).padStart(2, '0')}.bin`, bytes: large.bytes });
  return files;
}

function sh(command: string): string {
  const r = spawnSync('sh', ['-c', command], { encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.status !== 0) throw new Error(`\`${command}\` failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

function owner(user: string): { uid: number; gid: number } {
  return { uid: Number(sh(`id -u ${shq(user)}`)), gid: Number(sh(`id -g ${shq(user)}`)) };
}

/** A directory that cutover (running rsync on dc1 or dc2) may write into. */
function ownedDir(dir: string, o: { uid: number; gid: number }): string {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, o.uid, o.gid);
  return dir;
}

function writeRandom(file: string, bytes: number, buf: Buffer): void {
  const fd = openSync(file, 'w');
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(buf.length, bytes - done);
      randomFillSync(buf, 0, n);
      done += writeSync(fd, buf, 0, n);
    }
  } finally {
    closeSync(fd);
  }
}

interface Layout {
  root1: string; // dc1/bench/file-sync
  tree: string;
  treeMarker: string;
  /** LARGE_FACTOR hard-linked copies of tree, in x0 … x3. */
  largeTree: string;
  views: string;
  root2: string; // dc2/bench/file-sync
  lock: string;
}

function layout(sb: SandboxEndpoints): Layout {
  const root1 = path.join(sb.stateDir, 'dc1', 'bench', 'file-sync');
  return {
    root1,
    tree: path.join(root1, 'tree'),
    treeMarker: path.join(root1, 'tree.json'),
    largeTree: path.join(root1, `tree-x${LARGE_FACTOR}`),
    views: path.join(root1, 'views'),
    root2: path.join(sb.stateDir, 'dc2', 'bench', 'file-sync'),
    lock: path.join(sb.stateDir, 'bench', 'file-sync.lock'),
  };
}

/** The cached source tree: reused when its marker holds the same TREE, else (re)generated. */
function ensureTree(
  l: Layout,
  files: TreeFile[],
  o: { uid: number; gid: number },
  user: string,
  progress: Progress,
): { files: number; bytes: number; reused: boolean } {
  const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
  const spec = JSON.stringify(TREE);
  if (existsSync(l.treeMarker) && existsSync(l.tree)) {
    const marker = JSON.parse(readFileSync(l.treeMarker, 'utf8')) as { spec: string };
    if (marker.spec === spec) {
      progress(`source tree: reusing ${l.tree} (${files.length} files, ${(bytes / 1e9).toFixed(2)} GB)`);
      return { files: files.length, bytes, reused: true };
    }
    progress('source tree: cached tree has another spec, regenerating');
  }
  rmSync(l.treeMarker, { force: true });
  rmSync(l.tree, { recursive: true, force: true });
  progress(`source tree: writing ${files.length} files, ${(bytes / 1e9).toFixed(2)} GB of random data to ${l.tree}`);
  const buf = Buffer.alloc(4 * MiB);
  const made = new Set<string>();
  for (const [i, f] of files.entries()) {
    const file = path.join(l.tree, f.rel);
    const dir = path.dirname(file);
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    writeRandom(file, f.bytes, buf);
    if ((i + 1) % 5000 === 0) progress(`source tree: ${i + 1}/${files.length} files`);
  }
  sh(`chown -R ${shq(`${user}:`)} ${shq(l.root1)}`);
  // Written last: a half-written tree has no marker and is regenerated next time.
  writeFileSync(l.treeMarker, JSON.stringify({ spec, files: files.length, bytes, createdAt: new Date().toISOString() }, null, 2));
  chownSync(l.treeMarker, o.uid, o.gid);
  return { files: files.length, bytes, reused: false };
}

/** Files and bytes of a tree, to check that a copy is whole. */
function countTree(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) {
        files++;
        bytes += statSync(full).size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

/** The larger tree: LARGE_FACTOR hard-linked copies of the cached tree (rebuilt with it). */
function ensureLargeTree(l: Layout, reused: boolean, user: string, progress: Progress): string {
  const done = path.join(l.largeTree, '.complete');
  if (reused && existsSync(done)) return l.largeTree;
  rmSync(l.largeTree, { recursive: true, force: true });
  mkdirSync(l.largeTree, { recursive: true });
  for (let i = 0; i < LARGE_FACTOR; i++) sh(`cp -al ${shq(l.tree)} ${shq(path.join(l.largeTree, `x${i}`))}`);
  sh(`chown -R ${shq(`${user}:`)} ${shq(l.largeTree)}`);
  writeFileSync(done, '');
  progress(`larger tree: ${LARGE_FACTOR} hard-linked copies of the source tree in ${l.largeTree}`);
  return l.largeTree;
}

/** The same page-cache state before every timed run. */
function settleCache(tree: string, cold: boolean): void {
  sh('sync');
  if (cold) sh('echo 3 > /proc/sys/vm/drop_caches');
  else sh(`find ${shq(tree)} -type f -exec cat {} + > /dev/null`);
}

function sshHost(h: SandboxHost): SshHost {
  return sandboxSshHost({ hosts: { [h.name]: h } as SandboxEndpoints['hosts'] }, h.name);
}

// ---- raw rsync ----------------------------------------------------------------------------------------

/** Plain `rsync -a` the way cutover runs it: as cutover on dc1, pushing to dc2 over cutover's remote shell. */
async function rawRsync(sb: SandboxEndpoints, source: string, target: string, signal: AbortSignal): Promise<number> {
  const dc1 = sb.hosts.dc1;
  const dc2 = sshHost(sb.hosts.dc2);
  const remote = `rsync -a -e ${shq(rsyncRemoteShell(dc2))} ${shq(`${source}/`)} ${shq(`${dc2.user}@${dc2.address}:${target}/`)}`;
  const args = ['-p', String(dc1.sshPort), '-i', dc1.identityFile, '-o', `UserKnownHostsFile=${dc1.knownHostsFile}`];
  args.push('-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', `${dc1.user}@${dc1.address}`, remote);
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'], signal });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`raw rsync exited ${code}: ${stderr.trim()}`))));
  });
  return Math.round(performance.now() - started);
}

// ---- cutover ------------------------------------------------------------------------------------------

interface PassFigures {
  pass: string;
  ms: number;
  files: number;
  bytes: number;
  sentBytes: number;
}

interface CutoverFigures {
  workflowId: string;
  fullCopyMs: number;
  fullCopyActivityMs: number;
  finalSyncMs: number;
  /** Every file by checksum while live, before the gate (no downtime). */
  verifyLiveMs: number;
  fenceMs: number;
  /** In the freeze: the final sync's changed files by checksum, the whole tree by metadata. */
  verifyFrozenMs: number;
  switchMs: number;
  /** CPU this process (the in-process worker: ssh2 channel, progress parsing, heartbeats) used during the initial copy. */
  workerCpuMsDuringCopy: number;
  /** How long writers stay frozen: the freeze hook's start to the unfreeze hook's end (fence, final sync, verify, DNS switch inside). */
  frozenWindowMs: number;
  frozenWindowVsFinalSyncRatio: number;
  catchUpPasses: number;
  passes: PassFigures[];
  outcome: string;
}

/** Source changes a live writer would make: rewrites (new inode, so the cached tree behind the view stays as it is), additions, deletions. */
function changeSource(
  view: string,
  files: TreeFile[],
  o: { uid: number; gid: number },
  seed: number,
  n: { rewrite: number; add: number; remove: number },
  label: string,
): { rewritten: number; added: number; removed: number; bytes: number } {
  const rand = prng(seed);
  const smallCount = TREE.small.count;
  const picked = new Set<number>();
  const pick = () => {
    for (;;) {
      const i = Math.floor(rand() * smallCount);
      if (!picked.has(i)) {
        picked.add(i);
        return files[i];
      }
    }
  };
  const buf = Buffer.alloc(TREE.small.maxBytes);
  let bytes = 0;
  for (let i = 0; i < n.rewrite; i++) {
    const f = pick();
    const scratch = `${view}.scratch`;
    writeRandom(scratch, f.bytes, buf);
    chownSync(scratch, o.uid, o.gid);
    renameSync(scratch, path.join(view, f.rel));
    bytes += f.bytes;
  }
  const added = ownedDir(path.join(view, 'added'), o);
  for (let i = 0; i < n.add; i++) {
    const file = path.join(added, `${label}-${i}.bin`);
    writeRandom(file, 16 * 1024, buf);
    chownSync(file, o.uid, o.gid);
    bytes += 16 * 1024;
  }
  for (let i = 0; i < n.remove; i++) unlinkSync(path.join(view, pick().rel));
  return { rewritten: n.rewrite, added: n.add, removed: n.remove, bytes };
}

const stepMs = (s: MigrationStatus, name: string): number => {
  const st = s.steps.find((x) => x.name === name);
  if (!st?.endedAt) throw new Error(`step ${name} has no end in the final status`);
  return Date.parse(st.endedAt) - Date.parse(st.startedAt);
};

/** Every rsyncPass result in the run's history, in order. */
async function rsyncPasses(s: svc.Services, workflowId: string): Promise<PassFigures[]> {
  const history = await s.client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Set<string>();
  const passes: PassFigures[] = [];
  for (const e of history.events ?? []) {
    const sch = e.activityTaskScheduledEventAttributes;
    if (sch?.activityType?.name === 'rsyncPass') scheduled.add(String(e.eventId));
    const done = e.activityTaskCompletedEventAttributes;
    if (done && scheduled.has(String(done.scheduledEventId)) && done.result?.payloads?.[0]) {
      const r = defaultPayloadConverter.fromPayload<RsyncPassResult>(done.result.payloads[0]);
      passes.push({ pass: r.pass, ms: r.durationMs, files: r.filesTransferred, bytes: r.bytesTransferred, sentBytes: r.literalBytes });
    }
  }
  return passes;
}

async function cutoverRun(
  ctx: { sb: SandboxEndpoints; s: svc.Services; files: TreeFile[]; owner: { uid: number; gid: number }; progress: Progress; signal: AbortSignal },
  source: string,
  target: string,
  tag: string,
  seed: number,
): Promise<CutoverFigures> {
  const { sb, s, progress } = ctx;
  const dnsName = `bench-${tag}.${sb.dns.zone}`;
  const planFile = path.join(sb.stateDir, 'plans', `bench-${tag}.yaml`);
  let workflowId: string | undefined;
  try {
    setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
    const freezeFlag = `${source}.frozen`;
    writePlan(planFile, sandboxFileSyncPlan(sb, { name: `bench-${tag}`, sourceDir: source, targetDir: target, dnsName, freezeFlag, awaitWriter: false }));
    const started = await svc.startMigration(s, planFile, 'alice');
    workflowId = started.id;
    progress(`  cutover: alice started ${workflowId}`);
    let phase = '';
    let changedAfterCopy = false;
    let approved = false;
    let cpuAtCopy: NodeJS.CpuUsage | undefined;
    let workerCpuMsDuringCopy = NaN;
    for (;;) {
      ctx.signal.throwIfAborted();
      const { status, running } = await svc.getStatus(s, workflowId);
      if (status.phase !== phase) progress(`  cutover: ${(phase = status.phase)}`);
      if (!running) break;
      const copying = status.steps.some((st) => st.name === 'initial-copy' && st.state === 'running');
      const copied = status.steps.some((st) => st.name === 'initial-copy' && st.state === 'done');
      if (copying && !cpuAtCopy) cpuAtCopy = process.cpuUsage();
      if (copied && cpuAtCopy && Number.isNaN(workerCpuMsDuringCopy)) {
        const d = process.cpuUsage(cpuAtCopy);
        workerCpuMsDuringCopy = Math.round((d.user + d.system) / 1000);
      }
      if (copied && !changedAfterCopy) {
        const c = changeSource(source, ctx.files, ctx.owner, seed, CHANGES.afterCopy, 'after-copy');
        progress(`  cutover: source changed after the initial copy: ${c.rewritten} rewritten, ${c.added} added (${c.bytes} bytes)`);
        changedAfterCopy = true;
      }
      if (status.gate && !approved) {
        const c = changeSource(source, ctx.files, ctx.owner, seed + 1, CHANGES.atGate, 'at-gate');
        progress(`  cutover: source changed at the gate: ${c.rewritten} rewritten, ${c.added} added, ${c.removed} removed (${c.bytes} bytes)`);
        await svc.decide(s, workflowId, status.gate.name, 'go', 'bob', 'benchmark');
        progress(`  cutover: bob said go at gate ${status.gate.name}`);
        approved = true;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const final = await svc.waitForEnd(s, workflowId);
    if (final.outcome !== 'completed') {
      throw new Error(`migration ${workflowId} ended ${final.outcome}: ${final.failure}`);
    }
    const passes = await rsyncPasses(s, workflowId);
    const frozen = final.steps.find((st) => st.name === 'freeze')!;
    const unfrozen = final.steps.find((st) => st.name === 'unfreeze')!;
    const finalSyncMs = stepMs(final, 'final-sync');
    const frozenWindowMs = Date.parse(unfrozen.endedAt!) - Date.parse(frozen.startedAt);
    return {
      workflowId,
      fullCopyMs: stepMs(final, 'initial-copy'),
      fullCopyActivityMs: passes.find((p) => p.pass === 'initial')?.ms ?? NaN,
      finalSyncMs,
      verifyLiveMs: stepMs(final, 'verify-live'),
      fenceMs: stepMs(final, 'fence-source'),
      verifyFrozenMs: stepMs(final, 'verify-frozen'),
      switchMs: stepMs(final, 'switch-traffic'),
      workerCpuMsDuringCopy,
      frozenWindowMs,
      frozenWindowVsFinalSyncRatio: ratio(frozenWindowMs, finalSyncMs),
      catchUpPasses: final.steps.filter((st) => st.name.startsWith('catch-up-')).length,
      passes,
      outcome: final.outcome,
    };
  } finally {
    if (workflowId) {
      // A benchmark stopped half-way must not leave a migration waiting forever on a queue nobody polls.
      const h = s.client.workflow.getHandle(workflowId);
      try {
        if ((await h.describe()).status.name === 'RUNNING') await h.terminate('benchmark stopped');
      } catch (err) {
        progress(`  cutover: could not check or terminate ${workflowId}: ${(err as Error).message}`);
      }
    }
    rmSync(planFile, { force: true });
    try {
      setSandboxRecord(sb, dnsName, null);
    } catch (err) {
      progress(`  cutover: could not remove DNS name ${dnsName}: ${(err as Error).message}`);
    }
  }
}

// ---- the benchmark ------------------------------------------------------------------------------------

/** One run at a time: the runs share the machine's cores, disk and the leftovers directory. */
function takeLock(file: string): () => void {
  mkdirSync(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = pid > 0;
      } catch {
        /* gone */
      }
      if (alive) throw new UserError(`another file-sync benchmark is running (pid ${pid}, lock ${file})`);
      rmSync(file, { force: true });
    }
  }
}


async function run(options: BenchOptions): Promise<Record<string, unknown>> {
  const { progress, cold, signal } = options;
  const rounds = options.rounds ?? DEFAULT_ROUNDS;
  let sb: SandboxEndpoints;
  try {
    sb = loadSandbox();
    useSandboxWorkerEnv(sb); // the in-process worker's Temporal server and GCS emulator
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  if (process.getuid?.() !== 0) {
    throw new UserError('the file-sync benchmark needs root: it writes the source tree and its changes as user cutover (chown), like the sandbox does');
  }
  if (cold) {
    try {
      sh('sync; echo 3 > /proc/sys/vm/drop_caches');
    } catch {
      throw new UserError('--cold needs to write /proc/sys/vm/drop_caches (root, not in a container that forbids it); run without --cold to warm the cache instead');
    }
  }
  const l = layout(sb);
  const unlock = takeLock(l.lock);
  const s = await svc.connect({ signingKeys: sandboxSigningKeys(sb.stateDir) });
  const o = owner(sb.hosts.dc1.user);
  const runId = randomUUID().slice(0, 8);
  try {
    // Leftovers of an interrupted run (the lock says none is running): 1 GiB copies are worth removing.
    rmSync(l.root2, { recursive: true, force: true });
    rmSync(l.views, { recursive: true, force: true });
    ownedDir(path.dirname(l.root1), o);
    ownedDir(l.root1, o);
    ownedDir(path.dirname(l.root2), o);
    ownedDir(l.root2, o);
    ownedDir(l.views, o);
    const files = treeFiles();
    const tree = ensureTree(l, files, o, sb.hosts.dc1.user, progress);

    Runtime.install({ logger: new DefaultLogger('WARN') });
    const taskQueue = `bench-file-sync-${runId}`;
    progress(`starting a worker on task queue ${taskQueue} (bundles the workflows)`);
    const worker = await createWorker(taskQueue);
    const running = worker.run();
    const ctx = { sb, s: { ...s, taskQueue }, files, owner: o, progress, signal };
    const raws: number[] = [];
    const cutovers: CutoverFigures[] = [];
    let large: CutoverFigures | undefined;
    /** One cutover move from a hard-linked view of `tree` (its changes must not touch the cached tree). */
    const cutoverOn = async (tree: string, treeFiles: TreeFile[], target: string, tag: string, seed: number, label: string): Promise<CutoverFigures> => {
      const view = path.join(l.views, tag);
      sh(`cp -al ${shq(tree)} ${shq(view)}`);
      settleCache(tree, cold);
      progress(`${label}: cutover file-sync → ${target}`);
      try {
        const c = await cutoverRun({ ...ctx, files: treeFiles }, view, target, tag, seed);
        progress(
          `${label}: cutover initial copy ${(c.fullCopyMs / 1000).toFixed(1)} s, ${c.catchUpPasses} catch-up pass(es), ` +
            `verify while live ${(c.verifyLiveMs / 1000).toFixed(1)} s; frozen ${(c.frozenWindowMs / 1000).toFixed(2)} s: ` +
            `final sync ${(c.finalSyncMs / 1000).toFixed(2)} s, verify in the freeze ${(c.verifyFrozenMs / 1000).toFixed(2)} s`,
        );
        return c;
      } finally {
        for (const p of [view, fencedPath(view), `${view}.scratch`, `${view}.frozen`]) rmSync(p, { recursive: true, force: true });
      }
    };
    try {
      for (let round = 1; round <= rounds; round++) {
        // Alternate the order so neither side always runs on a machine the other has just worked.
        const order = round % 2 === 1 ? (['raw', 'cutover'] as const) : (['cutover', 'raw'] as const);
        for (const which of order) {
          signal.throwIfAborted();
          const target = path.join(l.root2, `${runId}-${which}-${round}`);
          if (which === 'raw') {
            settleCache(l.tree, cold);
            progress(`round ${round}/${rounds}: raw rsync -a → ${target}`);
            const ms = await rawRsync(sb, l.tree, target, signal);
            const copy = countTree(target);
            if (copy.files !== tree.files || copy.bytes !== tree.bytes) {
              throw new Error(`raw rsync copied ${copy.files} files, ${copy.bytes} bytes; the source has ${tree.files}, ${tree.bytes}`);
            }
            progress(`round ${round}/${rounds}: raw rsync ${(ms / 1000).toFixed(1)} s`);
            raws.push(ms);
          } else {
            const c = await cutoverOn(l.tree, files, target, `${runId}-${round}`, TREE.seed + round * 10, `round ${round}/${rounds}`);
            cutovers.push(c);
          }
          rmSync(target, { recursive: true, force: true });
        }
      }
      if (process.env.CUTOVER_BENCH_FILE_SYNC_LARGE !== '0') {
        const largeTree = ensureLargeTree(l, tree.reused, sb.hosts.dc1.user, progress);
        // The changes land in the first copy: the same work for catch-up and the final sync as on the small tree.
        const largeFiles = files.map((f) => ({ ...f, rel: `x0/${f.rel}` }));
        const target = path.join(l.root2, `${runId}-large`);
        try {
          large = await cutoverOn(largeTree, largeFiles, target, `${runId}-x${LARGE_FACTOR}`, TREE.seed + 7, `tree ×${LARGE_FACTOR}`);
        } finally {
          rmSync(target, { recursive: true, force: true });
        }
      }
    } finally {
      // Ctrl-C also reaches the Temporal runtime, which has already begun shutting the worker down.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    }

    const rawRsyncMs = medianRounded(raws);
    const fullCopyMs = medianRounded(cutovers.map((c) => c.fullCopyMs));
    const finalSyncMs = medianRounded(cutovers.map((c) => c.finalSyncMs));
    const med = (pick: (c: CutoverFigures) => number) => medianRounded(cutovers.map(pick));
    return {
      files: tree.files,
      bytes: tree.bytes,
      rounds,
      cache: cold ? 'dropped before each run' : 'source read before each run (warm)',
      rawRsyncMs,
      fullCopyMs,
      fullCopyActivityMs: medianRounded(cutovers.map((c) => c.fullCopyActivityMs)),
      fullCopyVsRsyncRatio: ratio(fullCopyMs, rawRsyncMs),
      finalSyncMs,
      finalSyncVsFullCopyRatio: ratio(finalSyncMs, fullCopyMs),
      verifyLiveMs: med((c) => c.verifyLiveMs),
      fenceMs: med((c) => c.fenceMs),
      verifyFrozenMs: med((c) => c.verifyFrozenMs),
      switchMs: med((c) => c.switchMs),
      workerCpuMsDuringCopy: med((c) => c.workerCpuMsDuringCopy),
      frozenWindowMs: med((c) => c.frozenWindowMs),
      // The median of the rounds' own ratios: each round's window against its own final sync.
      frozenWindowVsFinalSyncRatio: Number(median(cutovers.map((c) => c.frozenWindowVsFinalSyncRatio)).toFixed(3)),
      ...(large
        ? {
            large: {
              files: tree.files * LARGE_FACTOR,
              bytes: tree.bytes * LARGE_FACTOR,
              rounds: 1,
              fullCopyMs: large.fullCopyMs,
              verifyLiveMs: large.verifyLiveMs,
              finalSyncMs: large.finalSyncMs,
              fenceMs: large.fenceMs,
              verifyFrozenMs: large.verifyFrozenMs,
              switchMs: large.switchMs,
              frozenWindowMs: large.frozenWindowMs,
              frozenWindowVsFinalSyncRatio: large.frozenWindowVsFinalSyncRatio,
              workflowId: large.workflowId,
              passes: large.passes,
            },
          }
        : {}),
      catchUpPasses: Math.max(...cutovers.map((c) => c.catchUpPasses)),
      changes: CHANGES,
      outcome: cutovers.every((c) => c.outcome === 'completed') ? 'completed' : 'failed',
      perRound: cutovers.map((c, i) => ({ round: i + 1, rawRsyncMs: raws[i], ...c })),
      treeReused: tree.reused,
    };
  } finally {
    rmSync(l.root2, { recursive: true, force: true });
    rmSync(l.views, { recursive: true, force: true });
    await s.close();
    unlock();
  }
}

export const fileSyncBenchmark: Benchmark = {
  summary: 'cutover file-sync vs plain rsync on a ≥ 20,000-file, ≥ 1 GiB tree (and a 4× tree): full copy, catch-up, final sync, frozen window',
  run,
};
