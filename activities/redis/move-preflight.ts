// Preflight of the whole redis-move: the two servers (preflight.ts: logins, RDB versions, an empty target, the
// source's dump location, persistence and memory) and the hosts around them (SSH to both, the dump file on the
// source, room and write access where the target's dump goes, the source's SSH login to the target for the copy,
// the job system's hook host). Read-only; every problem reported at once.
import type { SecretRef, SshHost } from '../../workflows/shared/types';
import { secretProblems } from '../secrets';
import { shq } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { rsyncRemoteShell, sshLogin } from '../files/rsync';
import { lacksRoom, Problems, probeTarget } from '../remote';
import type { RedisServerRef } from './client';
import { redisProblems, serverFacts, type RedisServerFacts } from './preflight';
import { resolveEndpoint, withRedis } from './client';
import { KeyTracker, TrackingUnavailable } from './tracking';

export interface RedisMovePreflightInput {
  mode: 'dump' | 'replicate';
  source: RedisServerRef & { ssh: SshHost };
  target: RedisServerRef & { ssh: SshHost; overwrite: boolean };
  /** Where the job system's hooks run. */
  hookHosts: SshHost[];
  /** Every secret the run names, by field: each must be in the worker's store (absent in runs from before). */
  secrets?: Record<string, SecretRef>;
}

export interface RedisMovePreflightResult {
  source: RedisServerFacts;
  target: RedisServerFacts;
  /** dir/dbfilename of each server (CONFIG GET): where BGSAVE writes and where a restart loads from. */
  sourceDumpPath: string;
  targetDumpPath: string;
  /** Size of the source's current dump file (0 if none yet): what the copy will move, about. */
  sourceDumpBytes: number;
  targetFreeBytes: number;
  /** Keys on the target before the move: a rollback empties an empty target again. */
  targetState: 'empty' | 'non-empty';
  /** The target's own dump file exists (kept aside while ours is loaded, put back on rollback). */
  targetHasDumpFile: boolean;
  /** Whether the way back (the target's writes replicated back to the source) can work, and why not. */
  wayBack: { possible: boolean; reason: string };
  /** Settings worth knowing (persistence, maxmemory), one line each. */
  notes: string[];
}

const keysOf = (f: RedisServerFacts) => f.keyspace.reduce((n, d) => n + d.keys, 0);

/** The way back replicates the target into the source: the source must load what the target writes. */
export function wayBackPossible(s: RedisServerFacts, t: RedisServerFacts): { possible: boolean; reason: string } {
  if (s.rdbVersion === null || t.rdbVersion === null) return { possible: false, reason: 'the RDB format of one side is unknown' };
  if (t.rdbVersion > s.rdbVersion) {
    return { possible: false, reason: `the target (Redis ${t.version}) writes RDB ${t.rdbVersion}, the source (Redis ${s.version}) loads up to ${s.rdbVersion}: it cannot replicate back` };
  }
  return { possible: true, reason: `the source (Redis ${s.version}) can replicate from the target (Redis ${t.version})` };
}

function notesOf(label: string, f: RedisServerFacts): string {
  const mem = f.maxmemoryBytes > 0 ? `maxmemory ${f.maxmemoryBytes} bytes (${f.maxmemoryPolicy})` : 'no maxmemory';
  return `${label}: Redis ${f.version}, ${keysOf(f)} keys, ${f.usedMemoryBytes} bytes used, ${mem}, save "${f.save}", appendonly ${f.appendonly ? 'yes' : 'no'}`;
}

