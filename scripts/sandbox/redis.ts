// Two Redis 7 servers run by `cutover`: the source in dc1 (seeded with a few thousand keys of every type) and
// an empty target in dc2. DEBUG is enabled for local clients, for looking at a key by hand (DEBUG DIGEST-VALUE);
// cutover's comparison never runs DEBUG DIGEST, which blocks a serving server for seconds per GiB
// (activities/redis/compare.ts compares key by key instead).
//
// Each host also gets `redis-ctl.sh start|stop|status`: a redis-move plan's target service (dump mode stops the
// target, places the dump, starts it), run over SSH as cutover. A server it started keeps its pid in the host's
// own directory; health and `down` look at both pid files.
import { chmodSync, chownSync, existsSync, writeFileSync } from 'node:fs';
import type { Component, Context, Health } from './component';
import { DC1, DC2, type Layout, REDIS_PORT } from './layout';
import { assertPortFree, livePid, SandboxError, startServer, stopPidFile, tryRun, userIds } from './process';

const SERVER = '/usr/bin/redis-server';

function conf(dc: Layout['dc1'], address: string): string {
  return [
    '# cutover sandbox (written once: a data move may CONFIG REWRITE it)',
    `bind ${address}`,
    `port ${REDIS_PORT}`,
    // Bound to a loopback address only; protected mode would refuse the other datacenter's replica link.
    'protected-mode no',
    'daemonize no', // started detached by the sandbox, which records the pid
    `dir ${dc.redisDir}`,
    'dbfilename dump.rdb',
    'logfile ""',
    'save 3600 1 300 100 60 10000',
    'appendonly no',
    'enable-debug-command local',
    '',
  ].join('\n');
}

export interface RedisCtlOptions {
  conf: string;
  pidFile: string;
  logFile: string;
  address: string;
  port: number;
  /** A file holding the password (readable by the script's user), for redis-cli. */
  passwordFile?: string;
}

/**
 * `sh redis-ctl.sh start|stop|status`: start daemonized with its pid file and log (waiting until it answers, or
 * reporting that it died: an RDB it cannot load makes Redis exit), stop with SHUTDOWN NOSAVE (the dump on disk is
 * what a move placed or will replace: it must not be overwritten by the server's last state).
 */
export function redisCtlScript(o: RedisCtlOptions): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '#!/bin/sh',
    '# Starts and stops one redis-server (written by the cutover sandbox); a move runs it over SSH. Usage: start|stop|status',
    'set -u',
    `conf=${q(o.conf)}; pidfile=${q(o.pidFile)}; log=${q(o.logFile)}; addr=${q(o.address)}; port=${o.port}`,
    o.passwordFile ? `export REDISCLI_AUTH="$(cat ${q(o.passwordFile)})"` : 'unset REDISCLI_AUTH',
    'up() { redis-cli -h "$addr" -p "$port" PING 2>/dev/null | grep -qE "PONG|LOADING"; }',
    'case "${1:-}" in',
    '  start)',
    '    up && exit 0',
    '    rm -f "$pidfile"',
    '    redis-server "$conf" --daemonize yes --pidfile "$pidfile" --logfile "$log" || exit 1',
    '    for i in $(seq 200); do',
    '      up && exit 0',
    '      p=$(cat "$pidfile" 2>/dev/null)',
    '      if [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; then echo "redis-server exited during its start:" >&2; tail -n 5 "$log" >&2; exit 1; fi',
    '      sleep 0.1',
    '    done',
    '    echo "redis-server does not answer on $addr:$port 20 s after its start" >&2; tail -n 5 "$log" >&2; exit 1 ;;',
    '  stop)',
    '    up || exit 0',
    '    redis-cli -h "$addr" -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1',
    '    for i in $(seq 100); do up || exit 0; sleep 0.1; done',
    '    echo "redis-server on $addr:$port still answers 10 s after SHUTDOWN NOSAVE" >&2; exit 1 ;;',
    '  status) if up; then echo running; else echo stopped; exit 3; fi ;;',
    '  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;',
    'esac',
    '',
  ].join('\n');
}

