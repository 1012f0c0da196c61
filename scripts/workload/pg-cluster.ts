// Throwaway PostgreSQL clusters on the sandbox's hosts, for tests and benchmarks: a fresh small primary in dc1 on
// a port of its own (so a run may fence, stop and reverse it freely, and the sandbox's own primary stays for the
// demo), its standby target in dc2 on the same port, a DNS name of its own, plan files. Everything runs as the
// sandbox's user.
import { PG_HBA_TLS, PG_TLS_INCLUDE, sandboxPgSsl } from '../sandbox/tls';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { loadSandbox, setSandboxRecord, type SandboxEndpoints } from '../sandbox/endpoints';
import { tryRun } from '../sandbox/process';
import { sandboxPostgresFailoverPlan, type SandboxPostgresFailoverOptions } from '../plans/postgres-failover';
import { writePlan } from '../plans/sandbox';

export interface PgCluster {
  sb: SandboxEndpoints;
  id: string;
  name: string;
  port: number;
  primaryDir: string;
  standbyDir: string;
  dnsName: string;
  planFile: string;
  superuserPassword: string;
  replicationPassword: string;
  /** Another plan for the same clusters (bad-input variants). */
  writePlan(suffix: string, overrides: Partial<SandboxPostgresFailoverOptions>, edit?: (plan: Record<string, unknown>) => void): string;
  /** SQL as the superuser on dc1 or dc2 (this fixture's port). */
  sql<R extends Record<string, unknown> = Record<string, unknown>>(where: 'dc1' | 'dc2', query: string, params?: unknown[]): Promise<R[]>;
  /** pg_ctl as the sandbox user against one of the two data directories. */
  pgCtl(where: 'dc1' | 'dc2', ...args: string[]): { code: number; stdout: string; stderr: string };
  cleanup(): void;
}

const asUser = { asUser: true, timeoutMs: 120_000 };


async function portFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, address, () => s.close(() => resolve(true)));
  });
}

/** A port free on both dc1 and dc2 addresses (clients follow the DNS name, so the port is the same on both). */
async function freePort(sb: SandboxEndpoints): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 15432 + Math.floor(Math.random() * 2000);
    if ((await portFree(sb.hosts.dc1.address, port)) && (await portFree(sb.hosts.dc2.address, port))) return port;
  }
  throw new Error('no free port for a throwaway cluster');
}

export interface PgClusterOptions {
  walLevel?: 'replica' | 'minimal';
  /** Extra data in a table `filler`, roughly this many MiB. */
  fillerMB?: number;
  /** Name prefix (default e2e-pg): the cluster, its DNS name and its plan are <prefix>-<id>. */
  prefix?: string;
  plan?: Partial<SandboxPostgresFailoverOptions>;
  /** Clone the primary from this template (see createPgTemplate) instead of building it; fillerMB is ignored. */
  template?: PgTemplate;
}

/** A stopped primary to clone clusters from: a large filler is built once, not once per cluster. */
export interface PgTemplate {
  dir: string;
  fillerMB: number;
  cleanup(): void;
}

export async function createPgTemplate(o: { fillerMB: number; prefix?: string }): Promise<PgTemplate> {
  const c = await createPgCluster({ prefix: o.prefix ?? 'pg-template', fillerMB: o.fillerMB });
  const stop = c.pgCtl('dc1', 'stop', '-m', 'fast', '-w', '-t', '120');
  if (stop.code !== 0) {
    c.cleanup();
    throw new Error(`stopping the template ${c.primaryDir} failed: ${stop.stderr}`);
  }
  return { dir: c.primaryDir, fillerMB: o.fillerMB, cleanup: c.cleanup };
}

