// The sandbox: every real server a data move talks to, on loopback addresses of this machine.
//
//   up [--quiet]       install what is missing, start what is down, verify, write <state>/sandbox.json
//   status [--json]    health of every component (exit 0 all healthy, 3 otherwise)
//   down [--purge]     stop everything; --purge (or `reset`) also deletes the state dir and the unix user
//
// Exit codes: 0 ok, 1 a component failed (the message names it and its log) or a bug, 2 usage error,
// 3 `status` found something down. CUTOVER_STATE_DIR overrides the state dir (default <repo>/.state).
import { ensureSecretStore } from './secrets';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Component, Context, Health } from './component';
import { dns, currentRecords } from './dns';
import { defaultStateDir, type SandboxEndpoints } from './endpoints';
import { files } from './files';
import { gcs } from './gcs';
import { hdfs } from './hdfs';
import { addressHealth, ensureAddress, ensureStateTree, ensureUser, removeAddress, removeUser } from './host';
import { ensureHadoop, ensurePackages, ensureTools, findTools } from './install';
import { endpoints, type Layout, layout, USER } from './layout';
import { postgres } from './postgres';
import { isAlive, readPid, SandboxError, stopPid, strayPids, tailFile, tryRun, userIds, withLock } from './process';
import { redis } from './redis';
import { ensureKeys, sshd, sshLogins } from './ssh';
import { temporal } from './temporal';
import { sandboxSigningKeys } from './people';

const WIDTH = 16;

function line(mark: string, name: string, detail: string, note?: string): void {
  console.log(`${mark} ${name.padEnd(WIDTH)} ${detail}${note ? ` (${note})` : ''}`);
}

/** The services in start order; `down` stops them in reverse. */
function components(ctx: Context): Component[] {
  return [
    temporal(ctx),
    sshd(ctx, 'dc1'),
    sshd(ctx, 'dc2'),
    sshLogins(ctx),
    files(ctx),
    postgres(ctx, 'dc1'),
    postgres(ctx, 'dc2'),
    redis(ctx, 'dc1'),
    redis(ctx, 'dc2'),
    hdfs(ctx, 'dc1'),
    hdfs(ctx, 'dc2'),
    gcs(ctx),
    dns(ctx),
  ];
}

async function up(l: Layout): Promise<void> {
  const started = Date.now();
  const step = async (name: string, fn: () => Promise<{ detail: string; note: string }>) => {
    const r = await fn();
    line('✓', name, r.detail, r.note);
  };

  await step('packages', async () => ({ detail: 'apt', note: await ensurePackages(l.installLog) }));
  const { tools, note: toolsNote } = await ensureTools(l.installLog, (msg) => console.log(msg));
  line('✓', 'tools', `${tools.temporal}, ${tools.fakeGcsServer}`, toolsNote);
  await step('hadoop', async () => ({ detail: l.hadoop.classpath, note: await ensureHadoop(l, l.installLog, (msg) => console.log(msg)) }));
  await step('user', async () => ({ detail: USER, note: ensureUser() }));
  const opened = ensureStateTree(l);
  line('✓', 'state', l.stateDir, opened.length ? `granted o+x on ${opened.join(', ')}` : 'ready');
  await step('network', async () => ({ detail: '127.0.3.1 on lo', note: ensureAddress(l) }));

  const ctx: Context = { l, tools };
  for (const c of components(ctx)) {
    if (c.name === 'sshd-dc1') {
      ensureKeys(l);
      line('✓', 'ssh-keys', l.ssh.knownHosts, 'both hosts pinned');
      const keys = sandboxSigningKeys(l.stateDir);
      line('✓', 'people', Object.keys(keys).join(', '), `signing keys under ${path.dirname(path.dirname(Object.values(keys)[0]))}`);
    }
    const r = await c.up();
    line('✓', c.name, r.detail, r.note);
  }

  // The worker's secret store, from what the components made (keys, CA): workers get it as CUTOVER_SECRETS_DIR.
  await step('secrets', async () => ensureSecretStore(l));

  const sandbox = endpoints(l, currentRecords());
  writeFileSync(`${l.sandboxJson}.tmp`, `${JSON.stringify(sandbox, null, 2)}\n`);
  renameSync(`${l.sandboxJson}.tmp`, l.sandboxJson);
  console.log(`sandbox up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${l.sandboxJson}`);
  console.log(`Temporal Web UI: ${sandbox.temporal.uiUrl}`);
}

