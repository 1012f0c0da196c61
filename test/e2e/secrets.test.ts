// Secrets stay on the worker, against real sockets and tools: servers a plan names that ask for the password in
// clear text or as MD5 get nothing (a small listener speaking just enough of PostgreSQL's protocol, behind TLS
// with a certificate from the sandbox's CA), a server with another CA's certificate or none is refused before
// the password is even asked for, the preflight of a plan pointing at such a server reports it with nothing
// sent, a world-readable secret in the store is refused, and nsupdate's echo of a key it cannot parse never
// reaches an error. Uses the sandbox's store and CA, not its servers: no lock needed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../activities';
import { PgError, withPg, type PgEndpoint } from '../../activities/clients/pg';
import { nsupdate } from '../../activities/dns';
import type { PostgresPreflightInput } from '../../activities/postgres/preflight';
import { parsePlan } from '../../scripts/plans/load';
import { postgresFailoverInput, sandboxPostgresFailoverPlan, type PostgresFailoverPlan } from '../../scripts/plans/postgres-failover';
import { loadSandbox, SANDBOX_SECRETS, useSandboxWorkerEnv } from '../../scripts/sandbox/endpoints';
import { layout } from '../../scripts/sandbox/layout';
import { ensureCa, issueCert } from '../../scripts/sandbox/tls';
import type { PgSecurity } from '../../workflows/postgres-failover';
import { secretRefs } from '../../workflows/shared/types';
import { testSecret, type TestSecret } from '../helpers/secrets';
import { stringify } from 'yaml';

const sb = loadSandbox();
const l = layout(sb.stateDir);
const work = mkdtempSync(path.join(os.tmpdir(), 'cutover-secrets-e2e-'));
const PASSWORD = 'fake-server-must-never-see-this';
const secrets: TestSecret[] = [];
let password: TestSecret;
const servers: FakePg[] = [];

/** A certificate for the fake servers from the sandbox's CA (the one plans trust), and one from a CA of our own. */
const sandboxCert = { key: path.join(work, 'ok.key'), cert: path.join(work, 'ok.crt') };
const otherCert = { key: path.join(work, 'other.key'), cert: path.join(work, 'other.crt') };

beforeAll(() => {
  useSandboxWorkerEnv(sb); // CUTOVER_SECRETS_DIR: the sandbox's store, as its workers have it
  password = testSecret(sb, 'e2e-fake-pg', `${PASSWORD}\n`);
  secrets.push(password);
  const sans = ['IP:127.0.0.1', `IP:${sb.hosts.dc1.address}`];
  issueCert({ caKey: l.tls.caKey, caCert: l.tls.caCert, keyFile: sandboxCert.key, certFile: sandboxCert.cert, cn: 'fake pg', sans });
  ensureCa(work, path.join(work, 'other-ca.key'), path.join(work, 'other-ca.crt'), '/CN=not the sandbox CA');
  issueCert({ caKey: path.join(work, 'other-ca.key'), caCert: path.join(work, 'other-ca.crt'), keyFile: otherCert.key, certFile: otherCert.cert, cn: 'fake pg', sans });
});

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const s of secrets) s.remove();
  rmSync(work, { recursive: true, force: true });
});

interface FakePg {
  port: number;
  /** Type bytes of every message the client sent after its startup message ('p': a password). */
  messages: string[];
  /** Everything the client sent after the TLS handshake (or in the clear), as text. */
  received(): string;
  startups: number;
  close(): Promise<void>;
}

/**
 * Just enough of a PostgreSQL server: answers SSLRequest with 'S' and TLS (or 'N'), reads the startup message,
 * asks for the password in clear text (3) or as MD5 (5), and records what comes back.
 */
