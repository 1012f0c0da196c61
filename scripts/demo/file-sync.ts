// The demo's first move: the demo asset tree dc1 → dc2 with the sample file-sync plan, a live writer writing a
// small file every 100 ms into the tree that assets.sandbox.internal points at, frozen by the plan's hook.
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { formatReport } from '../cli/format';
import { startFileWriter } from '../workload/file-writer';
import { type Demo, driveMigration, type MoveResult, pause, pointDns, resolve, say } from './drive';
import { sandboxFileSyncPlan } from '../plans/file-sync';
import { writePlan } from '../plans/sandbox';
import { fencedPath } from '../../workflows/shared/fence';

export async function fileSyncDemo(d: Demo): Promise<MoveResult> {
  const { sb } = d;
  // The demo can run again and again: put the demo tree's DNS name back on dc1, the tree a completed move
  // fenced back at its path (the marker file removed), and empty the dc2 target.
  const dnsName = `assets.${sb.dns.zone}`;
  await pointDns(sb, dnsName, sb.hosts.dc1.address);
  const fenced = fencedPath(sb.files.sourceDir);
  if (existsSync(fenced)) {
    if (existsSync(sb.files.sourceDir) && !statSync(sb.files.sourceDir).isDirectory()) rmSync(sb.files.sourceDir);
    if (!existsSync(sb.files.sourceDir)) {
      renameSync(fenced, sb.files.sourceDir);
      say(`put ${sb.files.sourceDir} back from ${fenced} (the last demo's move fenced it)`);
    }
  }
  for (const e of readdirSync(sb.files.targetDir)) rmSync(path.join(sb.files.targetDir, e), { recursive: true, force: true });
  rmSync(path.join(sb.files.sourceDir, 'live'), { recursive: true, force: true });

  const freezeFlag = path.join(sb.stateDir, 'dc1', 'assets.frozen');
  rmSync(freezeFlag, { force: true });
  rmSync(`${freezeFlag}.ack`, { force: true });
  const planFile = writePlan(
    path.join(sb.stateDir, 'plans', 'file-sync-demo.yaml'),
    sandboxFileSyncPlan(sb, {
      name: `assets-${d.stamp}`,
      sourceDir: sb.files.sourceDir,
      targetDir: sb.files.targetDir,
      dnsName,
      freezeFlag,
      // Paced so there is time to open the Web UI and watch the copy (CUTOVER_DEMO_FAST=1: full speed).
      bandwidthLimitKBps: d.fast ? 0 : 400,
    }),
  );
  say(`plan: ${planFile}`);

  const writer = startFileWriter({
    dns: { server: sb.dns.server, port: sb.dns.port, name: dnsName },
    roots: { [sb.hosts.dc1.address]: sb.files.sourceDir, [sb.hosts.dc2.address]: sb.files.targetDir },
    freezeFlag,
    intervalMs: 100,
  });
  try {
    const { id, link, final } = await driveMigration(d, planFile, { cutover: 'demo: caught up' });
    // Give the writer a moment on the new side, so the report's DNS check shows live traffic on dc2.
    await pause(1000);
    await writer.stop();
    const dc2Writes = writer.written.filter((w) => w.address === sb.hosts.dc2.address).length;
    console.log('');
    console.log(formatReport(id, final));
    console.log('');
    say(
      `${dnsName} → ${(await resolve(sb, dnsName)).join(', ')}; the live writer made ${writer.written.length - dc2Writes} writes on dc1 before the ` +
        `freeze and ${dc2Writes} on dc2 after the switch; dc1's tree is fenced at ${fenced} (a late write there fails: ${writer.failed.length} did)`,
    );
    say(`outcome: ${final.outcome}. Web UI: ${link}`);
    return { id, outcome: final.outcome, ok: final.outcome === 'completed' };
  } finally {
    await writer.stop();
  }
}
