// One sshd per datacenter (127.0.1.1:2222, 127.0.2.1:2222), key-only logins for the `cutover` user.
// Two key pairs are authorized: <state>/ssh/id_ed25519 for the worker, and cutover's own ~/.ssh/id_ed25519,
// because the file move runs rsync *on* dc1 pushing to dc2 over ssh. Both known_hosts files pin both hosts.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Component, Context, Health } from './component';
import { DC1, DC2, type Layout, SSH_PORT, USER, USER_HOME } from './layout';
import { assertPortFree, livePid, probePort, run, SandboxError, startServer, stopPidFile, tryRun, tryRunAsync, userIds } from './process';

const SSHD = '/usr/sbin/sshd';
const USER_SSH = path.join(USER_HOME, '.ssh');

function keygen(file: string, comment: string, asUser = false): void {
  if (existsSync(file) && existsSync(`${file}.pub`)) return;
  mkdirSync(path.dirname(file), { recursive: true });
  run('ssh', 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { asUser, input: 'y\n' });
}

function pub(file: string): string {
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

function writeOwned(file: string, content: string, mode: number): void {
  writeFileSync(file, content);
  chmodSync(file, mode);
  const { uid, gid } = userIds();
  chownSync(file, uid, gid);
}

/** Host keys, client keys, authorized_keys and both known_hosts files; rewritten from the keys on every `up`. */
export function ensureKeys(l: Layout): void {
  const hosts = [
    { dc: l.dc1, address: DC1, name: 'dc1' },
    { dc: l.dc2, address: DC2, name: 'dc2' },
  ];
  for (const h of hosts) keygen(h.dc.sshdHostKey, `cutover-sandbox ${h.name} host key`);
  keygen(l.ssh.identity, 'cutover-sandbox worker');

  const { uid, gid } = userIds();
  mkdirSync(USER_SSH, { recursive: true });
  chmodSync(USER_SSH, 0o700);
  chownSync(USER_SSH, uid, gid);
  keygen(path.join(USER_SSH, 'id_ed25519'), `${USER}@sandbox dc1-to-dc2`, true);

  const knownHosts = hosts
    .map((h) => {
      const [type, key] = pub(h.dc.sshdHostKey).split(/\s+/);
      return `[${h.address}]:${SSH_PORT} ${type} ${key}\n`;
    })
    .join('');
  writeFileSync(l.ssh.knownHosts, knownHosts, { mode: 0o644 });
  writeOwned(path.join(USER_SSH, 'known_hosts'), knownHosts, 0o644);
  writeOwned(
    path.join(USER_SSH, 'authorized_keys'),
    `${pub(l.ssh.identity)}\n${pub(path.join(USER_SSH, 'id_ed25519'))}\n`,
    0o600,
  );
}

function sshdConfig(dc: Layout['dc1'], address: string): string {
  return [
    `# cutover sandbox: sshd for ${address}`,
    `ListenAddress ${address}:${SSH_PORT}`,
    `HostKey ${dc.sshdHostKey}`,
    'PidFile none', // main.ts records the pid of the foreground (-D) process itself
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin no',
    `AllowUsers ${USER}`,
    'AuthorizedKeysFile .ssh/authorized_keys',
    'StrictModes yes',
    'PrintMotd no',
    'X11Forwarding no',
    // Data moves open many sessions at once (parallel rsync, pg_ctl, health probes).
    'MaxStartups 100:30:200',
    'MaxSessions 64',
    'ClientAliveInterval 15',
    'Subsystem sftp internal-sftp',
    'LogLevel INFO',
    '',
  ].join('\n');
}

export function sshd({ l }: Context, which: 'dc1' | 'dc2'): Component {
  const dc = l[which];
  const address = which === 'dc1' ? DC1 : DC2;
  const name = `sshd-${which}`;
  const log = dc.sshdLog;
  const where = `${address}:${SSH_PORT}`;

  async function health(): Promise<Health> {
    const pid = livePid(dc.sshdPid, 'sshd');
    if (!pid) return { ok: false, detail: 'not running', log };
    if (!(await probePort(address, SSH_PORT))) return { ok: false, detail: `${where} refuses connections`, pid, log };
    return { ok: true, detail: where, pid, log };
  }

  return {
    name,
    log,
    health,
    async up() {
      writeFileSync(dc.sshdConf, sshdConfig(dc, address));
      const h = await health();
      if (h.ok) return { detail: where, note: 'already running' };
      if (h.pid) await stopPidFile(dc.sshdPid, 'sshd');
      await assertPortFree(name, address, SSH_PORT, log);
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir
      const test = tryRun(SSHD, ['-t', '-f', dc.sshdConf]);
      if (test.code !== 0) throw new SandboxError(name, `config rejected: ${test.stderr.trim()}`, log);
      await startServer({
        component: name, cmd: SSHD, args: ['-D', '-e', '-f', dc.sshdConf], logFile: log, pidFile: dc.sshdPid,
        ready: () => probePort(address, SSH_PORT), timeoutMs: 10_000, notReady: `${where} not accepting connections`,
      });
      return { detail: where, note: h.pid ? 'restarted' : 'started' };
    },
    down: () => stopPidFile(dc.sshdPid, 'sshd'),
  };
}

const CLIENT_OPTS = ['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'ConnectTimeout=5'];

/** The ssh command line the worker uses for a host (exported for tests and scripts that shell out). */
export function sshArgs(l: Layout, address: string): string[] {
  return [
    '-F', '/dev/null', ...CLIENT_OPTS,
    '-o', `UserKnownHostsFile=${l.ssh.knownHosts}`, '-o', 'IdentitiesOnly=yes',
    '-i', l.ssh.identity, '-p', String(SSH_PORT), `${USER}@${address}`,
  ];
}

/** Logs in for real: worker → dc1, worker → dc2, and as cutover on dc1 → dc2 (rsync's path) and back. */
export function sshLogins({ l }: Context): Component {
  const log = l.ssh.log;
  const hop = (to: string) =>
    `ssh -p ${SSH_PORT} -i ~/.ssh/id_ed25519 ${CLIENT_OPTS.join(' ')} ${USER}@${to} true`;
  const checks: Array<{ label: string; args: string[] }> = [
    { label: `worker → ${DC1}`, args: [...sshArgs(l, DC1), 'true'] },
    { label: `worker → ${DC2}`, args: [...sshArgs(l, DC2), 'true'] },
    { label: `dc1 → ${DC2} as ${USER}`, args: [...sshArgs(l, DC1), hop(DC2)] },
    { label: `dc2 → ${DC1} as ${USER}`, args: [...sshArgs(l, DC2), hop(DC1)] },
  ];

  async function verify(): Promise<Health> {
    const results = await Promise.all(checks.map((c) => tryRunAsync('ssh', c.args, { timeoutMs: 15_000 })));
    for (const [i, r] of results.entries()) {
      if (r.code !== 0) {
        const c = checks[i];
        mkdirSync(path.dirname(log), { recursive: true });
        writeFileSync(log, `${new Date().toISOString()} ${c.label}: ssh ${c.args.join(' ')}\n${r.stderr}\n`, { flag: 'a' });
        return { ok: false, detail: `${c.label} failed: ${r.stderr.trim().split('\n').pop()}`, log };
      }
    }
    return { ok: true, detail: `key logins dc1 ⇄ dc2 as ${USER}`, log };
  }

  return {
    name: 'ssh-logins',
    log,
    health: verify,
    async up() {
      const h = await verify();
      if (!h.ok) throw new SandboxError('ssh-logins', h.detail, log);
      return { detail: h.detail, note: 'verified' };
    },
  };
}
