// postgres-failover benchmark: what a client sees during cutover's PostgreSQL move, and what the base backup costs
// next to plain pg_basebackup between the same hosts.
//
// A template primary with a `filler` table of FILLER_MB is built once; each move gets a fresh clone of it in dc1
// (its own port and DNS name) with a writer committing through the DNS name from the start. Per round and
// promotion variant, on that fresh primary:
//   raw      plain pg_basebackup as cutover on this machine (dc2 in the sandbox), same login, into a scratch
//            dir, while the writer commits (as during cutover's own base backup);
//   move     one real postgres-failover migration (in-process worker, own task queue and workflow id, the
//            writer committing through the DNS name all along, gates approved at once, 1 s soak, go at
//            `complete`). The variants:
//              trigger-file   promote_trigger_file, wal_retrieve_retry_interval = 100ms (cutover's default)
//              pg_promote     SELECT pg_promote() instead of the trigger file
//              trigger-file-5s  the trigger file with PostgreSQL's default 5 s retry interval
// And per round, each on a fresh clone of its own:
//   reverse      the default plan's move with a no-go at `complete`: dc1 streams from dc2 during the soak, so the
//                way back is only the switch back (synchronous commit, fence dc2, promote dc1, DNS back), timed
//                as the writer sees it: last commit on dc2 → first on dc1 (`reverseOutageMs`);
//   by hand      the same switch as a careful human does it, without cutover: a standby built with pg_basebackup
//                and streaming, then a clean stop of the primary (`pg_ctl stop -m fast`), `pg_ctl promote` of
//                the standby, `nsupdate` of the name, one after the other (`handDoneOutageMs`).
// Client-observed write outage = from the last commit acknowledged by the old primary to the first acknowledged
// by the new one, both through the DNS name; every acknowledged commit is checked on the new primary
// (`lostCommits` must be 0). Figures are medians over the rounds. `outageVsHandDoneRatio` = cutover's forward
// outage (the default plan) / the hand-done one: below 1.0, cutover beats a careful human.
import { sandboxPgSsl } from '../sandbox/tls';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createWorker } from '../../workers/main';
import type { MigrationStatus } from '../../workflows/shared';
import * as svc from '../cli/services';
import { loadSandbox, useSandboxWorkerEnv } from '../sandbox/endpoints';
import { tryRun, tryRunAsync } from '../sandbox/process';
import { createPgCluster, createPgTemplate, type PgCluster } from '../workload/pg-cluster';
import { startPgWriter, type PgWriter } from '../workload/pg-writer';
import type { Benchmark, BenchOptions } from './main';
import { median, medianRounded, ratio } from './stats';
import { type SandboxPostgresFailoverOptions } from '../plans/postgres-failover';
import { sandboxSigningKeys } from '../sandbox/people';

/**
 * Filler per primary, roughly MiB: 2200 makes a database of about 2.2 GiB, above the 2 GiB the comparison is
 * asked for (CUTOVER_BENCH_PG_FILLER_MB overrides, for quick trials). Built once into a template and cloned
 * for each move.
 */
const FILLER_MB = Number(process.env.CUTOVER_BENCH_PG_FILLER_MB ?? 2200);
const VARIANTS: Record<string, Pick<SandboxPostgresFailoverOptions, 'promote' | 'walRetrieveRetryInterval'>> = {
  'trigger-file': { promote: 'trigger-file', walRetrieveRetryInterval: '100ms' },
  pg_promote: { promote: 'pg_promote', walRetrieveRetryInterval: '100ms' },
  'trigger-file-5s': { promote: 'trigger-file', walRetrieveRetryInterval: '5s' },
};
type Variant = 'trigger-file' | 'pg_promote' | 'trigger-file-5s';

interface ReverseFigures {
  workflowId: string;
  outcome: string | null;
  /** The forward switch of this move (dc1 → dc2), as the writer saw it. */
  writeOutageMs: number;
  /** The switch back at `complete` no-go: last commit on dc2 → first on dc1. */
  reverseOutageMs: number;
  reversePromoteMs: number;
  reverseFenceToWritableMs: number;
  reverseFenceTimings: string;
  /** The way back's steps, to show it skipped rejoin and catch-up. */
  wayBackSteps: string[];
  acknowledged: number;
  lostCommits: number;
}

interface HandDoneFigures {
  /** Last commit on dc1 → first on dc2, through the name, as for cutover. */
  writeOutageMs: number;
  /** The three commands, each as timed from here: stop, promote, nsupdate. */
  stopMs: number;
  promoteMs: number;
  nsupdateMs: number;
  acknowledged: number;
  lostCommits: number;
}