/** RESP encoding of one command, for `redis-cli --pipe`. */
function resp(args: Array<string | number>): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`;
}

/** A few thousand keys of every type, some with a TTL; the same on every machine. */
export function seedCommands(): { text: string; keys: number } {
  const cmds: string[] = [];
  let keys = 0;
  const add = (args: Array<string | number>) => {
    cmds.push(resp(args));
    keys++;
  };
  for (let i = 0; i < 2000; i++) add(['SET', `user:${i}`, JSON.stringify({ id: i, name: `user-${i}`, plan: ['free', 'pro', 'team'][i % 3] })]);
  for (let i = 0; i < 500; i++) add(['HSET', `session:${i}`, 'user', `user:${i * 3}`, 'ip', `10.0.${i % 256}.${(i * 7) % 256}`, 'hits', i * 11]);
  for (let i = 0; i < 200; i++) add(['RPUSH', `queue:${i}`, ...Array.from({ length: 10 }, (_, k) => `job-${i}-${k}`)]);
  for (let i = 0; i < 200; i++) add(['SADD', `tags:${i}`, ...Array.from({ length: 5 }, (_, k) => `tag-${(i + k) % 37}`)]);
  for (let i = 0; i < 100; i++) add(['ZADD', `leaderboard:${i}`, ...Array.from({ length: 20 }, (_, k) => [(k * 37 + i) % 1000, `player-${k}`]).flat()]);
  for (let i = 0; i < 100; i++) add(['SET', `cache:${i}`, `cached-${i}`, 'EX', 86_400]);
  return { text: cmds.join(''), keys };
}

export function redis({ l }: Context, which: 'dc1' | 'dc2'): Component {
  const dc = l[which];
  const address = which === 'dc1' ? DC1 : DC2;
  const name = which === 'dc1' ? 'redis-source' : 'redis-target';
  const log = dc.redisLog;
  const where = `${address}:${REDIS_PORT}`;
  const cli = (...args: string[]) => tryRun('redis-cli', ['-h', address, '-p', String(REDIS_PORT), ...args], { timeoutMs: 10_000 });

  async function health(): Promise<Health> {
    // Started by the sandbox, or by its control script (a move restarted it).
    const pid = livePid(dc.redisPid, 'redis-server') ?? livePid(dc.redisCtlPid, 'redis-server');
    if (!pid) return { ok: false, detail: 'not running', log };
    if (cli('PING').stdout.trim() !== 'PONG') return { ok: false, detail: `${where} does not answer PING`, pid, log };
    const role = /^role:(\w+)/m.exec(cli('INFO', 'replication').stdout)?.[1] ?? '?';
    return { ok: true, detail: `${where} ${role}, ${cli('DBSIZE').stdout.trim()} keys`, pid, log };
  }

  return {
    name,
    log,
    health,
    async up() {
      const { uid, gid } = userIds();
      if (!existsSync(dc.redisConf)) {
        writeFileSync(dc.redisConf, conf(dc, address));
        chownSync(dc.redisConf, uid, gid);
      }
      writeFileSync(dc.redisCtl, redisCtlScript({ conf: dc.redisConf, pidFile: dc.redisCtlPid, logFile: dc.redisCtlLog, address, port: REDIS_PORT }));
      chmodSync(dc.redisCtl, 0o755);
      chownSync(dc.redisCtl, uid, gid);
      let h = await health();
      let note = 'already running';
      if (!h.ok) {
        if (h.pid) await Promise.all([stopPidFile(dc.redisPid, 'redis-server'), stopPidFile(dc.redisCtlPid, 'redis-server')]);
        await assertPortFree(name, address, REDIS_PORT, log);
        await startServer({
          component: name, cmd: SERVER, args: [dc.redisConf], logFile: log, pidFile: dc.redisPid, asUser: true, cwd: dc.redisDir,
          ready: () => cli('PING').stdout.trim() === 'PONG', timeoutMs: 20_000, notReady: `${where} does not answer PING`,
        });
        note = h.pid ? 'restarted' : 'started';
      }
      if (which === 'dc1' && cli('DBSIZE').stdout.trim() === '0' && /^role:master/m.test(cli('INFO', 'replication').stdout)) {
        const seed = seedCommands();
        const r = tryRun('redis-cli', ['-h', address, '-p', String(REDIS_PORT), '--pipe'], { input: seed.text, timeoutMs: 30_000 });
        if (r.code !== 0 || !/errors: 0/.test(r.stdout)) throw new SandboxError(name, `seeding failed: ${(r.stdout + r.stderr).trim()}`, log);
        cli('BGSAVE');
        note += `, seeded ${seed.keys} keys`;
      }
      h = await health();
      if (!h.ok) throw new SandboxError(name, h.detail, log);
      return { detail: h.detail, note };
    },
    down: async () => (await Promise.all([stopPidFile(dc.redisPid, 'redis-server'), stopPidFile(dc.redisCtlPid, 'redis-server')])).some(Boolean),
  };
}
