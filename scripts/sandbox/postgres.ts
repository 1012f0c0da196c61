// PostgreSQL 15, run by the `cutover` user so that its SSH sessions can drive pg_ctl and pg_basebackup on both
// hosts. dc1 holds the primary (initdb'd here); dc2's data dir is left for the failover to create with
// pg_basebackup, and is only (re)started here once it exists.
//
// Host-specific settings live beside each data dir, in <dc>/postgres-host.conf, which postgresql.conf includes
// as '../postgres-host.conf'. pg_basebackup copies postgresql.conf, so a standby cloned into dc2/pg listens on
// dc2's address without anyone editing its config.
//
// A completed move (`npm run demo`) leaves the old primary stopped, retired: a standby of the new one (it
// streamed from it during the soak), or fenced read-only (a move without reverse replication, or from before
// it). `up` leaves it so and `status` reports it as retired: started, it would be a second server, a standby
// that no longer has a passfile to follow its primary, or one calling itself primary.
import { chmodSync, chownSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { autoConfValue } from '../../activities/postgres/pg-tools';
import type { Component, Context, Health } from './component';
import { findTools } from './install';
import { DC1, DC2, type Layout, PG_BIN_DIR, PG_PORT } from './layout';
import { assertPortFree, isAlive, probePort, run, SandboxError, tryRun, userIds, withLock } from './process';
import { ensurePgServerTls, PG_HBA_TLS, PG_TLS_INCLUDE, pgServerTls, pgTlsConf } from './tls';

const bin = (name: string) => path.join(PG_BIN_DIR, name);

/** A random secret in a 0600 file owned by cutover (root reads it too); kept once written. */
export function ensureSecret(file: string): string {
  if (!existsSync(file)) {
    writeFileSync(file, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
    const { uid, gid } = userIds();
    chownSync(file, uid, gid);
  }
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

function hostConf(dc: Layout['dc1'], address: string, name: string): string {
  return [
    `# cutover sandbox: settings of host ${name}, included by postgresql.conf as '../postgres-host.conf'`,
    `listen_addresses = '${address}'`,
    `port = ${PG_PORT}`,
    `unix_socket_directories = '${dc.pgSocketDir}'`,
    'unix_socket_permissions = 0770',
    `cluster_name = '${name}'`,
    '',
  ].join('\n');
}

const COMMON_CONF = `
# --- cutover sandbox (both hosts: pg_basebackup copies this file to the standby) ---
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_keep_size = '256MB'
wal_log_hints = on                     # lets pg_rewind turn an old primary into a standby
wal_retrieve_retry_interval = '100ms'  # a standby retries the primary/trigger file every 100 ms, not 5 s
log_line_prefix = '%m [%p] %q%u@%d '
include_if_exists '../postgres-host.conf'
${PG_TLS_INCLUDE}
`;


/** A boolean setting's value as PostgreSQL reads it: on, true, yes, 1 and unique prefixes of true and yes. */
const isOn = (value: string | undefined) => value !== undefined && /^(on|1|t|tr|tru|true|y|ye|yes)$/i.test(value.trim());

export function postgres({ l }: Context, which: 'dc1' | 'dc2'): Component {
  const dc = l[which];
  const address = which === 'dc1' ? DC1 : DC2;
  const name = `postgres-${which}`;
  const log = dc.pgLog;
  const where = `${address}:${PG_PORT}`;
  const asUser = { asUser: true, timeoutMs: 90_000 };
  const peer = which === 'dc1' ? 'dc2' : 'dc1';
  const peerWhere = `${peer === 'dc1' ? DC1 : DC2}:${PG_PORT}`;

  const exists = () => existsSync(path.join(dc.pgData, 'PG_VERSION'));
  const postmasterPid = () => {
    try {
      return Number(readFileSync(path.join(dc.pgData, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  };

  /**
   * The old primary a move left behind, or undefined: stopped, not a standby, fenced (the move's ALTER SYSTEM
   * `default_transaction_read_only = on` is still in postgresql.auto.conf) while the other host has a data dir.
   * It stays stopped: started, it would be a second primary, read-only and waiting on a synchronous standby that
   * is gone. The reverse move rejoins it as a standby; `npm run demo` recreates the pair. Returns what status says.
   */
  function retired(): string | undefined {
    if (!exists() || isAlive(postmasterPid(), 'postgres')) return undefined;
    const peerData = l[peer].pgData;
    if (existsSync(path.join(dc.pgData, 'standby.signal'))) {
      // Retired by `complete` after streaming from the new primary: stopped, its passfile removed, the peer a primary.
      const peerIsPrimary = existsSync(path.join(peerData, 'PG_VERSION')) && !existsSync(path.join(peerData, 'standby.signal'));
      return peerIsPrimary && !existsSync(`${dc.pgData}.pgpass`)
        ? `stopped: retired standby of ${peer} (${peerWhere}), the old primary before a move; \`npm run demo\` resets the pair`
        : undefined;
    }
    let autoConf: string;
    try {
      autoConf = readFileSync(path.join(dc.pgData, 'postgresql.auto.conf'), 'utf8');
    } catch {
      return undefined;
    }
    if (!isOn(autoConfValue(autoConf, 'default_transaction_read_only'))) return undefined;
    if (!existsSync(path.join(peerData, 'PG_VERSION'))) return undefined;
    // Promotion removes standby.signal: while it is there the move has fenced this side but not yet switched.
    return existsSync(path.join(peerData, 'standby.signal'))
      ? `stopped: fenced by a move, ${peer} (${peerWhere}) not promoted yet; left to the move, \`npm run demo\` resets the pair`
      : `stopped: old primary, moved to ${peer} (${peerWhere}); \`npm run demo\` resets the pair`;
  }

  /** libpq's settings for a login as cutover makes it: TLS verified against the sandbox CA, by address. */
  const tlsEnv = { PGSSLMODE: 'verify-full', PGSSLROOTCERT: l.tls.caCert, PGCONNECT_TIMEOUT: '5' };

  /** A real password login over TCP, as the workers and tests connect. */
  function sql(query: string, user = 'postgres', db = 'app'): { ok: boolean; out: string } {
    const password = readFileSync(user === 'postgres' ? l.pgSuperuserPassword : l.pgReplicatorPassword, 'utf8').trim();
    const r = tryRun(bin('psql'), ['-X', '-tA', '-v', 'ON_ERROR_STOP=1', '-h', address, '-p', String(PG_PORT), '-U', user, '-d', db, '-c', query], {
      env: { PGPASSWORD: password, ...tlsEnv },
      timeoutMs: 10_000,
    });
    return { ok: r.code === 0, out: (r.code === 0 ? r.stdout : r.stderr).trim() };
  }

  /** Over the unix socket as cutover (trust): works before any password or database exists. */
  function localSql(query: string): string {
    return run(name, bin('psql'), ['-X', '-tA', '-v', 'ON_ERROR_STOP=1', '-h', dc.pgSocketDir, '-p', String(PG_PORT), '-U', 'postgres', '-d', 'postgres', '-c', query], asUser, log).trim();
  }

  async function health(): Promise<Health> {
    if (!exists()) {
      return which === 'dc2'
        ? { ok: true, detail: `${where} not created yet (standby target)`, log }
        : { ok: false, detail: `no data dir at ${dc.pgData}`, log };
    }
    const pid = postmasterPid();
    const old = retired();
    if (old) return { ok: true, detail: old, log };
    if (!isAlive(pid, 'postgres')) return { ok: false, detail: 'not running', log };
    if (!(await probePort(address, PG_PORT))) return { ok: false, detail: `${where} refuses connections`, pid, log };
    const r = sql('select case when pg_is_in_recovery() then \'standby\' else \'primary\' end');
    if (!r.ok) return { ok: false, detail: `login as postgres to app failed: ${r.out.split('\n').pop()}`, pid, log };
    return { ok: true, detail: `${where} ${r.out}`, pid, log };
  }

  function initdb(): void {
    const tmp = `${dc.pgData}.initdb`;
    rmSync(tmp, { recursive: true, force: true });
    run(name, bin('initdb'), [
      '-D', tmp, '-U', 'postgres', `--pwfile=${l.pgSuperuserPassword}`,
      '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--locale=C.UTF-8',
    ], asUser, log);
    appendFileSync(path.join(tmp, 'postgresql.conf'), COMMON_CONF);
    writeFileSync(path.join(tmp, 'pg_hba.conf'), PG_HBA_TLS);
    renameSync(tmp, dc.pgData);
  }

  /** Roles and database; skipped on a standby (read-only, and it has them from its primary). */
  function ensureObjects(): string | undefined {
    if (localSql('select pg_is_in_recovery()') === 't') return 'standby';
    const replicator = readFileSync(l.pgReplicatorPassword, 'utf8').trim();
    if (localSql("select count(*) from pg_roles where rolname = 'replicator'") === '0') {
      localSql(`create role replicator with login replication password '${replicator}'`);
    }
    if (localSql("select count(*) from pg_database where datname = 'app'") === '0') {
      localSql('create database app');
    }
    return undefined;
  }

  /**
   * TLS and SCRAM on a data directory made before they were (idempotent): the include of the host's TLS
   * settings, the hostssl-only pg_hba.conf. Returns true when something changed (a running server reloads).
   */
  function secureDataDir(): boolean {
    let changed = false;
    const conf = path.join(dc.pgData, 'postgresql.conf');
    if (!readFileSync(conf, 'utf8').includes(PG_TLS_INCLUDE)) {
      appendFileSync(conf, `${PG_TLS_INCLUDE}\n`);
      changed = true;
    }
    const hba = path.join(dc.pgData, 'pg_hba.conf');
    if (readFileSync(hba, 'utf8') !== PG_HBA_TLS) {
      writeFileSync(hba, PG_HBA_TLS);
      changed = true;
    }
    return changed;
  }

  return {
    name,
    log,
    health,
    async up() {
      writeFileSync(dc.pgHostConf, hostConf(dc, address, which));
      const tlsNote = ensurePgServerTls(l, which);
      writeFileSync(pgServerTls(l, which).conf, pgTlsConf(l, which));
      ensureSecret(l.pgSuperuserPassword);
      ensureSecret(l.pgReplicatorPassword);
      let note = 'already running';
      if (!exists()) {
        if (which === 'dc2') return { detail: `${where} standby target`, note: 'data dir not created yet' };
        initdb();
        note = 'initialized';
      }
      const secured = secureDataDir();
      const old = retired();
      if (old) return { detail: old, note: 'left stopped' };
      const running = isAlive(postmasterPid(), 'postgres') && (await probePort(address, PG_PORT));
      if (running && secured) {
        run(name, bin('pg_ctl'), ['reload', '-D', dc.pgData], asUser, log);
        note = `TLS and SCRAM turned on (${tlsNote})`;
      }
      if (!running) {
        if (!isAlive(postmasterPid(), 'postgres')) await assertPortFree(name, address, PG_PORT, log);
        const r = tryRun(bin('pg_ctl'), ['start', '-D', dc.pgData, '-l', log, '-w', '-t', '60'], asUser);
        if (r.code !== 0) throw new SandboxError(name, `pg_ctl start failed: ${(r.stderr || r.stdout).trim()}`, log);
        if (note === 'already running') note = 'started';
      }
      const role = which === 'dc1' ? ensureObjects() : 'standby';
      const h = await health();
      if (!h.ok) throw new SandboxError(name, h.detail, log);
      if (which === 'dc1' && role !== 'standby') {
        const repl = tryRun(bin('psql'), ['-X', '-tA', '-c', 'IDENTIFY_SYSTEM', `host=${address} port=${PG_PORT} user=replicator dbname=app replication=true`], {
          env: { PGPASSWORD: readFileSync(l.pgReplicatorPassword, 'utf8').trim(), ...tlsEnv },
        });
        if (repl.code !== 0) throw new SandboxError(name, `replication login as replicator failed: ${repl.stderr.trim()}`, log);
      }
      return { detail: h.detail, note };
    },
    async down() {
      if (!exists() || !isAlive(postmasterPid(), 'postgres')) return false;
      const r = tryRun(bin('pg_ctl'), ['stop', '-D', dc.pgData, '-m', 'fast', '-w', '-t', '60'], asUser);
      if (r.code !== 0) tryRun(bin('pg_ctl'), ['stop', '-D', dc.pgData, '-m', 'immediate', '-w', '-t', '30'], asUser);
      return true;
    },
  };
}

/**
 * The pair as a first `up` leaves it: dc2 stopped with no data dir, dc1 a freshly initdb'd primary with the roles
 * and database. A move of the sandbox's own primary (`npm run demo`) leaves dc2 the primary and dc1 stopped,
 * retired: this puts it back, under the sandbox's lock. Returns what it did, one line each.
 */
export async function recreatePostgresPair(l: Layout): Promise<string[]> {
  return withLock(l, async () => {
    const ctx: Context = { l, tools: findTools() };
    const done: string[] = [];
    for (const which of ['dc2', 'dc1'] as const) {
      if (await postgres(ctx, which).down!()) done.push(`stopped postgres-${which}`);
      // The data dir and what a move leaves beside it (passfile, trigger file, pid of a base backup).
      const data = l[which].pgData;
      const removed = [data, `${data}.pgpass`, `${data}.promote`, `${data}.basebackup.pid`].filter((p) => existsSync(p));
      for (const p of removed) rmSync(p, { recursive: true, force: true });
      if (removed.length) done.push(`removed ${removed.join(', ')}`);
    }
    const r = await postgres(ctx, 'dc1').up();
    done.push(`postgres-dc1 ${r.detail} (${r.note})`);
    return done;
  });
}
