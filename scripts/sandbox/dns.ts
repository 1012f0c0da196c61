// BIND 9 as the sandbox's authoritative DNS: zone sandbox.internal on 127.0.3.1:5053, updatable with the TSIG
// key "cutover" (nsupdate -k). Clients find each service through a name (pg, redis, assets, hdfs), and the
// cutover step of a data move is a DNS update.
//
// The zone file is written once. After that the records are state: BIND keeps updates in a .jnl journal next
// to the zone file, and a restart replays it, so a sandbox restarted after a cutover still points at dc2.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Component, Context, Health } from './component';
import { DNS, DNS_ADDRESS, DNS_RECORDS, type Layout } from './layout';
import { assertPortFree, livePid, run, SandboxError, startServer, stopPidFile, tryRun } from './process';

const NAMED = '/usr/sbin/named';
const BIND_USER = 'bind';

function namedConf(l: Layout): string {
  return `// cutover sandbox
include "${l.dns.key}";

options {
  directory "${l.dns.dir}";
  listen-on port ${DNS.port} { ${DNS_ADDRESS}; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  dnssec-validation no;
  notify no;
  pid-file none;                   // the sandbox records the pid of the foreground (-g) process
  session-keyfile "${path.join(l.dns.dir, 'session.key')}";
  managed-keys-directory "${l.dns.dir}";
};

controls { };                      // no rndc channel on 127.0.0.1:953

zone "${DNS.zone}" {
  type primary;
  file "${l.dns.zoneFile}";
  allow-update { key "${DNS.keyName}"; };
};
`;
}

function zoneFile(): string {
  const lines = [
    `$ORIGIN ${DNS.zone}.`,
    '$TTL 1',
    `@\tIN SOA ns.${DNS.zone}. hostmaster.${DNS.zone}. ( 1 60 60 3600 1 )`,
    `@\tIN NS ns.${DNS.zone}.`,
    `ns\tIN A ${DNS_ADDRESS}`,
    ...Object.entries(DNS_RECORDS).map(([fqdn, a]) => `${fqdn.slice(0, -DNS.zone.length - 1)}\tIN A ${a}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The A record of `fqdn` as the server answers it now, or undefined. */
export function lookup(fqdn: string): string | undefined {
  const r = tryRun('dig', ['+short', '+time=1', '+tries=1', `@${DNS_ADDRESS}`, '-p', String(DNS.port), fqdn, 'A'], { timeoutMs: 5_000 });
  const a = r.stdout.trim().split('\n')[0];
  return r.code === 0 && /^\d+\.\d+\.\d+\.\d+$/.test(a) ? a : undefined;
}

/** The current answers for the sandbox's names (they move during cutovers); defaults where the server is silent. */
export function currentRecords(): Record<string, string> {
  return Object.fromEntries(Object.entries(DNS_RECORDS).map(([fqdn, a]) => [fqdn, lookup(fqdn) ?? a]));
}

export function dns({ l }: Context): Component {
  const name = 'dns';
  const log = l.dns.log;
  const where = `${DNS_ADDRESS}:${DNS.port}`;
  const probe = Object.keys(DNS_RECORDS)[0];

  async function health(): Promise<Health> {
    const pid = livePid(l.dns.pid, 'named');
    if (!pid) return { ok: false, detail: 'not running', log };
    const a = lookup(probe);
    if (!a) return { ok: false, detail: `no answer for ${probe} from ${where}`, pid, log };
    return { ok: true, detail: `${where} ${probe} → ${a}`, pid, log };
  }

  function files(): void {
    const bindIds = { uid: Number(run(name, 'id', ['-u', BIND_USER]).trim()), gid: Number(run(name, 'id', ['-g', BIND_USER]).trim()) };
    mkdirSync(l.dns.zoneDir, { recursive: true });
    if (!existsSync(l.dns.key)) {
      const key = run(name, 'tsig-keygen', ['-a', 'hmac-sha256', DNS.keyName]);
      writeFileSync(l.dns.key, key, { mode: 0o640 });
    }
    writeFileSync(l.dns.conf, namedConf(l), { mode: 0o644 });
    if (!existsSync(l.dns.zoneFile)) writeFileSync(l.dns.zoneFile, zoneFile());
    // named runs as bind: it writes the journal, the session key and managed keys into these dirs.
    for (const d of [l.dns.dir, l.dns.zoneDir]) {
      chownSync(d, bindIds.uid, bindIds.gid);
      chmodSync(d, 0o750);
      for (const f of readdirSync(d)) chownSync(path.join(d, f), bindIds.uid, bindIds.gid);
    }
    chmodSync(l.dns.key, 0o640);
  }

  return {
    name,
    log,
    health,
    async up() {
      files();
      const h = await health();
      if (h.ok) return { detail: where, note: 'already running' };
      if (h.pid) await stopPidFile(l.dns.pid, 'named');
      const check = tryRun('named-checkconf', ['-z', l.dns.conf]);
      if (check.code !== 0) throw new SandboxError(name, `named-checkconf: ${(check.stdout + check.stderr).trim()}`, log);
      await assertPortFree(name, DNS_ADDRESS, DNS.port, log);
      await startServer({
        component: name, cmd: NAMED, args: ['-g', '-c', l.dns.conf, '-u', BIND_USER], logFile: log, pidFile: l.dns.pid,
        ready: () => lookup(probe) !== undefined, timeoutMs: 15_000, intervalMs: 200, notReady: `no answer for ${probe} from ${where}`,
      });
      return { detail: where, note: h.pid ? 'restarted' : 'started' };
    },
    down: () => stopPidFile(l.dns.pid, 'named'),
  };
}
