// The machine-level pieces: the dedicated unix user, the state dir tree with the owners the services need, and
// the loopback address BIND listens on.
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DNS_ADDRESS, type Layout, USER, USER_HOME } from './layout';
import { forgetUserIds, pidsOfUid, run, tryRun, userIds } from './process';

/** Creates the `cutover` user if missing and makes it key-only (a user with no password is "locked" for sshd). */
export function ensureUser(): string {
  let note = 'exists';
  if (tryRun('id', ['-u', USER]).code !== 0) {
    run('user', 'useradd', ['--create-home', '--home-dir', USER_HOME, '--shell', '/bin/bash', '--user-group', USER]);
    forgetUserIds();
    note = 'created';
  }
  const shadow = tryRun('getent', ['shadow', USER]).stdout.split(':')[1];
  if (shadow !== '*') run('user', 'usermod', ['-p', '*', USER]);
  if (!existsSync(USER_HOME)) mkdirSync(USER_HOME, { recursive: true });
  const { uid, gid } = userIds();
  chownSync(USER_HOME, uid, gid);
  chmodSync(USER_HOME, 0o755);
  return note;
}

/** Deletes the user unless it still runs something (a sandbox of another state dir): returns what it did. */
export function removeUser(): string | undefined {
  if (tryRun('id', ['-u', USER]).code !== 0) return undefined;
  const busy = pidsOfUid(userIds().uid);
  if (busy.length) return `kept ${USER}: it still runs ${busy.length} process(es), e.g. pid ${busy[0]}`;
  run('user', 'userdel', ['--remove', USER]);
  forgetUserIds();
  return `deleted ${USER}`;
}

function dir(p: string, mode: number, owner?: { uid: number; gid: number }): void {
  mkdirSync(p, { recursive: true });
  chmodSync(p, mode);
  if (owner) chownSync(p, owner.uid, owner.gid);
}

/**
 * The state dir tree. Root owns what root's processes write (pidfiles, ssh keys for the worker, temporal, gcs);
 * `cutover` owns both datacenters (PostgreSQL, Redis and the asset trees run or are written as cutover, also
 * over SSH by the data moves), the logs dir (pg_ctl opens its log as cutover) and the secrets.
 * Returns the ancestors it had to open for traversal.
 */
export function ensureStateTree(l: Layout): string[] {
  const u = userIds();
  const opened: string[] = [];
  dir(l.stateDir, 0o755);
  // cutover and bind must reach their dirs below the state dir: every ancestor needs o+x (not o+r).
  for (let d = path.dirname(l.stateDir); ; d = path.dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(d, (mode & 0o7777) | 0o001);
      opened.push(d);
    }
    if (d === path.dirname(d)) break;
  }
  dir(l.run, 0o755);
  dir(l.logs, 0o755, u);
  dir(l.secrets, 0o700, u);
  dir(l.ssh.dir, 0o755);
  dir(l.temporal.dir, 0o755);
  for (const dc of [l.dc1, l.dc2]) {
    dir(dc.dir, 0o755, u);
    dir(dc.pgSocketDir, 0o750, u);
    dir(dc.redisDir, 0o750, u);
  }
  return opened;
}

function hasAddress(): boolean {
  return tryRun('ip', ['-o', 'addr', 'show', 'dev', 'lo']).stdout.includes(` ${DNS_ADDRESS}/`);
}

/** BIND listens only on addresses assigned to an interface; Redis, sshd and PostgreSQL bind 127.x as they are. */
export function ensureAddress(l: Layout): string {
  if (hasAddress()) return 'present';
  run('network', 'ip', ['addr', 'add', `${DNS_ADDRESS}/32`, 'dev', 'lo']);
  // Remember that we added it, so `down` removes it only then.
  writeFileSync(l.addressMarker, `${DNS_ADDRESS}\n`);
  return 'added';
}

export function removeAddress(l: Layout): boolean {
  if (!existsSync(l.addressMarker)) return false;
  if (hasAddress()) run('network', 'ip', ['addr', 'del', `${DNS_ADDRESS}/32`, 'dev', 'lo']);
  rmSync(l.addressMarker, { force: true });
  return true;
}

export function addressHealth(): { ok: boolean; detail: string } {
  return hasAddress()
    ? { ok: true, detail: `${DNS_ADDRESS} on lo` }
    : { ok: false, detail: `${DNS_ADDRESS} is not assigned to lo` };
}