async function fakePg(o: { auth: 'cleartext' | 'md5'; tls: { key: string; cert: string } | null; host?: string }): Promise<FakePg> {
  const messages: string[] = [];
  const chunks: Buffer[] = [];
  let startups = 0;
  const sockets = new Set<net.Socket>();
  const serve = (sock: net.Socket | tls.TLSSocket) => {
    let buf = Buffer.alloc(0);
    let started = false;
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (!started) {
          if (buf.length < 4 || buf.length < buf.readInt32BE(0)) return;
          buf = buf.subarray(buf.readInt32BE(0));
          started = true;
          startups++;
          const ask = Buffer.alloc(o.auth === 'md5' ? 13 : 9);
          ask.write('R', 0);
          ask.writeInt32BE(o.auth === 'md5' ? 12 : 8, 1);
          ask.writeInt32BE(o.auth === 'md5' ? 5 : 3, 5);
          if (o.auth === 'md5') ask.write('salt', 9);
          sock.write(ask);
          continue;
        }
        if (buf.length < 5 || buf.length < 1 + buf.readInt32BE(1)) return;
        messages.push(String.fromCharCode(buf[0]));
        buf = buf.subarray(1 + buf.readInt32BE(1));
      }
    });
    sock.on('error', () => undefined);
  };
  const server = net.createServer((raw) => {
    sockets.add(raw);
    raw.on('error', () => undefined);
    raw.once('data', (first: Buffer) => {
      // SSLRequest: length 8, code 80877103.
      if (first.length >= 8 && first.readInt32BE(4) === 80877103) {
        if (!o.tls) {
          raw.write('N');
          serve(raw);
          return;
        }
        raw.write('S');
        const secure = new tls.TLSSocket(raw, { isServer: true, key: readFileSync(o.tls.key), cert: readFileSync(o.tls.cert) });
        serve(secure);
        return;
      }
      serve(raw);
      raw.emit('data', first);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, o.host ?? '127.0.0.1', resolve));
  const fake: FakePg = {
    port: (server.address() as net.AddressInfo).port,
    messages,
    received: () => Buffer.concat(chunks).toString('latin1'),
    get startups() {
      return startups;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  servers.push(fake);
  return fake;
}

const endpoint = (port: number, security: PgSecurity, host = '127.0.0.1'): PgEndpoint => ({
  label: 'primary fake',
  address: host,
  port,
  database: 'app',
  user: 'postgres',
  password: password.ref,
  security,
});
const verified: PgSecurity = { tlsMode: 'verify-full', ca: { secret: SANDBOX_SECRETS.ca }, allowPasswordAuth: false };

async function connectError(ep: PgEndpoint): Promise<PgError> {
  const err = await withPg(ep, async () => 'connected', { connectTimeoutMs: 3000 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PgError);
  return err as PgError;
}

describe('PostgreSQL connections: TLS verified, SCRAM only', () => {
  it('a server that asks for the password in clear text gets nothing, and the error says why', async () => {
    const fake = await fakePg({ auth: 'cleartext', tls: sandboxCert });
    const err = await connectError(endpoint(fake.port, verified));
    expect(fake.startups).toBe(1); // TLS verified, the startup message sent: the server did ask
    expect(fake.messages).not.toContain('p');
    expect(fake.received()).not.toContain(PASSWORD);
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/^primary fake \(postgres@127\.0\.0\.1:\d+\/app\): the server asked for the password in clear text \(AuthenticationCleartextPassword\): cutover sends it only through SCRAM .* so it sent nothing/);
    expect(err.message).not.toContain(PASSWORD);
  });

  it('a server that asks for MD5 gets nothing either', async () => {
    const fake = await fakePg({ auth: 'md5', tls: sandboxCert });
    const err = await connectError(endpoint(fake.port, verified));
    expect(fake.startups).toBe(1);
    expect(fake.messages).not.toContain('p'); // only Terminate ('X')
    expect(err.message).toMatch(/asked for the password as MD5 \(AuthenticationMD5Password\).*sent nothing/);
  });

  it('the same server does get the password when the plan allows password methods (the listener would see it)', async () => {
    const fake = await fakePg({ auth: 'cleartext', tls: sandboxCert });
    await withPg(endpoint(fake.port, { ...verified, allowPasswordAuth: true }), async () => undefined, { connectTimeoutMs: 1500 }).catch(() => undefined);
    expect(fake.messages).toContain('p');
    expect(fake.received()).toContain(PASSWORD);
  });

  it('a server with a certificate from another CA, or without TLS, is refused before the password is asked for', async () => {
    const other = await fakePg({ auth: 'cleartext', tls: otherCert });
    const err = await connectError(endpoint(other.port, verified));
    expect(other.startups).toBe(0);
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/TLS refused: .*(self[- ]signed|unable to (verify|get)).*against secret "sandbox-ca" and the address 127\.0\.0\.1/i);

    // The right CA but another name: the certificate names 127.0.0.1 and dc1's address, not 127.0.0.2.
    const named = await fakePg({ auth: 'cleartext', tls: sandboxCert, host: '127.0.0.2' });
    const wrongName = await connectError(endpoint(named.port, verified, '127.0.0.2'));
    expect(named.startups).toBe(0);
    expect(wrongName.message).toMatch(/TLS refused: .*(IP: 127\.0\.0\.2 is not in the cert's list|does not match)/i);

    const plain = await fakePg({ auth: 'cleartext', tls: null });
    const noTls = await connectError(endpoint(plain.port, verified));
    expect(plain.startups).toBe(0);
    expect(noTls.message).toMatch(/TLS refused: The server does not support SSL connections/);
    expect(plain.received()).not.toContain(PASSWORD);
  });
});

describe("the sandbox's real PostgreSQL", () => {
  /** The sandbox's primary as the demo leaves it: dc1 after `up`, dc2 after a move. */
  async function livePrimary(): Promise<string> {
    for (const address of [sb.hosts.dc1.address, sb.hosts.dc2.address]) {
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: address, port: sb.postgres.primary.port }, () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
      if (up) return address;
    }
    throw new Error('no sandbox PostgreSQL server is running: npm run sandbox:up');
  }
  const live = (address: string, security: PgSecurity): PgEndpoint => ({
    label: 'sandbox primary',
    address,
    port: sb.postgres.primary.port,
    database: sb.postgres.primary.database,
    user: sb.postgres.primary.superuser,
    password: { secret: SANDBOX_SECRETS.pgSuperuser },
    security,
  });

  it('takes TLS verified against the sandbox CA and SCRAM; refuses a login without TLS; require encrypts without checking', async () => {
    const address = await livePrimary();
    const row = await withPg(live(address, verified), (q) =>
      q.one<{ ssl: boolean; method: string }>("select ssl, (select auth_method from pg_hba_file_rules where line_number = (select min(line_number) from pg_hba_file_rules where type = 'hostssl')) as method from pg_stat_ssl where pid = pg_backend_pid()"),
    );
    expect(row).toEqual({ ssl: true, method: 'scram-sha-256' });
    const plain = await connectError(live(address, { tlsMode: 'disable', allowPasswordAuth: false }));
    expect(plain.message).toMatch(/no pg_hba\.conf entry for host .* no encryption/);
    expect(await withPg(live(address, { tlsMode: 'require', allowPasswordAuth: false }), (q) => q.one<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()'))).toEqual({ ssl: true });
  });
});

describe('a plan naming such a server', () => {
  /** The postgres-failover preflight's input for a sandbox plan whose primary is `port` on dc1's address. */
  function preflightInput(port: number, edit: (plan: Record<string, unknown>) => void = () => undefined): PostgresPreflightInput {
    const plan = sandboxPostgresFailoverPlan(sb, {
      name: 'e2e-secrets',
      dnsName: `pg.${sb.dns.zone}`,
      port,
      primaryDataDir: path.join(sb.stateDir, 'dc1', 'e2e-secrets-absent'),
      standbyDataDir: path.join(sb.stateDir, 'dc2', 'e2e-secrets-absent'),
    });
    edit(plan);
    const input = postgresFailoverInput(parsePlan(stringify(plan), 'e2e-secrets.yaml') as PostgresFailoverPlan, 'alice');
    return {
      access: input.access,
      primary: { ...input.primary, ssh: input.hosts[input.primary.host] },
      standby: { ...input.standby, ssh: input.hosts[input.standby.host] },
      slotName: input.slotName,
      applicationName: input.applicationName,
      dns: input.traffic.dns,
      secrets: secretRefs(input),
    };
  }
  const preflight = async (input: PostgresPreflightInput): Promise<string[]> => {
    const err = (await new MockActivityEnvironment().run(createActivities().preflightPostgres, input).catch((e: unknown) => e)) as ApplicationFailure;
    expect(err?.type).toBe('PreflightFailed');
    return err.details?.[0] as string[];
  };

  it('preflight reports the clear-text request among its problems and the server gets no password', async () => {
    const fake = await fakePg({ auth: 'cleartext', tls: sandboxCert, host: sb.hosts.dc1.address });
    const superuser = testSecret(sb, 'e2e-su', `${PASSWORD}\n`);
    secrets.push(superuser);
    const problems = await preflight(
      preflightInput(fake.port, (p) => {
        ((p.postgres as Record<string, Record<string, unknown>>).superuser).password = superuser.ref;
      }),
    );
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^primary .*: the server asked for the password in clear text .*sent nothing/)]));
    expect(fake.startups).toBeGreaterThan(0);
    expect(fake.messages).not.toContain('p');
    expect(fake.received()).not.toContain(PASSWORD);
    expect(problems.join('\n')).not.toContain(PASSWORD);
  });

  it('names every secret the store lacks or refuses (world-readable), by field, and reads no value into the report', async () => {
    const loose = testSecret(sb, 'e2e-loose', 'world-readable-value\n');
    secrets.push(loose);
    const file = path.join(sb.stateDir, 'secrets', loose.name);
    spawnSync('chmod', ['0644', file]);
    const problems = await preflight(
      preflightInput(1, (p) => {
        const hosts = p.hosts as Record<string, Record<string, unknown>>;
        hosts.dc2.identity = { secret: 'e2e-no-such-key' };
        ((p.postgres as Record<string, Record<string, unknown>>).superuser).password = loose.ref;
        ((p.traffic as Record<string, Record<string, unknown>>).dns).tsigKey = { secret: 'e2e-no-such-tsig' };
      }),
    );
    const text = problems.join('\n');
    expect(text).toMatch(new RegExp(`postgres\\.superuser: secret "${loose.name}" \\(${file}\\) is open to group or others \\(mode 0644\\): refusing it`));
    expect(text).toMatch(/hosts\.dc2\.identity: secret "e2e-no-such-key" is not in the worker's secret store \(directory .*secrets\)/);
    expect(text).toMatch(/traffic\.dns\.tsigKey: secret "e2e-no-such-tsig" is not in the worker's secret store/);
    expect(text).not.toContain('world-readable-value');
  });
});

describe('nsupdate', () => {
  it("quotes a key file it cannot parse; cutover's error withholds those lines", async () => {
    // A store holding the bare secret instead of tsig-keygen's file (an easy mistake): nsupdate quotes its start.
    const secret = 'c2VjcmV0LW5ldmVyLWluLWFuLWVycm9yLW1lc3NhZ2U=';
    const script = `server ${sb.dns.server} ${sb.dns.port}\nzone ${sb.dns.zone}\nupdate delete e2e-secrets-none.${sb.dns.zone}. A\nsend\n`;
    const raw = path.join(work, 'broken.key');
    writeFileSync(raw, `${secret}\n`, { mode: 0o600 });
    const direct = spawnSync('nsupdate', ['-k', raw], { input: script, encoding: 'utf8' });
    expect(direct.status).not.toBe(0);
    expect(`${direct.stdout}${direct.stderr}`).toContain(secret.slice(0, 20)); // proof the scrubbing is needed

    const key = testSecret(sb, 'e2e-tsig-broken', `${secret}\n`);
    secrets.push(key);
    const err = (await nsupdate('nsupdate', key.ref, script).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/^nsupdate exited 2: /);
    expect(err.message).toContain('[line withheld: it quotes the secret]');
    expect(err.message).toMatch(/could not read key from <secret "e2e-tsig-broken-\w+">/);
    expect(err.message).not.toMatch(/c2VjcmV0|LW5ldmVy/);
    expect(err.message).not.toContain(`${os.tmpdir()}/cutover-secret-`);
  });

  it('a key the store does not have is a non-retryable failure naming it', async () => {
    const err = (await nsupdate('nsupdate', { secret: 'e2e-no-such-tsig' }, 'send\n').catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/traffic\.dns\.tsigKey: secret "e2e-no-such-tsig" is not in the worker's secret store/);
  });

  it('the sandbox key from the store still switches a name (private copy, removed after)', async () => {
    const name = `e2e-secrets-${Date.now()}.${sb.dns.zone}`;
    try {
      await nsupdate('nsupdate', { secret: SANDBOX_SECRETS.tsigKey }, `server ${sb.dns.server} ${sb.dns.port}\nzone ${sb.dns.zone}\nupdate add ${name}. 1 A 127.0.1.1\nsend\n`);
      const dig = spawnSync('dig', ['+short', `@${sb.dns.server}`, '-p', String(sb.dns.port), name], { encoding: 'utf8' });
      expect(dig.stdout.trim()).toBe('127.0.1.1');
    } finally {
      await nsupdate('nsupdate', { secret: SANDBOX_SECRETS.tsigKey }, `server ${sb.dns.server} ${sb.dns.port}\nzone ${sb.dns.zone}\nupdate delete ${name}. A\nsend\n`).catch(() => undefined);
    }
  });
});