export async function preflightRedisMove(deps: Pick<ActivityDeps, 'withSsh'>, input: RedisMovePreflightInput): Promise<RedisMovePreflightResult> {
  const problems = new Problems();
  // The AUTH passwords are reported by the logins below; every other secret (SSH keys, the TSIG key) here.
  const passwords = new Set([input.source.password?.secret, input.target.password?.secret]);
  for (const p of await secretProblems(Object.fromEntries(Object.entries(input.secrets ?? {}).filter(([, ref]) => !passwords.has(ref.secret))))) problems.add(p);
  const [source, target] = await Promise.all([
    problems.check(null, () => withRedis(input.source, (r) => serverFacts(r))),
    problems.check(null, () => withRedis(input.target, (r) => serverFacts(r))),
  ]);
  if (source && target) for (const p of redisProblems(source, target, input.target.overwrite)) problems.add(p);
  if (target?.appendonly && input.mode === 'dump') {
    problems.add('target has appendonly yes: on restart it would load its AOF, not the dump; turn it off for the move or use replicate mode');
  }
  const sourceDumpPath = source ? `${source.dir}/${source.dbfilename}` : '';
  const targetDumpPath = target ? `${target.dir}/${target.dbfilename}` : '';

  let sourceDumpBytes = 0;
  let targetFreeBytes = 0;
  let targetHasDumpFile = false;
  const src = input.source.ssh;
  const tgt = input.target.ssh;
  await Promise.all([
    problems.check(`ssh ${src.name}`, () =>
      deps.withSsh(src, async (c) => {
        if (!source) return;
        // No dir (deleted under the running server: CONFIG GET dir answers nothing): reported with the facts.
        if (source.dir === '') return;
        // The dump is BGSAVE's file: it must be there to copy after the save, and the copy is pushed from here.
        const r = await c.exec(`d=${shq(source.dir)}; [ -d "$d" ] || echo nodir; f=${shq(sourceDumpPath)}; [ -e "$f" ] && stat -c 'size %s' "$f"; true`);
        if (r.stdout.includes('nodir')) problems.add(`${src.name}: the source's dump directory ${source.dir} is not on this host (is source.host the machine Redis runs on?)`);
        sourceDumpBytes = Number(/size (\d+)/.exec(r.stdout)?.[1] ?? 0);
        if (input.mode === 'dump') {
          const login = await c.exec(`${rsyncRemoteShell(tgt)} -- ${shq(sshLogin(tgt))} true`, { allowFailure: true });
          if (login.code !== 0) problems.add(`${src.name} cannot log in to ${tgt.name} over SSH for the copy: ${login.stderr.trim().split('\n').pop()}`);
        }
      }),
    ),
    problems.check(`ssh ${tgt.name}`, () =>
      deps.withSsh(tgt, async (c) => {
        if (!target) return;
        const probe = await probeTarget(c, target.dir, `[ -e ${shq(targetDumpPath)} ] && echo has-dump;`);
        targetHasDumpFile = probe.notes.includes('has-dump');
        targetFreeBytes = probe.freeBytes;
        if (probe.state === 'absent' || probe.state === 'not-a-directory') problems.add(`${tgt.name}: the target's dump directory ${target.dir} is not a directory on this host (is target.host the machine Redis runs on?)`);
        else if (!probe.writable && input.mode === 'dump') problems.add(`${tgt.name}: ${target.dir} is not writable by ${tgt.user}: the dump cannot be placed there`);
      }),
    ),
    ...input.hookHosts.map((h) => problems.check(`ssh ${h.name} (job hooks)`, () => deps.withSsh(h, (c) => c.exec('true')))),
  ]);
  if (input.mode === 'dump' && source) {
    // The copy lands beside the target's file; its own file is renamed, not copied: room for one dump.
    const needed = Math.max(sourceDumpBytes, Math.round(source.usedMemoryBytes / 2));
    if (lacksRoom(targetFreeBytes, needed)) problems.add(`${tgt.name}: ${targetFreeBytes} bytes free in ${target?.dir}, the dump needs about ${needed}`);
  }
  problems.throwIfAny();
  const notes = [notesOf('source', source!), notesOf('target', target!)];
  if (input.mode === 'dump') notes.push(await readAheadNote(input.source));
  return {
    source: source!,
    target: target!,
    sourceDumpPath,
    targetDumpPath,
    sourceDumpBytes,
    targetFreeBytes,
    targetState: keysOf(target!) > 0 ? 'non-empty' : 'empty',
    targetHasDumpFile,
    wayBack: wayBackPossible(source!, target!),
    notes,
  };
}

/**
 * Whether dump mode's comparison can read the source ahead of the pause (its changes followed by client-side
 * caching): said before anything is changed, since without it the comparison reads both sides after the load
 * (a longer write pause). Tracking is turned on and off again: nothing is written.
 */
async function readAheadNote(source: RedisServerRef): Promise<string> {
  try {
    (await KeyTracker.open(await resolveEndpoint(source))).close();
    return 'comparison: the source read ahead before the write pause, its changes followed (CLIENT TRACKING BCAST)';
  } catch (err) {
    const why = err instanceof TrackingUnavailable ? err.message : `tracking could not be tried (${(err as Error).message})`;
    return `comparison: not read ahead, both sides read after the load (a longer write pause): ${why}`;
  }
}
