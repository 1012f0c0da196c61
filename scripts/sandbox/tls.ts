// The sandbox's own certificate authority (openssl, made once under <stateDir>/tls) and the PostgreSQL servers'
// certificates it signs: one per host, for the host's address, pg.sandbox.internal and any name in the zone (so
// a client following a move's DNS name verifies the server as well as one dialling the address). cutover
// verifies them (verify-full) against the CA, which the sandbox worker finds in its secret store as
// "sandbox-ca". Idempotent: a certificate is made again only when missing or not signed by the current CA.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DC1, DC2, DNS, layout, type Layout } from './layout';
import { run, tryRun, userIds } from './process';

const OPENSSL = 'openssl';

/** A CA: key and self-signed certificate (10 years, P-256). Kept once made. */
export function ensureCa(dir: string, keyFile: string, certFile: string, subject = '/CN=cutover sandbox CA'): string {
  if (existsSync(keyFile) && existsSync(certFile)) return 'kept';
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  run('tls', OPENSSL, [
    'req', '-x509', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256', '-days', '3650',
    '-keyout', keyFile, '-out', certFile, '-subj', subject,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  chmodSync(keyFile, 0o600);
  chmodSync(certFile, 0o644);
  return 'created';
}

/**
 * A server certificate signed by the CA, for `sans` (IP:..., DNS:...). `owner`: chown to the sandbox user (the
 * PostgreSQL server refuses a key it does not own, or one others may read).
 */
export function issueCert(o: { caKey: string; caCert: string; keyFile: string; certFile: string; cn: string; sans: string[]; owner?: boolean }): void {
  mkdirSync(path.dirname(o.keyFile), { recursive: true });
  const csr = `${o.certFile}.csr`;
  const ext = `${o.certFile}.ext`;
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${o.sans.join(',')}\n`);
  try {
    run('tls', OPENSSL, ['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', o.keyFile, '-out', csr, '-subj', `/CN=${o.cn}`]);
    run('tls', OPENSSL, ['x509', '-req', '-in', csr, '-CA', o.caCert, '-CAkey', o.caKey, '-CAcreateserial', '-days', '825', '-sha256', '-extfile', ext, '-out', o.certFile]);
  } finally {
    for (const f of [csr, ext]) tryRun('rm', ['-f', f]);
  }
  chmodSync(o.keyFile, 0o600);
  chmodSync(o.certFile, 0o644);
  if (o.owner) {
    const { uid, gid } = userIds();
    for (const f of [o.keyFile, o.certFile, path.dirname(o.keyFile)]) chownSync(f, uid, gid);
  }
}

/** True when `certFile` exists and verifies against `caCert`. */
export function signedBy(certFile: string, caCert: string): boolean {
  return existsSync(certFile) && tryRun(OPENSSL, ['verify', '-CAfile', caCert, certFile]).code === 0;
}

/** Where a host's PostgreSQL certificate and key live: beside its data directories, owned by the sandbox user. */
export function pgServerTls(l: Layout, which: 'dc1' | 'dc2') {
  const dir = path.join(l[which].dir, 'tls');
  return { dir, cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key'), conf: path.join(l[which].dir, 'postgres-tls.conf') };
}

/** The sandbox CA, then `which`'s server certificate; returns what it did. */
export function ensurePgServerTls(l: Layout, which: 'dc1' | 'dc2'): string {
  const ca = ensureCa(l.tls.dir, l.tls.caKey, l.tls.caCert);
  const t = pgServerTls(l, which);
  let note = `CA ${ca}`;
  if (!signedBy(t.cert, l.tls.caCert)) {
    const address = which === 'dc1' ? DC1 : DC2;
    issueCert({ caKey: l.tls.caKey, caCert: l.tls.caCert, keyFile: t.key, certFile: t.cert, cn: `postgres ${which}`, sans: [`IP:${address}`, `DNS:pg.${DNS.zone}`, `DNS:*.${DNS.zone}`], owner: true });
    note += ', server certificate issued';
  }
  return note;
}

/**
 * Settings every PostgreSQL server of the host reads (data directories include '../postgres-tls.conf'): TLS on
 * with the host's certificate, SCRAM for every new password. A file of its own, so it survives other tools
 * rewriting postgres-host.conf.
 */
export function pgTlsConf(l: Layout, which: 'dc1' | 'dc2'): string {
  const t = pgServerTls(l, which);
  return [
    `# cutover sandbox: TLS and SCRAM on ${which}, included by postgresql.conf as '../postgres-tls.conf'`,
    'ssl = on',
    `ssl_cert_file = '${t.cert}'`,
    `ssl_key_file = '${t.key}'`,
    "ssl_min_protocol_version = 'TLSv1.2'",
    "password_encryption = 'scram-sha-256'",
    '',
  ].join('\n');
}

/** Clients log in over TLS only, with SCRAM; replication too. Unix sockets (the sandbox's own plumbing) trust. */
export const PG_HBA_TLS = `# cutover sandbox: TLS and SCRAM only over TCP
# TYPE   DATABASE     USER   ADDRESS       METHOD
local    all          all                  trust
local    replication  all                  trust
hostssl  all          all    127.0.0.0/8   scram-sha-256
hostssl  replication  all    127.0.0.0/8   scram-sha-256
`;

export const PG_TLS_INCLUDE = "include_if_exists '../postgres-tls.conf'";

/**
 * node-postgres TLS options for the sandbox's scripts (workloads, fixtures, the demo): the servers only take
 * TLS logins, verified against the sandbox CA like cutover's own.
 */
export function sandboxPgSsl(stateDir: string): { ca: string; rejectUnauthorized: true } {
  return { ca: readFileSync(layout(stateDir).tls.caCert, 'utf8'), rejectUnauthorized: true };
}
