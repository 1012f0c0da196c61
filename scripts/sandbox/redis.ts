// Two Redis 7 servers run by `cutover`: the source in dc1 (seeded with a few thousand keys of every type) and
// an empty target in dc2. DEBUG is enabled for local clients, for looking at a key by hand (DEBUG DIGEST-VALUE);
// cutover's comparison never runs DEBUG DIGEST, which blocks a serving server for seconds per GiB
// (activities/redis/compare.ts compares key by key instead).
import { chownSync, existsSync, writeFileSync } from 'node:fs';
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
    const pid = livePid(dc.redisPid, 'redis-server');
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
      if (!existsSync(dc.redisConf)) {
        writeFileSync(dc.redisConf, conf(dc, address));
        const { uid, gid } = userIds();
        chownSync(dc.redisConf, uid, gid);
      }
      let h = await health();
      let note = 'already running';
      if (!h.ok) {
        if (h.pid) await stopPidFile(dc.redisPid, 'redis-server');
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
    down: () => stopPidFile(dc.redisPid, 'redis-server'),
  };
}
