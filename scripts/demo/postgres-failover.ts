// The demo's second move: the sandbox's own PostgreSQL primary (dc1, 127.0.1.1:5432, .state/dc1/pg) to dc2
// (127.0.2.1:5432, .state/dc2/pg) with the postgres-failover plan, while a live writer commits a row every 20 ms
// through pg.sandbox.internal. bob says go at both gates: `cutover` (the standby has caught up) and `complete`
// (dc2 took writes through the soak). Then every commit the writer saw acknowledged is looked up on the new primary.
//
// A completed move leaves dc2 the primary and dc1 a stopped, retired standby of it, so this part starts by
// putting the pair back as the sandbox made it, when it is not. Alone, before a walk-through by hand:
//   npx tsx scripts/demo/postgres-failover.ts reset
import { sandboxPgSsl } from '../sandbox/tls';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { formatReport } from '../cli/format';
import { loadSandbox, type SandboxEndpoints } from '../sandbox/endpoints';
import { layout } from '../sandbox/layout';
import { recreatePostgresPair } from '../sandbox/postgres';
import { startPgWriter } from '../workload/pg-writer';
import { type Demo, driveMigration, type MoveResult, pause, pointDns, resolve, say } from './drive';
import { sandboxPostgresFailoverPlan } from '../plans/postgres-failover';
import { writePlan } from '../plans/sandbox';

/** The live writer's table: the columns startPgWriter inserts into. */
const TABLE = 'writes';

