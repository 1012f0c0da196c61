// `npm run demo`: the whole thing on a fresh machine. Starts the sandbox (installing what is missing), a
// worker, a live writer, then moves the demo asset tree from dc1 to dc2 with the sample file-sync plan:
// alice starts it, bob (the demo approver) says go at the gate, and the final report is printed.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { lookupA } from '../activities/dns';
import { createWorker } from '../workers/main';
import { formatReport, formatStatus } from './cli/format';
import { UserError } from './cli/errors';
import * as svc from './cli/services';
import { sandboxFileSyncPlan, writePlan } from './plans/sandbox';
import { loadSandbox } from './sandbox/endpoints';
import { startFileWriter } from './workload/file-writer';

const say = (s: string) => console.log(`\x1b[1m▶ ${s}\x1b[0m`);

async function main(): Promise<void> {
  say('starting the sandbox (first run installs servers; later runs take seconds)');
  const up = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'sandbox', 'main.ts'), 'up'], { stdio: 'inherit' });
  if (up.status !== 0) throw new Error('sandbox:up failed (see above)');
  const sb = loadSandbox();

  // The demo can run again and again: put the demo tree's DNS name back on dc1 and empty the dc2 target.
  const dnsName = `assets.${sb.dns.zone}`;
  const current = await lookupA({ server: sb.dns.server, port: sb.dns.port, name: dnsName });
  if (current[0] !== sb.hosts.dc1.address) {
    spawnSync('nsupdate', ['-k', sb.dns.tsigKeyFile], {
      input: `server ${sb.dns.server} ${sb.dns.port}\nzone ${sb.dns.zone}\nupdate delete ${dnsName}. A\nupdate add ${dnsName}. 1 A ${sb.hosts.dc1.address}\nsend\n`,
    });
  }
  for (const e of readdirSync(sb.files.targetDir)) rmSync(path.join(sb.files.targetDir, e), { recursive: true, force: true });
  rmSync(path.join(sb.files.sourceDir, 'live'), { recursive: true, force: true });

  const fast = process.env.CUTOVER_DEMO_FAST === '1';
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const freezeFlag = path.join(sb.stateDir, 'dc1', 'assets.frozen');
  rmSync(freezeFlag, { force: true });
  rmSync(`${freezeFlag}.ack`, { force: true });
  const planFile = writePlan(
    path.join(sb.stateDir, 'plans', 'file-sync-demo.yaml'),
    sandboxFileSyncPlan(sb, {
      name: `assets-${stamp}`,
      sourceDir: sb.files.sourceDir,
      targetDir: sb.files.targetDir,
      dnsName,
      freezeFlag,
      // Paced so there is time to open the Web UI and watch the copy (CUTOVER_DEMO_FAST=1: full speed).
      bandwidthLimitKBps: fast ? 0 : 400,
    }),
  );
  say(`plan: ${planFile}`);

  say('starting a worker on task queue "cutover"');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const worker = await createWorker();
  const running = worker.run();
  const writer = startFileWriter({
    dns: { server: sb.dns.server, port: sb.dns.port, name: dnsName },
    roots: { [sb.hosts.dc1.address]: sb.files.sourceDir, [sb.hosts.dc2.address]: sb.files.targetDir },
    freezeFlag,
    intervalMs: 100,
  });
  const s = await svc.connect();
  try {
    const { id, link } = await svc.startMigration(s, planFile, 'alice');
    say(`alice started ${id}`);
    say(`watch it in the Temporal Web UI: ${link}`);
    let phase = '';
    for (;;) {
      const { status, running: isRunning } = await svc.getStatus(s, id);
      if (status.phase !== phase) console.log(`  ${new Date().toISOString()}  ${(phase = status.phase)}`);
      if (!isRunning) break;
      if (status.gate) {
        console.log(formatStatus(id, status));
        if (!fast) {
          say('bob reviews the evidence for 10 s (look at the gate in the Web UI)…');
          await new Promise((r) => setTimeout(r, 10_000));
        }
        say(`bob approves: cutover approve ${id} --gate ${status.gate.name} --as bob --reason "demo: caught up"`);
        await svc.decide(s, id, status.gate.name, 'go', 'bob', 'demo: caught up');
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const final = await svc.waitForEnd(s, id);
    // Give the writer a moment on the new side, so the report's DNS check shows live traffic on dc2.
    await new Promise((r) => setTimeout(r, 1000));
    await writer.stop();
    const dc2Writes = writer.written.filter((w) => w.address === sb.hosts.dc2.address).length;
    console.log('');
    console.log(formatReport(id, final));
    console.log('');
    say(`${dnsName} → ${(await lookupA({ server: sb.dns.server, port: sb.dns.port, name: dnsName })).join(', ')}; the live writer made ${writer.written.length - dc2Writes} writes on dc1 before the freeze and ${dc2Writes} on dc2 after the switch`);
    say(`outcome: ${final.outcome}. Web UI: ${link}`);
    say('the sandbox keeps running for you to explore (`npm run cutover -- status ' + id + '`); stop it with `npm run sandbox:down`');
    if (final.outcome !== 'completed') process.exitCode = 1;
  } finally {
    await writer.stop();
    await s.close();
    worker.shutdown();
    await running;
  }
}

main().catch((err) => {
  console.error(err instanceof UserError ? `demo: ${err.message}` : err);
  process.exit(1);
});
