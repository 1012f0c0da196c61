// The worker's secret store on its own: names, permissions, the environment allow-list, what errors say (and
// never say), the private copy for tools, and the scrubbing of tool output.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readSecret, readSecretBytes, scrubSecret, SecretError, secretNameProblem, secretProblems, secretStoreConfig, withSecretFile } from '../../activities/secrets';
import { describePgSecurity, pgSecurityRelaxed } from '../../activities/clients/pg';
import { secretRef } from '../../scripts/plans/fields';
import { secretRefs } from '../../workflows/shared/types';

const root = mkdtempSync(path.join(os.tmpdir(), 'cutover-secrets-test-'));
const dir = path.join(root, 'store');
mkdirSync(dir, { mode: 0o700 });
chmodSync(dir, 0o700);
const put = (name: string, value: string, mode = 0o600) => {
  const file = path.join(dir, name);
  writeFileSync(file, value, { mode });
  chmodSync(file, mode);
  return file;
};
const config = { dir, env: {} };
const fail = async (p: Promise<unknown>): Promise<SecretError> =>
  p.then(
    () => {
      throw new Error('expected a SecretError');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(SecretError);
      return e as SecretError;
    },
  );

afterEach(() => {
  delete process.env.CUTOVER_TEST_SECRET;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('secret store', () => {
  it('reads a secret by name from the directory, one trailing newline off (bytes as stored)', async () => {
    put('pg-replication', 's3cret-value\n');
    expect(await readSecret({ secret: 'pg-replication' }, 'postgres.replication', config)).toBe('s3cret-value');
    expect((await readSecretBytes({ secret: 'pg-replication' }, 'x', config)).toString()).toBe('s3cret-value\n');
  });

  it('refuses names that are paths or not plain, before looking anywhere', async () => {
    for (const name of ['../etc/shadow', '/etc/shadow', 'a/b', '.hidden', 'Upper', '', 'a b', '-x']) {
      expect(secretNameProblem(name), name).toMatch(/expected a secret name/);
      expect((await fail(readSecret({ secret: name }, 'postgres.superuser', config))).message).toMatch(/^postgres\.superuser: expected a secret name/);
    }
    for (const name of ['pg-replication', 'sandbox.ca', 'a_b-1', '0']) expect(secretNameProblem(name), name).toBeNull();
  });

  it('names a missing secret and where it looked, never a value', async () => {
    const e = await fail(readSecret({ secret: 'not-there' }, 'hosts.dc1.identity', config));
    expect(e.message).toBe(`hosts.dc1.identity: secret "not-there" is not in the worker's secret store (directory ${dir})`);
    const none = await fail(readSecret({ secret: 'x' }, 'traffic.dns.tsigKey', { env: {} }));
    expect(none.message).toMatch(/secret "x" is not in the worker's secret store \(empty \(set CUTOVER_SECRETS_DIR/);
  });

  it('refuses a file group or others may read, and a store others may write to', async () => {
    put('world', 'the-world-readable-value', 0o644);
    const e = await fail(readSecret({ secret: 'world' }, 'postgres.superuser', config));
    expect(e.message).toMatch(/secret "world" \(.*world\) is open to group or others \(mode 0644\): refusing it; chmod 600 it/);
    expect(e.message).not.toContain('the-world-readable-value');
    put('group', 'g', 0o640);
    expect((await fail(readSecret({ secret: 'group' }, 'x', config))).message).toMatch(/mode 0640/);
    put('owner-only-read', 'fine', 0o400);
    expect(await readSecret({ secret: 'owner-only-read' }, 'x', config)).toBe('fine');

    const open = path.join(root, 'open-store');
    mkdirSync(open);
    chmodSync(open, 0o777);
    writeFileSync(path.join(open, 'a'), 'v', { mode: 0o600 });
    expect((await fail(readSecret({ secret: 'a' }, 'x', { dir: open, env: {} }))).message).toMatch(/may be written by group or others \(mode 0777\): chmod 700 it/);
  });

  it('checks the file it reads: a link to a world-readable file is refused, and so is an empty secret or a directory', async () => {
    const outside = path.join(root, 'outside');
    writeFileSync(outside, 'outside-value', { mode: 0o644 });
    chmodSync(outside, 0o644);
    symlinkSync(outside, path.join(dir, 'linked'));
    expect((await fail(readSecret({ secret: 'linked' }, 'x', config))).message).toMatch(/open to group or others/);
    put('empty', '');
    expect((await fail(readSecret({ secret: 'empty' }, 'x', config))).message).toMatch(/secret "empty" .* is empty/);
    mkdirSync(path.join(dir, 'adir'), { mode: 0o700 });
    expect((await fail(readSecret({ secret: 'adir' }, 'x', config))).message).toMatch(/not a regular file/);
  });

  it('reads allow-listed environment variables, and only those', async () => {
    const env = secretStoreConfig({ CUTOVER_SECRETS_DIR: dir, CUTOVER_SECRET_ENV: 'pg-superuser=CUTOVER_TEST_SECRET, other=UNSET_VAR' });
    expect(env).toEqual({ dir, env: { 'pg-superuser': 'CUTOVER_TEST_SECRET', other: 'UNSET_VAR' } });
    process.env.CUTOVER_TEST_SECRET = 'from-the-environment';
    expect(await readSecret({ secret: 'pg-superuser' }, 'x', env)).toBe('from-the-environment');
    expect((await fail(readSecret({ secret: 'other' }, 'x', env))).message).toBe('x: secret "other" is mapped to environment variable UNSET_VAR, which is not set on the worker');
    // A variable that is not allow-listed is not a secret, whatever its name: PATH is looked for in the directory.
    expect((await fail(readSecret({ secret: 'path' }, 'x', env))).message).toMatch(/secret "path" is not in the worker's secret store/);
    for (const bad of ['noequals', 'a=B=C', 'Bad=X', 'a=1X', 'a=X,a=Y']) {
      expect(() => secretStoreConfig({ CUTOVER_SECRET_ENV: bad }), bad).toThrow(SecretError);
    }
    expect(() => secretStoreConfig({ CUTOVER_SECRETS_DIR: 'relative/dir' })).toThrow(/absolute path/);
  });

  it('refuses the old located forms with what to write instead', async () => {
    const e = await fail(readSecret({ file: '/root/.config/gcloud/credentials.json' } as never, 'postgres.superuser', config));
    expect(e.message).toMatch(/secrets are named now, not located: write \{ secret: NAME \}/);
    expect(secretRef.safeParse({ env: 'TEMPORAL_API_KEY' }).error?.issues[0].message).toMatch(/write \{ secret: NAME \} and put the variable in the worker's secret store/);
    expect(secretRef.safeParse('hunter2').error?.issues[0].message).toMatch(/never the secret itself/);
    expect(secretRef.safeParse({ secret: 'ok', extra: 1 }).error?.issues[0].message).toMatch(/expected only \{ secret: NAME \}/);
    expect(secretRef.parse({ secret: 'pg-replication' })).toEqual({ secret: 'pg-replication' });
  });

  it('preflight lists every missing or unsafe secret by field, each name once', async () => {
    put('good', 'v');
    put('loose', 'v', 0o604);
    const refs = secretRefs({ hosts: { dc1: { identity: { secret: 'good' } }, dc2: { identity: { secret: 'gone' } } }, traffic: { dns: { tsigKey: { secret: 'loose' } } }, again: [{ secret: 'gone' }] });
    expect(refs).toEqual({ 'hosts.dc1.identity': { secret: 'good' }, 'hosts.dc2.identity': { secret: 'gone' }, 'traffic.dns.tsigKey': { secret: 'loose' }, 'again[0]': { secret: 'gone' } });
    const problems = await secretProblems(refs, config);
    expect(problems).toEqual([
      `hosts.dc2.identity: secret "gone" is not in the worker's secret store (directory ${dir})`,
      expect.stringMatching(/^traffic\.dns\.tsigKey: secret "loose" .* is open to group or others \(mode 0604\)/),
    ]);
  });

  it('hands tools a private copy (0600 in a 0700 directory) and removes it whatever happens', async () => {
    const saved = process.env.CUTOVER_SECRETS_DIR;
    process.env.CUTOVER_SECRETS_DIR = dir;
    try {
      put('tsig', 'key "cutover" { algorithm hmac-sha256; secret "c2VjcmV0LWtleS1ieXRlcw=="; };\n');
      let seen = '';
      await expect(
        withSecretFile({ secret: 'tsig' }, 'traffic.dns.tsigKey', async (file) => {
          seen = file;
          expect(statSync(file).mode & 0o777).toBe(0o600);
          expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
          throw new Error('the tool failed');
        }),
      ).rejects.toThrow('the tool failed');
      expect(seen).not.toBe('');
      expect(existsSync(seen)).toBe(false);
      expect(existsSync(path.dirname(seen))).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.CUTOVER_SECRETS_DIR;
      else process.env.CUTOVER_SECRETS_DIR = saved;
    }
  });

  it('withholds every line of tool output that quotes the secret, wherever the tool cut it', () => {
    const key = 'key "cutover" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0LWtleS1ieXRlcw==";\n};\n';
    const out = [
      "/tmp/x:3: unknown option 'secret \"c2VjcmV0LWtleS1i'",
      'could not read key from /tmp/x.{private,key}: not found',
      'couldn\'t parse "c2VjcmV0"… near \'LWtleS1ieXRlcw==\'',
    ].join('\n');
    const shown = scrubSecret(out, key);
    expect(shown).not.toMatch(/c2VjcmV0|LWtleS1i/);
    expect(shown).toContain('could not read key from /tmp/x.{private,key}: not found');
    expect(shown.split('\n')).toHaveLength(3);
  });
});

describe('PostgreSQL connection security as reports show it', () => {
  it('says what is verified, and names every relaxation the plan made', () => {
    expect(describePgSecurity({ tlsMode: 'verify-full', ca: { secret: 'sandbox-ca' }, allowPasswordAuth: false })).toBe(
      'TLS, certificate verified against CA of secret "sandbox-ca"; password only through SCRAM',
    );
    expect(describePgSecurity(undefined)).toBe("TLS, certificate verified against the worker's system CAs; password only through SCRAM");
    expect(pgSecurityRelaxed(undefined)).toBe(false);
    const relaxed = { tlsMode: 'require', allowPasswordAuth: true } as const;
    expect(describePgSecurity(relaxed)).toBe(
      'TLS WITHOUT certificate verification (relaxed by the plan: tls.mode require); MD5 and clear-text passwords ALLOWED (relaxed by the plan: allowPasswordAuth)',
    );
    expect(pgSecurityRelaxed(relaxed)).toBe(true);
    expect(describePgSecurity({ tlsMode: 'disable', allowPasswordAuth: false })).toMatch(/^NO TLS: clear text \(relaxed by the plan: tls\.mode disable\)/);
  });
});
