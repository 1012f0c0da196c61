// postgres-failover benchmark: what a client sees during cutover's PostgreSQL move, and what the base backup costs
// next to plain pg_basebackup between the same hosts.
//
// Each round makes a fresh primary in dc1 (its own port and DNS name, a `filler` table of FILLER_MB), then:
//   raw      plain pg_basebackup as cutover on this machine (dc2 in the sandbox), same login, into a scratch dir;
//   moves    one real postgres-failover migration per promotion variant (in-process worker, own task queue and
//            workflow id, a writer committing through the DNS name all along, gates approved at once, 1 s soak,
//            go at `complete`), each on a fresh primary:
//              trigger-file   promote_trigger_file, wal_retrieve_retry_interval = 100ms (cutover's default)
//              pg_promote     SELECT pg_promote() instead of the trigger file
//              trigger-file-5s  the trigger file with PostgreSQL's default 5 s retry interval
// Client-observed write outage = the longest gap between two acknowledged commits; every acknowledged commit
// is checked on the new primary (`lostCommits` must be 0). Figures are medians over the rounds.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createWorker } from '../../workers/main';
import type { MigrationStatus } from '../../workflows/shared';
import * as svc from '../cli/services';
import type { SandboxPostgresFailoverOptions } from '../plans/sandbox';
import { tryRun } from '../sandbox/process';
import { createPgCluster, type PgCluster } from '../workload/pg-cluster';
import { startPgWriter } from '../workload/pg-writer';
import type { Benchmark, BenchOptions } from './main';

/** Filler per primary in MiB (CUTOVER_BENCH_PG_FILLER_MB overrides, for quick trials). */
const FILLER_MB = Number(process.env.CUTOVER_BENCH_PG_FILLER_MB ?? 100);
const VARIANTS: Record<string, Pick<SandboxPostgresFailoverOptions, 'promote' | 'walRetrieveRetryInterval'>> = {
  'trigger-file': { promote: 'trigger-file', walRetrieveRetryInterval: '100ms' },
  pg_promote: { promote: 'pg_promote', walRetrieveRetryInterval: '100ms' },
  'trigger-file-5s': { promote: 'trigger-file', walRetrieveRetryInterval: '5s' },
};
type Variant = 'trigger-file' | 'pg_promote' | 'trigger-file-5s';

interface MoveFigures {
  variant: Variant;
  workflowId: string;
  outcome: string | null;
  baseBackupMs: number;
  baseBackupBytes: number;
  writeOutageMs: number;
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2)) : 0;
};

function checkAbort(signal: AbortSignal): void {
  if (signal.aborted) throw Object.assign(new Error('interrupted'), { name: 'AbortError' });
}

/** Plain pg_basebackup as cutover (same flags cutover uses, minus the slot and progress), timed, then removed. */
function rawBaseBackup(c: PgCluster): { ms: number; bytes: number } {
  const dir = `${c.standbyDir}.raw-${randomUUID().slice(0, 6)}`;
  const bin = path.join(c.sb.postgres.binDir, 'pg_basebackup');
  const started = Date.now();
  const r = tryRun(
    'sh',
    ['-c', `IFS= read -r PGPASSWORD; export PGPASSWORD; exec ${bin} -h ${c.sb.hosts.dc1.address} -p ${c.port} -U ${c.sb.postgres.replication.user} -D ${dir} -X stream -c fast -w`],
    { asUser: true, input: `${c.replicationPassword}\n`, timeoutMs: 600_000 },
  );
  const ms = Date.now() - started;
  const du = tryRun('du', ['-sb', dir], { asUser: true });
  tryRun('rm', ['-rf', dir], { asUser: true });
  if (r.code !== 0) throw new Error(`raw pg_basebackup failed: ${r.stderr.trim()}`);
  return { ms, bytes: Number(du.stdout.split('\t')[0]) };
}