/** SQL as the superuser on one server, by address (not through the DNS name). */
async function sql<R extends object>(sb: SandboxEndpoints, address: string, query: string): Promise<R[]> {
  const pg = sb.postgres;
  const password = readFileSync(pg.primary.superuserPasswordFile, 'utf8').trim();
  const c = new Client({ host: address, port: pg.primary.port, database: pg.primary.database, user: pg.primary.superuser, password, ssl: sandboxPgSsl(sb.stateDir), connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<R>(query)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** What an earlier move changed in the pair as the sandbox makes it; empty when there is nothing to reset. */
async function leftByEarlierMoves(sb: SandboxEndpoints, dnsName: string): Promise<string[]> {
  const found: string[] = [];
  if (existsSync(sb.postgres.standby.dataDir)) found.push(`dc2 has a data dir (${sb.postgres.standby.dataDir})`);
  const dns = await resolve(sb, dnsName);
  if (!(dns.length === 1 && dns[0] === sb.hosts.dc1.address)) found.push(`${dnsName} → ${dns.join(', ') || 'nothing'}`);
  try {
    const [dc1] = await sql<{ standby: boolean; read_only: string; sync_names: string; slots: number }>(
      sb,
      sb.hosts.dc1.address,
      `select pg_is_in_recovery() as standby, current_setting('default_transaction_read_only') as read_only,
              current_setting('synchronous_standby_names') as sync_names, (select count(*)::int from pg_replication_slots) as slots`,
    );
    if (dc1.standby) found.push('dc1 is a standby');
    if (dc1.read_only === 'on') found.push('dc1 is read-only (fenced)');
    if (dc1.sync_names) found.push(`dc1 waits for a synchronous standby (${dc1.sync_names})`);
    if (dc1.slots) found.push(`dc1 holds ${dc1.slots} replication slot(s)`);
  } catch (err) {
    found.push(`dc1 takes no logins (${(err as Error).message})`);
  }
  return found;
}

/** The pair as the sandbox makes it, if an earlier move changed it: dc2 gone, dc1 a fresh primary, the name on dc1. */
async function putPairBack(sb: SandboxEndpoints, dnsName: string): Promise<void> {
  const found = await leftByEarlierMoves(sb, dnsName);
  if (!found.length) return;
  say(`an earlier move changed the sandbox's PostgreSQL pair: ${found.join('; ')}`);
  say('resetting it: dc2 stopped and its data dir removed, dc1 a fresh primary, the name back on dc1');
  for (const line of await recreatePostgresPair(layout(sb.stateDir))) console.log(`  ${line}`);
  if (await pointDns(sb, dnsName, sb.hosts.dc1.address)) console.log(`  ${dnsName} → ${sb.hosts.dc1.address}`);
}

export async function postgresFailoverDemo(d: Demo): Promise<MoveResult> {
  const { sb } = d;
  const dc1 = sb.hosts.dc1.address;
  const dc2 = sb.hosts.dc2.address;
  const dnsName = `pg.${sb.dns.zone}`;

  await putPairBack(sb, dnsName);
  await sql(sb, dc1, `drop table if exists ${TABLE}; create table ${TABLE} (id bigserial primary key, seq bigint not null, at timestamptz not null default clock_timestamp())`);

  const planFile = writePlan(
    path.join(sb.stateDir, 'plans', 'postgres-failover-demo.yaml'),
    // As scripts/plans/write-sandbox-plan.ts writes it for the README's walk-through; a shorter soak.
    sandboxPostgresFailoverPlan(sb, { name: `pg-${d.stamp}`, dnsName, soak: d.fast ? '2s' : '10s' }),
  );
  say(`plan: ${planFile}`);

  const writer = startPgWriter({
    dns: { server: sb.dns.server, port: sb.dns.port, name: dnsName },
    port: sb.postgres.primary.port,
    database: sb.postgres.primary.database,
    user: sb.postgres.primary.superuser,
    password: readFileSync(sb.postgres.primary.superuserPasswordFile, 'utf8').trim(),
    table: TABLE,
    intervalMs: 20,
    ssl: sandboxPgSsl(sb.stateDir),
  });
  say(`a live writer commits a row every 20 ms through ${dnsName}`);
  try {
    const { id, link, final } = await driveMigration(d, planFile, { cutover: 'demo: caught up', complete: 'demo: soak clean' });
    // A second of commits on the new primary, so the count shows writes after the switch.
    await pause(1000);
    await writer.stop();
    console.log('');
    console.log(formatReport(id, final));
    console.log('');

    // Count on the primary clients use now: every commit the writer saw acknowledged must be a row there.
    const [primary = 'nothing'] = await resolve(sb, dnsName);
    const where = primary === dc2 ? 'dc2' : primary === dc1 ? 'dc1' : primary;
    const rows = await sql<{ id: string }>(sb, primary, `select id from ${TABLE}`).catch((err: Error) => {
      say(`could not read the rows on ${where}: ${err.message}`);
      return [];
    });
    const present = new Set(rows.map((r) => Number(r.id)));
    const lost = writer.acks.filter((a) => !present.has(a.id)).length;
    const onDc1 = writer.acks.filter((a) => a.address === dc1).length;
    const onDc2 = writer.acks.filter((a) => a.address === dc2).length;
    const split = final.outcome === 'completed' ? `${onDc1} on dc1 before the fence, ${onDc2} on dc2 after the switch` : `${onDc1} on dc1, ${onDc2} on dc2`;
    const kept = lost === 0 ? `every acknowledged commit is on ${where} (0 lost)` : `${lost} acknowledged commits are missing on ${where} (${lost} lost)`;
    say(`${dnsName} → ${primary}; the live writer made ${writer.acks.length} commits: ${split}; ${kept}`);
    const gap = writer.longestGapMs();
    const readOnlyAt = Date.parse(String(final.figures.readOnlyAt));
    const overFence = gap.after !== null && gap.before !== null && gap.after.ackAt <= readOnlyAt && readOnlyAt <= gap.before.ackAt;
    say(
      `its longest wait for a commit: ${(gap.ms / 1000).toFixed(1)} s${overFence ? ' (the fence, promotion and DNS switch)' : ''}; ` +
        `${writer.failures.length} attempts failed (read-only, shutting down, refused: not acknowledged, so not counted)`,
    );
    say(`outcome: ${final.outcome}. Web UI: ${link}`);
    return {
      id,
      outcome: final.outcome,
      ok: final.outcome === 'completed' && writer.acks.length > 0 && lost === 0,
      afterwards:
        final.outcome === 'completed'
          ? 'PostgreSQL now runs on dc2 (127.0.2.1:5432); dc1, the old primary, streamed from it during the soak and is now a ' +
            'stopped, retired standby (sandbox:status shows it as such; sandbox:up leaves it stopped). The next `npm run demo` puts the pair back'
          : undefined,
    };
  } finally {
    await writer.stop();
  }
}

if (require.main === module) {
  if (process.argv[2] !== 'reset') {
    console.error('usage: tsx scripts/demo/postgres-failover.ts reset');
    process.exit(2);
  }
  const sb = loadSandbox();
  putPairBack(sb, `pg.${sb.dns.zone}`).then(
    () => say(`the sandbox's PostgreSQL pair is as the sandbox made it: primary dc1, pg.${sb.dns.zone} → ${sb.hosts.dc1.address}`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