interface MoveFigures {
  variant: Variant;
  workflowId: string;
  outcome: string | null;
  baseBackupMs: number;
  baseBackupBytes: number;
  /** The write outage: from the last commit acknowledged by the old primary to the first by the new one. */
  writeOutageMs: number;
  /** The longest gap between two commits anywhere in the run (I/O stalls during the copy show here). */
  longestGapMs: number;
  promoteMs: number;
  fenceToWritableMs: number;
  dnsConfirmMs: number;
  fenceTimings: string;
  /** From the new primary taking writes to the writer's first commit there (DNS switch + reconnect). */
  writableToFirstCommitMs: number;
  acknowledged: number;
  lostCommits: number;
  commitsPerSec: number;
}

function checkAbort(signal: AbortSignal): void {
  if (signal.aborted) throw Object.assign(new Error('interrupted'), { name: 'AbortError' });
}

/**
 * Plain pg_basebackup as cutover (same flags cutover uses, minus the slot and progress), timed, then removed:
 * from the primary `from` (dc1 before the move, dc2 after it) into a scratch dir on the other host. Runs
 * without blocking the event loop, so the writer keeps committing meanwhile; the password comes from a
 * passfile, as in cutover's own run.
 */
async function rawBaseBackup(c: PgCluster, from: 'dc1' | 'dc2'): Promise<{ ms: number; bytes: number }> {
  const dir = `${from === 'dc1' ? c.standbyDir : c.primaryDir}.raw-${randomUUID().slice(0, 6)}`;
  const passfile = `${dir}.pgpass`;
  const bin = path.join(c.sb.postgres.binDir, 'pg_basebackup');
  const user = c.sb.postgres.replication.user;
  const address = c.sb.hosts[from].address;
  tryRun('sh', ['-c', `umask 077 && cat > ${passfile}`], { asUser: true, input: `${address}:${c.port}:*:${user}:${c.replicationPassword}\n` });
  try {
    const started = Date.now();
    const r = await tryRunAsync(
      'sh',
      ['-c', `PGPASSFILE=${passfile} exec ${bin} -h ${address} -p ${c.port} -U ${user} -D ${dir} -X stream -c fast -w`],
      { asUser: true, timeoutMs: 30 * 60_000 },
    );
    const ms = Date.now() - started;
    if (r.code !== 0) throw new Error(`raw pg_basebackup failed: ${r.stderr.trim()}`);
    const du = tryRun('du', ['-sb', dir], { asUser: true });
    return { ms, bytes: Number(du.stdout.split('\t')[0]) };
  } finally {
    tryRun('rm', ['-rf', dir, passfile], { asUser: true });
  }
}

/** A primary's files read into the page cache, everything dirty written back. */
async function settle(dataDir: string): Promise<void> {
  await tryRunAsync('sh', ['-c', `find ${dataDir} -type f -exec cat {} + > /dev/null; sync`], { timeoutMs: 10 * 60_000 });
}

const writerFor = (c: PgCluster): PgWriter =>
  startPgWriter({
    dns: { server: c.sb.dns.server, port: c.sb.dns.port, name: c.dnsName },
    port: c.port,
    database: c.sb.postgres.primary.database,
    user: 'postgres',
    password: c.superuserPassword,
    table: 'writes',
    // TLS as cutover's own connections; the handshake is on a reconnect, after the switch, like any client's.
    ssl: sandboxPgSsl(c.sb.stateDir),
  });