async function move(s: svc.Services, c: PgCluster, variant: Variant, o: BenchOptions): Promise<MoveFigures> {
  const planFile = c.writePlan(`-${variant}`, { ...VARIANTS[variant], soak: '1s', stableFor: '2s' });
  const writer = startPgWriter({
    dns: { server: c.sb.dns.server, port: c.sb.dns.port, name: c.dnsName },
    port: c.port,
    database: c.sb.postgres.primary.database,
    user: 'postgres',
    password: c.superuserPassword,
    table: 'writes',
  });
  let final: MigrationStatus;
  let id = '';
  try {
    ({ id } = await svc.startMigration(s, planFile, 'alice'));
    for (;;) {
      checkAbort(o.signal);
      const { status, running } = await svc.getStatus(s, id);
      if (!running) break;
      if (status.gate) await svc.decide(s, id, status.gate.name, 'go', 'bob', 'benchmark');
      await new Promise((r) => setTimeout(r, 100));
    }
    final = await svc.waitForEnd(s, id);
    // A second of writes on the new primary, so the outage has an end.
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    await writer.stop();
  }
  const rows = await c.sql<{ id: string }>('dc2', 'select id from writes').catch(() => [] as { id: string }[]);
  const present = new Set(rows.map((r) => Number(r.id)));
  const first = writer.acks[0]?.ackAt ?? 0;
  const last = writer.acks.at(-1)?.ackAt ?? 0;
  const f = final.figures;
  return {
    variant,
    workflowId: id,
    outcome: final.outcome,
    baseBackupMs: Number(f.baseBackupMs),
    baseBackupBytes: Number(f.baseBackupBytes),
    writeOutageMs: writer.longestGapMs().ms,
    promoteMs: Number(f.promoteMs),
    fenceToWritableMs: Number(f.fenceToWritableMs),
    dnsConfirmMs: Number(f.dnsConfirmMs),
    fenceTimings: String(f.fenceTimings),
    writableToFirstCommitMs: (writer.acks.find((a) => a.address === c.sb.hosts.dc2.address)?.ackAt ?? NaN) - Date.parse(String(f.promotedAt)),
    acknowledged: writer.acks.length,
    lostCommits: writer.acks.filter((a) => !present.has(a.id)).length,
    commitsPerSec: Math.round(writer.acks.length / Math.max(0.001, (last - first) / 1000)),
  };
}

export const postgresFailoverBenchmark: Benchmark = {
  summary: 'PostgreSQL move: client write outage and promote time per promotion method; base backup vs pg_basebackup',
  async run(o) {
    const rounds = o.rounds ?? 3;
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const taskQueue = `bench-pg-${randomUUID().slice(0, 8)}`;
    const worker = await createWorker(taskQueue);
    const running = worker.run();
    const s = { ...(await svc.connect()), taskQueue };
    const raw: { ms: number; bytes: number }[] = [];
    const moves: MoveFigures[] = [];
    try {
      for (let round = 1; round <= rounds; round++) {
        for (const variant of Object.keys(VARIANTS) as Variant[]) {
          checkAbort(o.signal);
          const c = await createPgCluster({ prefix: 'bench-pg', fillerMB: FILLER_MB });
          try {
            if (variant === 'trigger-file') {
              raw.push(rawBaseBackup(c));
              o.progress(`round ${round}: raw pg_basebackup ${raw.at(-1)!.bytes} bytes in ${raw.at(-1)!.ms} ms`);
            }
            const m = await move(s, c, variant, o);
            moves.push(m);
            o.progress(
              `round ${round} ${variant}: ${m.outcome}, outage ${m.writeOutageMs} ms, promote ${m.promoteMs} ms, ` +
                `fence→writable ${m.fenceToWritableMs} ms (${m.fenceTimings}), writable→first commit ${m.writableToFirstCommitMs} ms, base backup ${m.baseBackupMs} ms, ${m.acknowledged} commits, ${m.lostCommits} lost`,
            );
          } finally {
            c.cleanup();
          }
        }
      }
    } finally {
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
          writeOutageMs: median(by(v).map((m) => m.writeOutageMs)),
          promoteMs: median(by(v).map((m) => m.promoteMs)),
          fenceToWritableMs: median(by(v).map((m) => m.fenceToWritableMs)),
          commitsPerSec: median(by(v).map((m) => m.commitsPerSec)),
          lostCommits: by(v).reduce((n, m) => n + m.lostCommits, 0),
        },
      ]),
    );
    const baseBackupMs = median(moves.map((m) => m.baseBackupMs));
    const rawMs = median(raw.map((r) => r.ms));
    return {
      rounds,
      fillerMB: FILLER_MB,
      primaryBytes: median(raw.map((r) => r.bytes)),
      rawPgBasebackupMs: rawMs,
      baseBackupMs,
      baseBackupVsRawRatio: Number((baseBackupMs / Math.max(1, rawMs)).toFixed(3)),
      // The benchmark contract's names: throughput ratio = cutover's bytes/s over the direct command's.
      databaseBytes: median(raw.map((r) => r.bytes)),
      basebackupThroughputRatio: Number((rawMs / Math.max(1, baseBackupMs)).toFixed(3)),
      outageMsTriggerFile: perVariant['trigger-file']?.writeOutageMs ?? null,
      outageMsPromote: perVariant['pg_promote']?.writeOutageMs ?? null,
      variants: perVariant,
      lostCommits: moves.reduce((n, m) => n + m.lostCommits, 0),
      outcomes: [...new Set(moves.map((m) => m.outcome))],
      perMove: moves,
    };
  },
};