async function healthMap(l: Layout): Promise<Record<string, Health>> {
  const ctx: Context = { l, tools: findTools() };
  const health: Record<string, Health> = { network: addressHealth() };
  for (const c of components(ctx)) {
    try {
      health[c.name] = await c.health();
    } catch (err) {
      health[c.name] = { ok: false, detail: (err as Error).message, log: c.log };
    }
  }
  return health;
}

function currentEndpoints(l: Layout, dnsOk: boolean): SandboxEndpoints {
  return endpoints(l, dnsOk ? currentRecords() : undefined);
}

async function status(l: Layout, json: boolean): Promise<number> {
  const health = await healthMap(l);
  const healthy = Object.values(health).every((h) => h.ok);
  if (json) {
    const out = { healthy, sandboxFile: existsSync(l.sandboxJson) ? l.sandboxJson : null, health, endpoints: currentEndpoints(l, health.dns?.ok ?? false) };
    console.log(JSON.stringify(out, null, 2));
  } else {
    const rows = Object.entries(health).map(([name, h]) => [name, h.ok ? 'ok' : 'DOWN', h.detail, h.pid ? String(h.pid) : '', h.log ?? '']);
    const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), ['component', 'state', 'detail', 'pid'][i].length));
    const fmt = (r: string[]) => r.map((c, i) => (i < 4 ? c.padEnd(widths[i]) : c)).join('  ').trimEnd();
    console.log(fmt(['component', 'state', 'detail', 'pid', 'log']));
    for (const r of rows) console.log(fmt(r));
    console.log(healthy ? `all healthy; state dir ${l.stateDir}` : 'not all healthy: `npm run sandbox:up` repairs what is down');
  }
  return healthy ? 0 : 3;
}

async function down(l: Layout, purge: boolean): Promise<boolean> {
  const ctx: Context = { l, tools: findTools() };
  let clean = true;
  const sshdPids = [l.dc1.sshdPid, l.dc2.sshdPid].map(readPid).filter((p): p is number => isAlive(p, 'sshd'));
  for (const c of components(ctx).reverse()) {
    // Before the sshd listeners go: their sessions' processes are found as their descendants.
    if (c.name === 'sshd-dc2') await sweepStrays(l, sshdPids);
    if (!c.down) continue;
    try {
      const stopped = await c.down();
      line(stopped ? '✓' : '-', c.name, stopped ? 'stopped' : 'not running');
    } catch (err) {
      clean = false;
      line('✗', c.name, `could not stop: ${(err as Error).message}`);
    }
  }
  const removed = removeAddress(l);
  line(removed ? '✓' : '-', 'network', removed ? 'removed 127.0.3.1 from lo' : '127.0.3.1 was not added by the sandbox');
  rmSync(l.sandboxJson, { force: true });
  if (purge) {
    rmSync(l.stateDir, { recursive: true, force: true });
    line('✓', 'state', `deleted ${l.stateDir}`);
    const user = removeUser();
    if (user) line(user.startsWith('kept') ? '-' : '✓', 'user', user);
  }
  return clean;
}

/**
 * What else the sandbox user runs for this sandbox was started through it (a standby outside dc2/pg, an rsync
 * of an interrupted move, a command over SSH): stop it too, by pid.
 */
async function sweepStrays(l: Layout, sshdPids: number[]): Promise<void> {
  if (tryRun('id', ['-u', USER]).code !== 0) return;
  const strays = strayPids(userIds().uid, l.stateDir, sshdPids);
  await Promise.all(strays.map((pid) => stopPid(pid, '', 5_000)));
  if (strays.length) line('✓', 'strays', `stopped ${strays.length} leftover ${USER} process(es): ${strays.join(' ')}`);
}

function usage(): never {
  console.error('usage: tsx scripts/sandbox/main.ts up | status [--json] | down [--purge] | reset');
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  const l = layout(path.resolve(defaultStateDir()));
  switch (command) {
    case 'up':
      await withLock(l, () => up(l));
      return 0;
    case 'status':
      if (flags.some((f) => f !== '--json')) usage();
      return status(l, flags.includes('--json'));
    case 'down':
    case 'reset':
      if (flags.some((f) => f !== '--purge')) usage();
      return (await withLock(l, () => down(l, command === 'reset' || flags.includes('--purge')))) ? 0 : 1;
    default:
      return usage();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof SandboxError) {
      console.error(`✗ ${err.component.padEnd(WIDTH)} ${err.message}`);
      if (err.logFile) {
        console.error(`  log: ${err.logFile}`);
        const tail = tailFile(err.logFile);
        if (tail) console.error(tail.replace(/^/gm, '  | '));
      }
    } else {
      console.error(err);
    }
    process.exit(1);
  },
);