/** Drives a run to its end: go at every gate, or no-go at `complete` (the way back). */
async function drive(s: svc.Services, planFile: string, o: BenchOptions, atComplete: 'go' | 'no-go' = 'go'): Promise<{ id: string; final: MigrationStatus }> {
  const { id } = await svc.startMigration(s, planFile, 'alice');
  for (;;) {
    checkAbort(o.signal);
    const { status, running } = await svc.getStatus(s, id);
    if (!running) break;
    if (status.gate?.name === 'cutover') {
      // A person approves minutes after catch-up, not milliseconds: by then the kernel has written the fresh
      // standby copy (GiBs of dirty pages) to disk. Without this, that writeback stalls every fsync in the
      // switchover and the figure measures the page cache, not the move.
      await tryRunAsync('sync', []);
    }
    if (status.gate?.name === 'complete' && atComplete === 'no-go') {
      // The old primary has streamed from the new one all along; two seconds of writes on dc2 first.
      await new Promise((r) => setTimeout(r, 2000));
      await svc.decide(s, id, 'complete', 'no-go', 'bob', 'benchmark: the switch back');
    } else if (status.gate) await svc.decide(s, id, status.gate.name, 'go', 'bob', 'benchmark');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { id, final: await svc.waitForEnd(s, id) };
}

/** Acknowledged commits the writer saw that `where` does not hold. */
async function lost(c: PgCluster, where: 'dc1' | 'dc2', writer: PgWriter): Promise<number> {
  const rows = await c.sql<{ id: string }>(where, 'select id from writes').catch(() => [] as { id: string }[]);
  const present = new Set(rows.map((r) => Number(r.id)));
  return writer.acks.filter((a) => !present.has(a.id)).length;
}

/** A switch's outage as the writer saw it: last commit on `from` before the first on `to` (after `since`). */
function outageBetween(c: PgCluster, writer: PgWriter, from: 'dc1' | 'dc2', to: 'dc1' | 'dc2', since = 0): number {
  const acks = writer.acks.filter((a) => a.ackAt > since);
  const first = acks.find((a) => a.address === c.sb.hosts[to].address);
  if (!first) return NaN;
  const last = acks.filter((a) => a.address === c.sb.hosts[from].address && a.ackAt <= first.ackAt).at(-1);
  return last ? first.ackAt - last.ackAt : NaN;
}

/** The default plan's move with a no-go at `complete`: forward, soak with reverse replication, switch back. */
async function reverseMove(s: svc.Services, c: PgCluster, writer: PgWriter, o: BenchOptions): Promise<ReverseFigures> {
  const planFile = c.writePlan('-reverse', { ...VARIANTS['trigger-file'], soak: '1s', stableFor: '2s' });
  let run: { id: string; final: MigrationStatus };
  try {
    run = await drive(s, planFile, o, 'no-go');
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    await writer.stop();
  }
  const f = run.final.figures;
  const forwardOutage = outageBetween(c, writer, 'dc1', 'dc2');
  const lastOnDc2 = writer.acks.filter((a) => a.address === c.sb.hosts.dc2.address).at(-1)?.ackAt ?? 0;
  return {
    workflowId: run.id,
    outcome: run.final.outcome,
    writeOutageMs: forwardOutage,
    reverseOutageMs: outageBetween(c, writer, 'dc2', 'dc1', lastOnDc2 - 1),
    reversePromoteMs: Number(f.reversePromoteMs),
    reverseFenceToWritableMs: Number(f.reverseFenceToWritableMs),
    reverseFenceTimings: String(f.reverseFenceTimings),
    wayBackSteps: run.final.steps.map((st) => st.name).filter((n) => n.startsWith('reverse-')),
    acknowledged: writer.acks.length,
    lostCommits: await lost(c, 'dc1', writer),
  };
}

/**
 * The same switch by hand, as a careful human runs it on this machine with the same writer: a standby from
 * pg_basebackup (-R, a passfile), streaming and caught up; then, one after the other, a clean stop of the
 * primary (its walsender hands the standby everything, shutdown checkpoint included), `pg_ctl promote -w` of the
 * standby, and `nsupdate` of the name. No cutover, no Temporal.
 */
async function handDone(c: PgCluster, writer: PgWriter): Promise<HandDoneFigures> {
  const bin = (tool: string) => path.join(c.sb.postgres.binDir, tool);
  const user = c.sb.postgres.replication.user;
  const dc1 = c.sb.hosts.dc1.address;
  const passfile = `${c.standbyDir}.pgpass`;
  const asUser = { asUser: true, timeoutMs: 30 * 60_000 };
  const must = async (what: string, p: Promise<{ code: number; stderr: string; stdout: string }>) => {
    const r = await p;
    if (r.code !== 0) throw new Error(`by hand: ${what} failed: ${(r.stderr || r.stdout).trim()}`);
  };
  tryRun('sh', ['-c', `umask 077 && cat > ${passfile}`], { asUser: true, input: `${dc1}:${c.port}:*:${user}:${c.replicationPassword}\n` });
  const nsupdateScript = path.join(c.sb.stateDir, 'scratch', `nsupdate-${c.id}.txt`);
  try {
    await settle(c.primaryDir);
    await must('pg_basebackup', tryRunAsync('sh', ['-c', `PGPASSFILE=${passfile} exec ${bin('pg_basebackup')} -h ${dc1} -p ${c.port} -U ${user} -D ${c.standbyDir} -X stream -c fast -w -R`], asUser));
    appendFileSync(
      path.join(c.standbyDir, 'postgresql.auto.conf'),
      `primary_conninfo = 'host=${dc1} port=${c.port} user=${user} passfile=${passfile} application_name=by_hand'\n`,
    );
    await must('pg_ctl start', tryRunAsync(bin('pg_ctl'), ['start', '-D', c.standbyDir, '-l', `${c.standbyDir}.log`, '-w', '-t', '120'], asUser));
    for (let i = 0; ; i++) {
      const [r] = await c.sql<{ lag: string | null }>('dc1', "select (pg_current_wal_lsn() - replay_lsn)::text as lag from pg_stat_replication where application_name = 'by_hand' and state = 'streaming'");
      if (r && Number(r.lag) < 1024 * 1024) break;
      if (i > 1200) throw new Error('by hand: the standby did not catch up within 2 min');
      await new Promise((res) => setTimeout(res, 100));
    }
    // As before cutover's gate: the copy's dirty pages written back, then a couple of seconds of writes.
    await tryRunAsync('sync', []);
    await new Promise((r) => setTimeout(r, 2000));
    mkdirSync(path.dirname(nsupdateScript), { recursive: true });
    writeFileSync(
      nsupdateScript,
      [`server ${c.sb.dns.server} ${c.sb.dns.port}`, `zone ${c.sb.dns.zone}`, `update delete ${c.dnsName}. A`, `update add ${c.dnsName}. 1 A ${c.sb.hosts.dc2.address}`, 'send', ''].join('\n'),
    );
    const t0 = Date.now();
    await must('pg_ctl stop', tryRunAsync(bin('pg_ctl'), ['stop', '-D', c.primaryDir, '-m', 'fast', '-w', '-t', '120'], asUser));
    const t1 = Date.now();
    await must('pg_ctl promote', tryRunAsync(bin('pg_ctl'), ['promote', '-D', c.standbyDir, '-w', '-t', '120'], asUser));
    const t2 = Date.now();
    await must('nsupdate', tryRunAsync('nsupdate', ['-k', c.sb.dns.tsigKeyFile, nsupdateScript]));
    const t3 = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    await writer.stop();
    return {
      writeOutageMs: outageBetween(c, writer, 'dc1', 'dc2'),
      stopMs: t1 - t0,
      promoteMs: t2 - t1,
      nsupdateMs: t3 - t2,
      acknowledged: writer.acks.length,
      lostCommits: await lost(c, 'dc2', writer),
    };
  } finally {
    await writer.stop();
    rmSync(nsupdateScript, { force: true });
  }
}

/** One move; `afterwards` runs on the new primary while the writer still commits there. */
async function move(s: svc.Services, c: PgCluster, writer: PgWriter, variant: Variant, o: BenchOptions, afterwards?: () => Promise<void>): Promise<MoveFigures> {
  const planFile = c.writePlan(`-${variant}`, { ...VARIANTS[variant], soak: '1s', stableFor: '2s' });
  let final: MigrationStatus;
  let id = '';
  try {
    ({ id, final } = await drive(s, planFile, o));
    // A second of writes on the new primary, so the outage has an end.
    await new Promise((r) => setTimeout(r, 1000));
    await afterwards?.();
  } finally {
    await writer.stop();
  }
  const rows = await c.sql<{ id: string }>('dc2', 'select id from writes').catch(() => [] as { id: string }[]);
  const present = new Set(rows.map((r) => Number(r.id)));
  const first = writer.acks[0]?.ackAt ?? 0;
  const last = writer.acks.at(-1)?.ackAt ?? 0;
  const f = final.figures;
  // The write outage's two ends, both as the writer saw them through the DNS name.
  const lastOnOld = writer.acks.filter((a) => a.address === c.sb.hosts.dc1.address).at(-1)?.ackAt ?? NaN;
  const firstOnNew = writer.acks.find((a) => a.address === c.sb.hosts.dc2.address)?.ackAt ?? NaN;
  return {
    variant,
    workflowId: id,
    outcome: final.outcome,
    baseBackupMs: Number(f.baseBackupMs),
    baseBackupBytes: Number(f.baseBackupBytes),
    writeOutageMs: firstOnNew - lastOnOld,
    longestGapMs: writer.longestGapMs().ms,
    promoteMs: Number(f.promoteMs),
    fenceToWritableMs: Number(f.fenceToWritableMs),
    dnsConfirmMs: Number(f.dnsConfirmMs),
    fenceTimings: String(f.fenceTimings),
    writableToFirstCommitMs: firstOnNew - Date.parse(String(f.promotedAt)),
    acknowledged: writer.acks.length,
    lostCommits: writer.acks.filter((a) => !present.has(a.id)).length,
    commitsPerSec: Math.round(writer.acks.length / Math.max(0.001, (last - first) / 1000)),
  };
}

export const postgresFailoverBenchmark: Benchmark = {
  summary: 'PostgreSQL move: client write outage per promotion method, the switch back, the same switch by hand; base backup vs pg_basebackup',
  async run(o) {
    const rounds = o.rounds ?? 3;
    useSandboxWorkerEnv(loadSandbox()); // the in-process worker's Temporal server and GCS emulator
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const taskQueue = `bench-pg-${randomUUID().slice(0, 8)}`;
    const worker = await createWorker(taskQueue);
    const running = worker.run();
    const s = { ...(await svc.connect({ signingKeys: sandboxSigningKeys(loadSandbox().stateDir) })), taskQueue };
    const raw: { ms: number; bytes: number; position: 'first' | 'second' }[] = [];
    const moves: (MoveFigures & { position: 'first' | 'second' })[] = [];
    const reverses: ReverseFigures[] = [];
    const byHand: HandDoneFigures[] = [];
    let pairs = 0;
    const pairRatios: number[] = [];
    o.progress(`building a template primary with ${FILLER_MB} MiB of filler (once)`);
    const templateStarted = Date.now();
    const template = await createPgTemplate({ prefix: 'bench-pg-template', fillerMB: FILLER_MB });
    o.progress(`template ready in ${((Date.now() - templateStarted) / 1000).toFixed(1)} s`);
    try {
      for (let round = 1; round <= rounds; round++) {
        for (const variant of Object.keys(VARIANTS) as Variant[]) {
          checkAbort(o.signal);
          const c = await createPgCluster({ prefix: 'bench-pg', template });
          const writer = writerFor(c);
          try {
            // Each copy starts with its source's files in the page cache and nothing dirty, so neither pays for
            // the clone's writeback. Which copy goes first alternates (plain before cutover's from dc1, or after
            // it from the new primary dc2): on this machine the second copy of a pair is the faster one.
            const rawFirst = pairs++ % 2 === 0;
            const plain = async (from: 'dc1' | 'dc2') => {
              await settle(from === 'dc1' ? c.primaryDir : c.standbyDir);
              raw.push({ ...(await rawBaseBackup(c, from)), position: rawFirst ? 'first' : 'second' });
              o.progress(`round ${round} ${variant}: plain pg_basebackup from ${from} ${raw.at(-1)!.bytes} bytes in ${raw.at(-1)!.ms} ms (writer committing)`);
            };
            if (rawFirst) await plain('dc1');
            await settle(c.primaryDir);
            const m = { ...(await move(s, c, writer, variant, o, rawFirst ? undefined : () => plain('dc2'))), position: (rawFirst ? 'second' : 'first') as 'first' | 'second' };
            moves.push(m);
            // The pair shares its cluster, its minute and its disk weather: its ratio is the robust figure.
            pairRatios.push(ratio(raw.at(-1)!.ms, m.baseBackupMs));
            o.progress(
              `round ${round} ${variant}: ${m.outcome}, outage ${m.writeOutageMs} ms, promote ${m.promoteMs} ms, ` +
                `fence→writable ${m.fenceToWritableMs} ms (${m.fenceTimings}), writable→first commit ${m.writableToFirstCommitMs} ms, base backup ${m.baseBackupMs} ms, ${m.acknowledged} commits, ${m.lostCommits} lost`,
            );
          } finally {
            await writer.stop();
            c.cleanup();
          }
        }
        // The switch back, and the same switch by hand, each on a fresh clone with the same writer.
        for (const kind of ['reverse', 'by hand'] as const) {
          checkAbort(o.signal);
          const c = await createPgCluster({ prefix: 'bench-pg', template });
          const writer = writerFor(c);
          try {
            if (kind === 'reverse') {
              await settle(c.primaryDir);
              const r = await reverseMove(s, c, writer, o);
              reverses.push(r);
              o.progress(
                `round ${round} reverse: ${r.outcome}, forward outage ${r.writeOutageMs} ms, switch back outage ${r.reverseOutageMs} ms ` +
                  `(promote ${r.reversePromoteMs} ms, fence→writable ${r.reverseFenceToWritableMs} ms, ${r.reverseFenceTimings}; steps ${r.wayBackSteps.join(' ')}), ` +
                  `${r.acknowledged} commits, ${r.lostCommits} lost`,
              );
            } else {
              const h = await handDone(c, writer);
              byHand.push(h);
              o.progress(
                `round ${round} by hand: outage ${h.writeOutageMs} ms (stop ${h.stopMs} ms, promote ${h.promoteMs} ms, nsupdate ${h.nsupdateMs} ms), ` +
                  `${h.acknowledged} commits, ${h.lostCommits} lost`,
              );
            }
          } finally {
            await writer.stop();
            c.cleanup();
          }
        }
      }
    } finally {
      template.cleanup();
      worker.shutdown();
      await running.catch(() => undefined);
      await s.close();
    }
    const by = (v: Variant) => moves.filter((m) => m.variant === v);
    const perVariant = Object.fromEntries(
      (Object.keys(VARIANTS) as Variant[]).map((v) => [
        v,
        {
          ...VARIANTS[v],
          writeOutageMs: medianRounded(by(v).map((m) => m.writeOutageMs)),
          promoteMs: medianRounded(by(v).map((m) => m.promoteMs)),
          fenceToWritableMs: medianRounded(by(v).map((m) => m.fenceToWritableMs)),
          commitsPerSec: medianRounded(by(v).map((m) => m.commitsPerSec)),
          lostCommits: by(v).reduce((n, m) => n + m.lostCommits, 0),
        },
      ]),
    );
    const baseBackupMs = medianRounded(moves.map((m) => m.baseBackupMs));
    const forwardOutage = medianRounded([...by('trigger-file').map((m) => m.writeOutageMs), ...reverses.map((r) => r.writeOutageMs)]);
    const rawMs = medianRounded(raw.map((r) => r.ms));
    return {
      rounds,
      fillerMB: FILLER_MB,
      rawPgBasebackupMs: rawMs,
      baseBackupMs,
      // The order effect, for the record: the same ratio when cutover's copy went first, and when it went second.
      basebackupThroughputRatioByPosition: Object.fromEntries(
        (['first', 'second'] as const).map((p) => {
          const rawOther = medianRounded(raw.filter((r) => r.position !== p).map((r) => r.ms));
          const ours = medianRounded(moves.filter((m) => m.position === p).map((m) => m.baseBackupMs));
          return [`cutover${p === 'first' ? 'First' : 'Second'}`, ratio(rawOther, ours)];
        }),
      ),
      // The benchmark contract's names. Throughput ratio = cutover's bytes/s over the direct command's, taken
      // per pair (same cluster, back to back) and the median reported: the disk's speed swings between pairs.
      databaseBytes: medianRounded(raw.map((r) => r.bytes)),
      basebackupThroughputRatio: Number(median(pairRatios).toFixed(3)),
      basebackupPairRatios: pairRatios,
      basebackupRatioOfMedians: ratio(rawMs, baseBackupMs),
      outageMsTriggerFile: perVariant['trigger-file']?.writeOutageMs ?? null,
      outageMsPromote: perVariant['pg_promote']?.writeOutageMs ?? null,
      // The way back during the soak is live: the switch back is an outage like the forward one.
      reverseOutageMs: medianRounded(reverses.map((r) => r.reverseOutageMs)),
      // The same switch by hand (clean stop, pg_ctl promote, nsupdate), and cutover's forward outage (the
      // default plan: trigger file, and the reverse moves' forward switches, which run the same plan) against it.
      handDoneOutageMs: medianRounded(byHand.map((h) => h.writeOutageMs)),
      forwardOutageMs: forwardOutage,
      outageVsHandDoneRatio: ratio(forwardOutage, medianRounded(byHand.map((h) => h.writeOutageMs))),
      // The same with `promote: pg_promote` (it wakes the standby at once; the trigger file waits for its next look).
      outageVsHandDoneRatioPgPromote: ratio(perVariant['pg_promote']?.writeOutageMs ?? NaN, medianRounded(byHand.map((h) => h.writeOutageMs))),
      variants: perVariant,
      lostCommits: [...moves, ...reverses, ...byHand].reduce((n, m) => n + m.lostCommits, 0),
      outcomes: [...new Set([...moves, ...reverses].map((m) => m.outcome))],
      perMove: moves,
      perReverse: reverses,
      perHandDone: byHand,
    };
  },
};
