// The demo's HDFS move: a small local dataset (a few dozen text files) dual-written to the sandbox's two clusters
// (dc1 127.0.1.1 → dc2 127.0.2.1) with the sample hdfs-dual-write plan made short: one refresh, one clean
// WordCount run on both clusters (the old cluster's run twice first, for the noise baseline), a clean period of
// one cycle, then bob says go at `cutover` (freeze, final refresh, parity, hdfs.sandbox.internal → dc2) and at
// `complete`. Then the files are read back from both clusters and compared with the source.
//
// A completed move leaves the name on dc2: this part points it back at dc1 first. Each run uses its own paths.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WebHdfsClient } from '../../activities/hdfs/webhdfs';
import { formatReport } from '../cli/format';
import { sandboxHdfsDualWritePlan } from '../plans/hdfs-dual-write';
import { writePlan } from '../plans/sandbox';
import { hdfsEndpoints, layout } from '../sandbox/layout';
import { type Demo, driveMigration, type MoveResult, pointDns, resolve, say } from './drive';

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];

/** A few dozen small text files: WordCount has something to count. */
function writeDataset(dir: string, files: number): void {
  rmSync(dir, { recursive: true, force: true });
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `day=${i % 3}`);
    mkdirSync(sub, { recursive: true });
    const lines = Array.from({ length: 50 }, (_, j) => Array.from({ length: 8 }, (_, k) => WORDS[(i * 31 + j * 7 + k * 3) % WORDS.length]).join(' '));
    writeFileSync(path.join(sub, `part-${String(i).padStart(3, '0')}.txt`), `${lines.join('\n')}\n`);
  }
}

export async function hdfsDualWriteDemo(d: Demo): Promise<MoveResult> {
  const { sb } = d;
  const hdfs = sb.hdfs ?? hdfsEndpoints(layout(sb.stateDir));
  const dnsName = `hdfs.${sb.dns.zone}`;
  if (await pointDns(sb, dnsName, hdfs.clusters.dc1.nameNode)) say(`an earlier move left ${dnsName} on dc2: pointed it back at dc1`);
  const source = path.join(sb.stateDir, 'demo', 'hdfs-events');
  writeDataset(source, 30);
  const hdfsPath = `/demo/hdfs-${d.stamp}/events`;
  const planFile = writePlan(
    path.join(sb.stateDir, 'plans', 'hdfs-dual-write-demo.yaml'),
    sandboxHdfsDualWritePlan(sb, {
      name: `hdfs-${d.stamp}`,
      dnsName,
      datasets: [{ name: 'events', local: source, path: hdfsPath }],
      wordCount: ['events'],
      outputRoot: `/demo/hdfs-${d.stamp}/shadow`,
      cleanCycles: 1,
      // A cycle that is not clean runs again soon (the sample plan's 24 h is for real data).
      every: '15s',
      soak: '0s',
    }),
  );
  say(`plan: ${planFile}`);
  say(`events: 30 files from ${source} to dc1 and dc2 at ${hdfsPath}; WordCount runs on both and is compared`);
  const { id, link, final } = await driveMigration(d, planFile, { cutover: 'demo: one clean cycle', complete: 'demo: dc2 serves' });
  console.log('');
  console.log(formatReport(id, final));
  console.log('');
  // What a user would check: every file on both clusters, byte for byte as the source.
  const files = readdirSync(source, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  let same = 0;
  for (const f of files) {
    const rel = path.relative(source, path.join(f.parentPath, f.name));
    const want = readFileSync(path.join(source, rel));
    const got = await Promise.all(
      (['dc1', 'dc2'] as const).map((dc) => new WebHdfsClient({ name: dc, url: hdfs.clusters[dc].webhdfsUrl, user: hdfs.user }).readFile(`${hdfsPath}/${rel}`)),
    );
    if (got.every((g) => g.equals(want))) same++;
  }
  const [now = 'nothing'] = await resolve(sb, dnsName);
  say(`${dnsName} → ${now}; ${same} of ${files.length} files identical to the source on both clusters`);
  say(`outcome: ${final.outcome}. Web UI: ${link}`);
  return {
    id,
    outcome: final.outcome,
    ok: final.outcome === 'completed' && same === files.length && now === hdfs.clusters.dc2.nameNode,
    afterwards: final.outcome === 'completed' ? `${dnsName} now points at dc2; the next \`npm run demo\` points it back at dc1` : undefined,
  };
}