export async function createPgCluster(o: PgClusterOptions = {}): Promise<PgCluster> {
  const sb = loadSandbox();
  const bin = (tool: string) => path.join(sb.postgres.binDir, tool);
  const id = randomUUID().slice(0, 8);
  const name = `${o.prefix ?? 'e2e-pg'}-${id}`;
  const port = await freePort(sb);
  const primaryDir = path.join(sb.stateDir, 'dc1', name);
  const standbyDir = path.join(sb.stateDir, 'dc2', name);
  const dnsName = `${name}.${sb.dns.zone}`;
  const superuserPassword = readFileSync(sb.postgres.primary.superuserPasswordFile, 'utf8').trim();
  const replicationPassword = readFileSync(sb.postgres.replication.passwordFile, 'utf8').trim();
  const must = (what: string, r: { code: number; stdout: string; stderr: string }) => {
    if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const dirOf = (where: 'dc1' | 'dc2') => (where === 'dc1' ? primaryDir : standbyDir);
  const pgCtl = (where: 'dc1' | 'dc2', ...args: string[]) => tryRun(bin('pg_ctl'), [...args, '-D', dirOf(where)], asUser);
  const plans: string[] = [];

  const cleanup = () => {
    for (const where of ['dc1', 'dc2'] as const) pgCtl(where, 'stop', '-m', 'immediate', '-w');
    for (const dir of [primaryDir, standbyDir]) {
      for (const p of [dir, `${dir}.log`, `${dir}.pgpass`, `${dir}.promote`, `${dir}.basebackup.pid`, `${dir}.pgpass.rewind`]) rmSync(p, { recursive: true, force: true });
    }
    for (const p of plans) rmSync(p, { force: true });
    try {
      setSandboxRecord(sb, dnsName, null);
    } catch {
      /* best effort */
    }
  };

  try {
    if (o.template) {
      // A copy of a stopped primary that has the roles, database and filler already: only the port is its own.
      must('copy the template', tryRun('cp', ['-a', o.template.dir, primaryDir], { ...asUser, timeoutMs: 10 * 60_000 }));
      writeFileSync(path.join(primaryDir, 'postgresql.auto.conf'), `# Do not edit this file manually!\nport = '${port}'\n`);
    } else {
      must('initdb', tryRun(bin('initdb'), [
        '-D', primaryDir, '-U', 'postgres', `--pwfile=${sb.postgres.primary.superuserPasswordFile}`,
        '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync',
      ], asUser));
      const minimal = o.walLevel === 'minimal';
      const conf = [
        '',
        '# --- cutover throwaway cluster ---',
        `wal_level = ${minimal ? 'minimal' : 'replica'}`,
        `max_wal_senders = ${minimal ? 0 : 10}`,
        'max_replication_slots = 10',
        'hot_standby = on',
        "wal_keep_size = '64MB'",
        'wal_log_hints = on',
        "shared_buffers = '32MB'",
        "log_line_prefix = '%m [%p] %q%u@%d '",
        // Like the sandbox's primary: listen address and socket dir of each host come from there, so a copy
        // in dc2 listens on dc2.
        "include_if_exists '../postgres-host.conf'",
        // TLS with the host's certificate from the sandbox CA, SCRAM for passwords (scripts/sandbox/tls.ts).
        PG_TLS_INCLUDE,
        '',
      ].join('\n');
      writeFileSync(path.join(primaryDir, 'postgresql.conf'), readFileSync(path.join(primaryDir, 'postgresql.conf'), 'utf8') + conf);
      writeFileSync(path.join(primaryDir, 'pg_hba.conf'), PG_HBA_TLS);
      // After the include: this cluster's own port (the host file says 5432).
      writeFileSync(path.join(primaryDir, 'postgresql.auto.conf'), `# Do not edit this file manually!\nport = '${port}'\n`);
    }
    must('pg_ctl start', tryRun(bin('pg_ctl'), ['start', '-D', primaryDir, '-l', `${primaryDir}.log`, '-w', '-t', '60'], asUser));
    if (!o.template) {
      const psql = (db: string, sql: string, timeoutMs = asUser.timeoutMs) =>
        must('psql', tryRun(bin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', path.join(sb.stateDir, 'dc1', 'run'), '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql], { ...asUser, timeoutMs }));
      psql('postgres', `create role ${sb.postgres.replication.user} with login replication password '${replicationPassword}'`);
      psql('postgres', `create database ${sb.postgres.primary.database}`);
      psql(sb.postgres.primary.database, 'create table writes (id bigserial primary key, seq bigint not null, at timestamptz not null default clock_timestamp())');
      if (o.fillerMB) {
        psql(sb.postgres.primary.database, `create table filler as select g, repeat(md5(g::text), 16) as pad from generate_series(1, ${o.fillerMB * 1700}) g`, 30 * 60_000);
      }
    }
    setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
  } catch (err) {
    cleanup();
    throw err;
  }

  const write = (suffix: string, overrides: Partial<SandboxPostgresFailoverOptions>, edit?: (plan: Record<string, unknown>) => void) => {
    const plan = sandboxPostgresFailoverPlan(sb, {
      name,
      dnsName,
      port,
      primaryDataDir: primaryDir,
      standbyDataDir: standbyDir,
      primaryLogFile: `${primaryDir}.log`,
      standbyLogFile: `${standbyDir}.log`,
      soak: '2s',
      stableFor: '2s',
      ...o.plan,
      ...overrides,
    });
    delete plan.artifacts; // storing reports in GCS is not what these runs measure or check
    edit?.(plan);
    const file = writePlan(path.join(sb.stateDir, 'plans', `${name}${suffix}.yaml`), plan);
    plans.push(file);
    return file;
  };
  const planFile = write('', {});

  return {
    sb,
    id,
    name,
    port,
    primaryDir,
    standbyDir,
    dnsName,
    planFile,
    superuserPassword,
    replicationPassword,
    writePlan: write,
    async sql(where, query, params) {
      const address = where === 'dc1' ? sb.hosts.dc1.address : sb.hosts.dc2.address;
      const c = new Client({ host: address, port, user: 'postgres', password: superuserPassword, database: sb.postgres.primary.database, ssl: sandboxPgSsl(sb.stateDir) });
      await c.connect();
      try {
        return (await c.query(query, params)).rows;
      } finally {
        await c.end();
      }
    },
    pgCtl,
    cleanup,
  };
}
