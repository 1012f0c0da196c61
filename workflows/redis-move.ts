// Redis move: a Redis server and the job system on it, to a new server, with nothing lost and no job run twice.
// "Pause the job system, sync the data to disk, copy the dump to the new server, run integrity checks, switch
// traffic, resume jobs", in two modes.
//
// Phases, dump mode: preflight → check-dns → [gate `pause`] → pause-jobs (hook, confirmed) → pause-writes (CLIENT
//   PAUSE WRITE on the source, a deadline) → bgsave (succeeded; keys per db) → copy-dump (rsync over SSH, sha256
//   on both ends) → stop-target → place-dump → start-target (loaded) → integrity (per-db counts, then key by key;
//   since patch redis-dump-overlap-compare it starts with the pause: the frozen source is read beside bgsave, the
//   copy and the load, the target once it serves the dump; since patch redis-dump-read-ahead it starts before
//   pause-jobs: the live source is read while the jobs run, the pause waits until it has been, the keys it changes
//   meanwhile are read again as they change and once more when it is frozen) → gate `cutover` (the integrity
//   figures; writes stay paused, so a decision after the pause's deadline rolls back) → hold-writes (no write
//   slipped through since the dump) → switch-traffic (DNS) → [point of no return] → fence-source → resume-jobs →
//   archive-dump (GCS, from the snapshot: outside the pause) → [gate `complete`] → clean-up.
// Phases, replicate mode: preflight → check-dns → replicate (REPLICAOF with masterauth; initial sync and lag
//   under the threshold) → integrity (live, key by key) → gate `cutover` (lag refreshed while it waits) →
//   pause-jobs → hand-over (CLIENT PAUSE WRITE, replica offset ≥ the master's, REPLICAOF NO ONE: the whole write
//   pause; per-db counts equal and the keys the live comparison found different compared again) →
//   switch-traffic → [point of no return] → fence-source → resume-jobs → [gate `complete`].
// Messages: decideUpdate / decisionSignal (gates `pause`, `cutover`, `complete`, `recover`), abortSignal,
//   pauseSignal, resumeSignal, statusQuery.
// Compensations (undo procedures, data): before the switch, a failure, a no-go or an abort switches the name back,
//   puts the target back as it was (its own dump restored and restarted, or replication detached and the target
//   emptied again if it was empty), unpauses the source and resumes the jobs against it: the job system is never
//   left paused (a resume that fails ends the run as ManualInterventionRequired, saying so). The switch is the
//   point of no return: from then on the target takes the jobs' writes. fence-source makes the old source a
//   replica of the target (read-only: a client left on it cannot write into the old copy) and so starts the way
//   back: pause jobs, the source caught up with the target's new writes, promoted, the name switched back, the
//   target a replica of it, jobs resumed (`options.wayBack`, from a no-go at `complete`, an abort, or `way-back`
//   at the recover gate). It is refused, with the reason, when the source cannot load what the target writes.
import { CancellationScope, condition, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ReadAhead } from '../activities/redis/compare-snapshot';
import type {
  CompareResult,
  DbKeyspace,
  HandOver,
  RedisMovePreflightResult,
  RedisServerRef,
} from '../activities/redis';
import { redisReadAheadSignal } from './shared/messages';
import { secretRefs, tsigKeyLabel, type ApprovalPolicy, type CarriedState, type DnsSwitch, type Evidence, type GatePolicy, type HookCommand, type MigrationStatus, type SecretRef, type SshHost } from './shared/types';
import { checks, copies, outage, steps, undo, watch } from './lib/activity-options';
import { continuingAsNew, Migration } from './lib/migration';
import { messageOf, type Saga } from './lib/saga';

/** One Redis server of the move: its host (SSH: the dump file, stop/start), where clients reach it, its login. */
export interface RedisNode {
  /** Host alias in `hosts`. */
  host: string;
  address: string;
  port: number;
  username?: string;
  password?: SecretRef;
}

/** Workflow input for the Redis move. Plain data, already validated by the plan schema. */
export interface RedisMoveInput {
  name: string;
  startedBy: string;
  mode: 'dump' | 'replicate';
  hosts: Record<string, SshHost>;
  source: RedisNode;
  target: RedisNode & {
    /** Replace the keys a non-empty target holds (never done unless the plan says so). */
    overwrite: boolean;
    /** Commands on the target's host that stop and start its redis-server (dump mode). */
    service?: { start: string; stop: string };
    loadTimeoutMs: number;
  };
  /** The job system's hooks; absent: no job system to pause (writes are still paused on Redis itself). */
  jobs?: { pause: HookCommand; resume: HookCommand; confirm?: HookCommand; timeoutMs: number };
  /** Deadline of CLIENT PAUSE WRITE: a dead worker leaves the source writable again after it. */
  writePauseMaxMs: number;
  replicate: { maxLagBytes: number; timeoutMs: number; onTimeout: 'rollback' | 'wait' };
  /** readAheadTimeoutMs: dump mode's wait for the source to be read ahead before the pause (absent in older runs: 10 min). */
  compare: { connections: number; maxDifferences: number; ttlToleranceMs: number; readAheadTimeoutMs?: number };
  /** Dump mode: a copy of the dump in this bucket. */
  archive?: { bucket: string; prefix: string };
  approval: ApprovalPolicy;
  gates: { pause?: GatePolicy; cutover: GatePolicy; complete?: GatePolicy };
  /** The name clients use; it points at the source's address and moves to the target's. */
  traffic: { dns: DnsSwitch };
  artifacts?: { bucket: string; prefix: string };
}

/** One direction of the move: forward (source → target), or the way back. */
interface Direction {
  from: RedisNode;
  to: RedisNode;
  /** Step-name prefix: '' forward, 'back-' on the way back. */
  prefix: '' | 'back-';
}

/** A server as activities take it: the password stays a reference. */
const ref = (n: RedisNode, label: string): RedisServerRef => ({
  label,
  host: n.address,
  port: n.port,
  ...(n.username ? { username: n.username } : {}),
  ...(n.password ? { password: n.password } : {}),
});

const keysIn = (dbs: DbKeyspace[]) => dbs.reduce((n, d) => n + d.keys, 0);
const perDb = (dbs: DbKeyspace[]) => dbs.map((d) => `db${d.db} ${d.keys}`).join(', ') || 'no keys';

/** The first differences, one line each, for the gate's evidence. */
function differencesText(r: CompareResult): string {
  if (r.keysDifferent === 0) return 'none';
  const shown = r.differences.map((d) => `db${d.db} ${d.key} (${d.kind}): ${d.detail}`).join('; ');
  return r.differences.length < r.keysDifferent ? `${shown}; … ${r.keysDifferent - r.differences.length} more` : shown;
}

function countsText(r: CompareResult): string {
  return r.dbs.map((d) => `db${d.db} ${d.sourceKeys}/${d.targetKeys}`).join(', ') || 'no keys on either side';
}

/** Dump mode's comparison beside BGSAVE, the copy and the load (loadBesideIntegrity): new runs only. */
const OVERLAP_PATCH = 'redis-dump-overlap-compare';

/** Dump mode's comparison reads the source ahead, before the write pause, and follows its changes: new runs only. */
const READ_AHEAD_PATCH = 'redis-dump-read-ahead';

/** As file-sync's fence: a run carried over from one that predates the patch stays on the older path. */
function isPatched(patch: string, carried: CarriedState | undefined): boolean {
  if (carried && !(`patch:${patch}` in carried.results)) return false;
  return patched(patch);
}

export async function redisMove(input: RedisMoveInput, carried?: CarriedState): Promise<MigrationStatus> {
  const dns = input.traffic.dns;
  const host = (alias: string) => input.hosts[alias];
  const migrationId = workflowInfo().workflowId;
  const forward: Direction = { from: input.source, to: input.target, prefix: '' };
  const back: Direction = { from: input.target, to: input.source, prefix: 'back-' };
  const label = (n: RedisNode) => `${n === input.source ? 'source' : 'target'} ${n.host} ${n.address}:${n.port}`;
  const server = (n: RedisNode) => ref(n, n === input.source ? 'source' : 'target');
  const jobs = input.jobs;
  const compareSettings = { connections: input.compare.connections, maxDifferences: input.compare.maxDifferences, ttlToleranceMs: input.compare.ttlToleranceMs };

  /** Undo procedures: compensations name one and give its argument (plain data, carried across continue-as-new). */
  const undos = {
    async resumeJobs(a: { hook: HookCommand; timeoutMs: number; side: string }) {
      const r = await undo(`resume the job system (against the ${a.side})`).runJobsHook({ hook: a.hook, host: host(a.hook.host), label: 'resume', timeoutMs: a.timeoutMs });
      return `jobs resumed against the ${a.side}: ${r.output.split('\n').pop() ?? ''}`.trim();
    },
    async unpauseWrites(a: { node: RedisNode; side: string }) {
      await undo(`unpause writes on the ${a.side}`).redisUnpauseWrites({ server: ref(a.node, a.side) });
      return `writes on the ${a.side} unpaused`;
    },
    async restoreTarget(a: { path: string; previous: string; incoming: string }) {
      return undo(`put the target back as it was`).restoreRedisTarget({
        host: host(input.target.host),
        server: server(input.target),
        service: input.target.service!,
        timeoutMs: input.target.loadTimeoutMs,
        ...a,
      });
    },
    async removeCopies(a: { files: Array<{ host: string; path: string }> }) {
      const r = await undo('remove the dump copies').removeRedisDumpCopies({ files: a.files.map((f) => ({ host: host(f.host), path: f.path })) });
      return r.removed.length ? `removed ${r.removed.join(', ')}` : 'no copies left';
    },
    async detachTarget(a: { flush: boolean }) {
      return undo(`stop replicating into the target`).redisDetach({ server: server(input.target), flush: a.flush });
    },
    async switchBack(a: { from: string; to: string }) {
      const r = await undo(`switch ${dns.name} back to ${a.to}`).switchDns({ dns, from: a.from, to: a.to });
      return r.changed ? `${dns.name} → ${a.to} again` : `${dns.name} already at ${a.to}`;
    },
  };

  const m = new Migration({
    undos,
    input,
    carried,
    kind: 'redis-move',
    name: input.name,
    startedBy: input.startedBy,
    approval: input.approval,
    pointOfNoReturn: 'switch-traffic',
    artifacts: input.artifacts,
    wayBack: {
      step: 'way-back',
      manualAction:
        `put the jobs back on the source by hand: pause the job system, REPLICAOF ${input.target.address} ${input.target.port} on the source until caught up, ` +
        `CLIENT PAUSE WRITE on the target, REPLICAOF NO ONE on the source, point ${dns.name} at ${input.source.address}, resume the job system`,
      run: () => wayBack(),
    },
  });

  // ---- phases (each a step; `d` says which way) ---------------------------------------------------------

  const preflight = () =>
    m.check(
      'preflight',
      () =>
        checks(`preflight ${label(input.source)} → ${label(input.target)} (${input.mode} mode)`).preflightRedisMove({
          mode: input.mode,
          source: { ...server(input.source), ssh: host(input.source.host) },
          target: { ...server(input.target), ssh: host(input.target.host), overwrite: input.target.overwrite },
          hookHosts: jobs ? [host(jobs.pause.host)] : [],
          secrets: secretRefs(input),
        }),
      (r) =>
        `source Redis ${r.source.version}: ${keysIn(r.source.keyspace)} keys (${perDb(r.source.keyspace)}), ${r.source.usedMemoryBytes} bytes, dump ${r.sourceDumpPath}; ` +
        `target Redis ${r.target.version}: ${r.targetState}, dump ${r.targetDumpPath}, ${r.targetFreeBytes} bytes free; way back ${r.wayBack.possible ? 'possible' : `refused: ${r.wayBack.reason}`}`,
    );

  const checkDns = () =>
    m.check('check-dns', () => checks(`look up ${dns.name}`).lookupDns({ dns }), (r) => `${dns.name} → ${r.addresses.join(', ')}`).then((r) => {
      if (!(r.addresses.length === 1 && r.addresses[0] === input.source.address)) {
        throw new Error(`${dns.name} resolves to ${r.addresses.join(', ') || 'nothing'}, the plan expects the source ${input.source.address}`);
      }
    });

  /** Pause the job system and confirm that nothing runs; its undo (resume, against `side`) is registered first. */
  const pauseJobs = async (d: Direction, saga?: Saga) => {
    if (!jobs) return;
    const side = d === forward ? 'source' : 'target';
    const resume = { step: `${d.prefix}pause-jobs`, manualAction: `resume the job system by hand on ${jobs.resume.host}: ${jobs.resume.command}`, undo: 'resumeJobs' as const, args: { hook: jobs.resume, timeoutMs: jobs.timeoutMs, side } };
    if (saga) saga.add(resume);
    else m.compensate(resume);
    await m.step(
      `${d.prefix}pause-jobs`,
      async () => {
        const paused = await steps(`pause the job system on ${jobs.pause.host}`).runJobsHook({ hook: jobs.pause, host: host(jobs.pause.host), label: 'pause', timeoutMs: jobs.timeoutMs });
        if (!jobs.confirm) return paused;
        const left = Math.max(1000, jobs.timeoutMs - paused.ms);
        return steps(`confirm no job is active`).runJobsHook({ hook: jobs.confirm, host: host(jobs.confirm.host), label: 'confirm', timeoutMs: left, untilSuccess: true });
      },
      (r) => `job system paused and confirmed in ${(r.ms / 1000).toFixed(1)} s: ${r.output.split('\n').pop() ?? ''}`,
    );
  };

  const resumeJobs = async (d: Direction) => {
    if (!jobs) return;
    await m.step(
      `${d.prefix}resume-jobs`,
      () => steps(`resume the job system on ${jobs.resume.host}`).runJobsHook({ hook: jobs.resume, host: host(jobs.resume.host), label: 'resume', timeoutMs: jobs.timeoutMs }),
      (r) => `job system resumed (it follows ${dns.name}): ${r.output.split('\n').pop() ?? ''}`,
    );
  };

  const unpauseUndo = (d: Direction) => ({
    step: `${d.prefix}pause-writes`,
    manualAction: `redis-cli -h ${d.from.address} -p ${d.from.port} CLIENT UNPAUSE`,
    undo: 'unpauseWrites' as const,
    args: { node: d.from, side: d === forward ? 'source' : 'target' },
  });

  /** Dump mode: writes frozen on the source until the switch (or the undo); the deadline is the plan's maximum. */
  const pauseWrites = () => {
    m.compensate(unpauseUndo(forward));
    return m.step(
      'pause-writes',
      async () => {
        await outage(`CLIENT PAUSE ${input.writePauseMaxMs} WRITE on the source`).redisPauseWrites({ server: server(input.source), ms: input.writePauseMaxMs });
        return { pausedAt: new Date().toISOString(), until: new Date(Date.now() + input.writePauseMaxMs).toISOString() };
      },
      (r) => `writes on the source paused at ${r.pausedAt}, until ${r.until} at the latest`,
    );
  };

  const bgsave = async () => {
    const r = await m.step(
      'bgsave',
      async () => {
        const saved = await outage('BGSAVE on the source, until it succeeded').redisBgsave({ server: server(input.source), timeoutMs: 30 * 60_000 });
        const keys = await checks('keys per db on the source').redisKeyspace({ server: server(input.source) });
        return { ...saved, ...keys };
      },
      (r) => `dump written in ${(r.durationMs / 1000).toFixed(1)} s (last save ${r.lastSaveTime}); ${r.keys} keys: ${perDb(r.dbs)}`,
    );
    m.setFigures({ dumpKeys: r.keys, dumpKeysPerDb: perDb(r.dbs), bgsaveMs: r.durationMs });
    return r;
  };

  const files = (pre: RedisMovePreflightResult) => ({
    source: pre.sourceDumpPath,
    snapshot: `${pre.sourceDumpPath}.cutover-${input.name}`,
    target: pre.targetDumpPath,
    incoming: `${pre.targetDumpPath}.cutover-incoming-${input.name}`,
    previous: `${pre.targetDumpPath}.cutover-previous-${input.name}`,
  });

  const copyDump = async (pre: RedisMovePreflightResult) => {
    const f = files(pre);
    m.compensate({
      step: 'copy-dump',
      manualAction: `rm -f ${f.snapshot} on ${input.source.host} and ${f.incoming} on ${input.target.host}`,
      undo: 'removeCopies',
      args: { files: [{ host: input.source.host, path: f.snapshot }, { host: input.target.host, path: f.incoming }] },
    });
    const r = await m.step(
      'copy-dump',
      () =>
        copies(`copy the dump ${input.source.host} → ${input.target.host} over SSH, sha256 on both ends`).copyRedisDump({
          source: { host: host(input.source.host), path: f.source },
          snapshot: f.snapshot,
          target: { host: host(input.target.host), path: f.incoming },
        }),
      (r) => `${r.bytes} bytes in ${(r.copyMs / 1000).toFixed(1)} s, sha256 ${r.sha256.slice(0, 16)}… equal on both ends`,
    );
    m.setFigures({ dumpBytes: r.bytes, dumpSha256: r.sha256, copyMs: r.copyMs });
    return r;
  };

  const archive = (pre: RedisMovePreflightResult, sha256: string) => {
    const a = input.archive;
    if (!a) return Promise.resolve();
    const object = `${a.prefix.replace(/\/+$/, '')}/${migrationId}.rdb`;
    return m
      .step(
        'archive-dump',
        () => copies(`archive the dump in gs://${a.bucket}/${object}`).archiveRedisDump({ source: { host: host(input.source.host), path: files(pre).snapshot }, bucket: a.bucket, object, sha256 }),
        (r) => `${r.bytes} bytes in ${r.uri}, sha256 checked`,
      )
      .then((r) => m.setFigures({ dumpArchive: r.uri }));
  };

  /** The target loads the dump: stopped, the copy placed (its own file kept aside), started, loaded. */
  const loadDump = async (pre: RedisMovePreflightResult) => {
    const f = files(pre);
    const service = input.target.service!;
    const svc = { host: host(input.target.host), server: server(input.target), timeoutMs: input.target.loadTimeoutMs };
    m.compensate({
      step: 'stop-target',
      manualAction: `on ${input.target.host}: ${service.stop}; mv ${f.previous} ${f.target} (if it is there, else remove ${f.target}); ${service.start}`,
      undo: 'restoreTarget',
      args: { path: f.target, previous: f.previous, incoming: f.incoming },
    });
    await m.step('stop-target', () => steps(`stop the target: ${service.stop}`).stopRedisServer({ ...svc, command: service.stop }), (r) =>
      r.wasRunning ? `stopped in ${(r.stopMs / 1000).toFixed(1)} s` : 'was not running',
    );
    await m.step('place-dump', () => steps(`place the dump as ${f.target}`).placeRedisDump({ host: host(input.target.host), incoming: f.incoming, path: f.target, previous: f.previous }), (r) =>
      r.alreadyPlaced ? 'already in place' : r.keptPrevious ? `in place; the target's own dump kept as ${f.previous}` : 'in place',
    );
    // Loading a big dump outlasts the cutover steps' timeout: the long-copy options (it heartbeats meanwhile).
    const started = await m.step('start-target', () => copies(`start the target: ${service.start}`).startRedisServer({ ...svc, command: service.start }), (r) =>
      `serving after ${(r.loadMs / 1000).toFixed(1)} s: ${keysIn(r.keyspace)} keys (${perDb(r.keyspace)})${r.keysLoaded !== null ? `, ${r.keysLoaded} loaded from the dump` : ''}`,
    );
    m.setFigures({ loadMs: started.loadMs });
    return started;
  };

  /** Per-db counts, then every key, both directions. */
  const integrity = async (live: boolean) => {
    const r = await m.step(
      'integrity',
      () => copies(`compare every key${live ? ' (live: the target replicates)' : ''}`).compareRedisServers({ source: server(input.source), target: server(input.target), settings: compareSettings }),
      (r) => `${r.keysCompared} keys compared (${countsText(r)}) in ${(r.elapsedMs / 1000).toFixed(1)} s: ${r.keysDifferent === 0 ? 'identical' : `${r.keysDifferent} differ`}`,
    );
    m.setFigures({ keysCompared: r.keysCompared, keysDifferent: r.keysDifferent, compareMs: r.elapsedMs, compareKeysPerSec: r.keysPerSec, keyCounts: countsText(r) });
    return r;
  };

  /** The report of a comparison that read the source ahead (its activity signals it), the latest attempt's. */
  let readAheadReport: (ReadAhead & { attempt: number }) | null = null;
  setHandler(redisReadAheadSignal, (r) => {
    if (!readAheadReport || r.attempt >= readAheadReport.attempt) readAheadReport = r;
  });

  /**
   * Dump mode's comparison, started before the steps the write pause waits on (BGSAVE, the copy, the target's
   * restart) and awaited after them: only the target's half is left after the load. With `readAhead` (patch
   * redis-dump-read-ahead) it starts before the pause: the live source is read, and followed until it is
   * frozen, while the jobs still run (the pause waits until it has been read: `ready`); without (patch
   * redis-dump-overlap-compare) it starts once the source's writes are paused (CLIENT PAUSE WRITE also stops
   * expiry and eviction) and reads it beside the load. `cancel` stops it and waits, so no read is left running
   * against a rollback.
   */
  const startComparison = (targetRunId: string, readAhead: boolean) => {
    const scope = new CancellationScope();
    let settled = false;
    const comparing = scope.run(() =>
      m.step(
        'integrity',
        () =>
          copies(readAhead ? 'compare every key: the source read ahead and followed, then the target once it has loaded' : 'compare every key: the source while the target loads, then the target')
            .compareRedisBesideLoad({ source: server(input.source), target: server(input.target), targetRunId, settings: compareSettings, ...(readAhead ? { readAhead } : {}) }),
        (r) => `${r.keysCompared} keys compared (${countsText(r)}) in ${(r.elapsedMs / 1000).toFixed(1)} s, ${readAhead ? 'the source read ahead' : 'beside the load'}: ${r.keysDifferent === 0 ? 'identical' : `${r.keysDifferent} differ`}`,
      ),
    );
    comparing.then(() => (settled = true), () => (settled = true));
    return {
      comparing,
      /**
       * Until the source has been read ahead (or the comparison ended: a failure is thrown here), at most the plan's
       * readAheadTimeout: past it the pause starts anyway and the reading goes on beside it (what the comparison
       * finds does not depend on when the pause starts: the keys changed before it are read again after it).
       */
      ready: async () => {
        const within = input.compare.readAheadTimeoutMs ?? 10 * 60_000;
        if (!(await condition(() => readAheadReport !== null || settled, within))) {
          m.setFigures({ readAhead: `not read within ${Math.round(within / 1000)} s: the pause started, the source read beside it` });
          return;
        }
        if (!readAheadReport) await comparing;
        const r = readAheadReport;
        if (r) m.setFigures({ readAhead: r.ahead ? `${r.keys} keys in ${(r.ms / 1000).toFixed(1)} s, before the pause` : `not read ahead: ${r.note ?? ''}` });
      },
      cancel: async () => {
        scope.cancel();
        await comparing.catch(() => undefined);
      },
    };
  };
  type Comparison = ReturnType<typeof startComparison>;

  /** Jobs and the source's writes paused once a comparison reading ahead has read the source; stopped if they fail. */
  const pauseAfter = async (comparison: Comparison | null) => {
    try {
      await comparison?.ready();
      await pauseJobs(forward);
      return await pauseWrites();
    } catch (err) {
      await comparison?.cancel();
      throw err;
    }
  };

  /** BGSAVE, the copy and the load, with the comparison beside them; its result once the target has loaded. */
  const loadBesideIntegrity = async (pre: RedisMovePreflightResult, c: Comparison) => {
    let started;
    let saved;
    let copied;
    try {
      saved = await bgsave();
      copied = await copyDump(pre);
      started = await loadDump(pre);
    } catch (err) {
      await c.cancel();
      throw err;
    }
    const r = await c.comparing;
    if (started.runId !== undefined && r.targetRunId !== started.runId) {
      throw new Error(`the comparison read the target's run ${r.targetRunId}, the start step started run ${started.runId}: the target restarted in between; rolling back`);
    }
    m.setFigures({ keysCompared: r.keysCompared, keysDifferent: r.keysDifferent, compareMs: r.elapsedMs, compareKeysPerSec: r.keysPerSec, keyCounts: countsText(r) });
    // Where the comparison's time went: the source (ahead, or beside the load), its wait for the target, the source's
    // last changes read again, the target after it.
    if (r.phasesMs) {
      m.setFigures({ compareSourceMs: r.phasesMs.source, compareWaitMs: r.phasesMs.waitingForTarget, compareTargetMs: r.phasesMs.target, compareRecheckMs: r.phasesMs.recheck });
      if (r.phasesMs.sourceCatchUp !== undefined) m.setFigures({ compareSourceCatchUpMs: r.phasesMs.sourceCatchUp });
    }
    if (r.readAhead?.ahead) m.setFigures({ readAheadReread: r.readAhead.reread, readAheadFullRereads: r.readAhead.fullRereads, ...(r.readAhead.note ? { readAheadNote: r.readAhead.note } : {}) });
    return { saved, copied, checked: r };
  };

  const integrityEvidence = (r: CompareResult): Evidence => ({
    keyCounts: countsText(r),
    keysCompared: r.keysCompared,
    targetKeysScanned: r.targetKeysScanned,
    keysDifferent: r.keysDifferent,
    differences: differencesText(r),
    verdict: r.keysDifferent === 0 ? 'identical' : `${r.keysDifferent} keys differ: look at them before saying go`,
  });

  /** Replicate mode: the target follows the source until its lag is under the threshold. */
  const replicate = async (pre: RedisMovePreflightResult) => {
    m.compensate({
      step: 'replicate',
      manualAction: `redis-cli -h ${input.target.address} -p ${input.target.port} REPLICAOF NO ONE${pre.targetState === 'empty' ? ' and FLUSHALL' : ''}`,
      undo: 'detachTarget',
      args: { flush: pre.targetState === 'empty' },
    });
    return follow(forward, 'replicate');
  };

  /** `d.to` follows `d.from` (REPLICAOF, masterauth from the secret store), until within the lag threshold. */
  const follow = (d: Direction, name: string) =>
    m.step(
      `${d.prefix}${name}`,
      async () => {
        await steps(`REPLICAOF ${d.from.address} ${d.from.port} on the ${d === forward ? 'target' : 'source'}`).redisFollow({ replica: server(d.to), master: server(d.from) });
        const { maxLagBytes, timeoutMs, onTimeout } = input.replicate;
        return m.waitUntil(
          async () => {
            const s = await watch(`replication lag of ${label(d.to)}`).redisCatchUpWindow({ master: server(d.from), replica: server(d.to), maxLagBytes, windowMs: 20_000 });
            m.setFigures({ [`${d.prefix}replicationLagBytes`]: s.lagBytes, [`${d.prefix}replicationLink`]: s.linkUp ? 'up' : 'syncing' });
            return s.linkUp && s.lagBytes <= maxLagBytes ? { done: true as const, value: s } : { done: false as const, state: s };
          },
          null as unknown,
          {
            timeoutMs,
            onTimeout,
            late: (s, waited) => `${label(d.to)} not caught up within ${Math.round(waited / 1000)} s: ${JSON.stringify(s)}`,
            onLate: (n) => m.setFigures({ [`${d.prefix}catchUpNotifications`]: n }),
          },
        );
      },
      (s) => `${label(d.to)} replicates, link up, ${s.lagBytes} bytes behind`,
    );

  /**
   * The write pause of replicate mode, its whole length: pause, final offsets, promotion. Then the per-db
   * counts must be equal, and the keys the live comparison found different are compared again.
   */
  const handOver = async (d: Direction, live: CompareResult | null, saga?: Saga) => {
    const unpause = unpauseUndo(d);
    if (saga) saga.add(unpause);
    else m.compensate(unpause);
    const h: HandOver = await m.step(
      `${d.prefix}hand-over`,
      () =>
        outage(`pause writes on ${label(d.from)}, final catch-up, REPLICAOF NO ONE on ${label(d.to)}`).redisHandOver({
          from: server(d.from),
          to: server(d.to),
          pauseMs: input.writePauseMaxMs,
          timeoutMs: 30_000,
        }),
      (h) => `${label(d.to)} takes writes ${h.pauseToWritableMs} ms after the pause (catch-up ${h.catchUpMs} ms, offset ${h.replicaOffset} ≥ ${h.masterOffset}); keys ${perDb(h.toKeyspace)}`,
    );
    m.setFigures({ [`${d.prefix}writePauseToPromotedMs`]: h.pauseToWritableMs, [`${d.prefix}writesPausedAt`]: h.pausedAt, [`${d.prefix}promotedAt`]: h.promotedAt });
    await m.step(
      `${d.prefix}verify-counts`,
      async () => {
        const differ = countDifferences(h.fromKeyspace, h.toKeyspace);
        if (differ.length) throw new Error(`key counts differ after the hand-over (${label(d.from)} / ${label(d.to)}): ${differ.join(', ')}`);
        if (!live || live.keysDifferent === 0) return `key counts equal: ${perDb(h.toKeyspace)}`;
        // More differed live than were listed: the listed ones are not all there is, so everything again.
        const again =
          live.differences.length < live.keysDifferent
            ? await copies('compare every key again (writes paused)').compareRedisServers({ source: server(input.source), target: server(input.target), settings: compareSettings })
            : await steps(`compare the ${live.differences.length} keys that differed live`).compareRedisKeys({ source: server(input.source), target: server(input.target), keys: live.differences, settings: compareSettings });
        if (again.keysDifferent > 0) throw new Error(`${again.keysDifferent} keys still differ with writes paused: ${differencesText(again)}`);
        return `key counts equal (${perDb(h.toKeyspace)}); the ${again.keysCompared} keys that differed live are identical now`;
      },
      (s) => s,
    );
    return h;
  };

  const switchUndo = (d: Direction) => ({
    step: `${d.prefix}switch-traffic`,
    manualAction: `point ${dns.name} back at ${d.from.address} (nsupdate -k ${tsigKeyLabel(dns)})`,
    undo: 'switchBack' as const,
    args: { from: d.to.address, to: d.from.address },
  });

  const switchTraffic = async (d: Direction) => {
    const r = await m.step(
      `${d.prefix}switch-traffic`,
      () => steps(`${dns.name} → ${d.to.address}`).switchDns({ dns, from: d.from.address, to: d.to.address }),
      (r) => `${dns.name} → ${d.to.address} (${r.changed ? `confirmed in ${r.confirmedMs} ms` : 'already there'})`,
    );
    m.setFigures({ [`${d.prefix}dnsSwitchedAt`]: new Date().toISOString(), [`${d.prefix}dnsConfirmMs`]: r.confirmedMs });
  };

  /** The old side follows the new one: read-only for clients left on it, and kept up to date for a way back. */
  const fence = (d: Direction) =>
    m.step(
      `${d.prefix}fence-${d === forward ? 'source' : 'target'}`,
      () => steps(`${label(d.from)} replicates from ${label(d.to)}, writes unpaused (read-only replica)`).redisFollow({ replica: server(d.from), master: server(d.to) }),
      () => `${label(d.from)} is a read-only replica of ${label(d.to)}: clients left on it get READONLY`,
    );

  const completeEvidence = async (): Promise<Evidence> => {
    const [lag, addresses, keys] = await Promise.all([
      checks('the source follows the target').redisCatchUpWindow({ master: server(input.target), replica: server(input.source), maxLagBytes: input.replicate.maxLagBytes, windowMs: 1000 }),
      checks(`${dns.name} resolves`).lookupDns({ dns }),
      checks('keys on the target').redisKeyspace({ server: server(input.target) }),
    ]);
    return {
      primary: label(input.target),
      keys: `${keys.keys} (${perDb(keys.dbs)})`,
      dns: `${dns.name} → ${addresses.addresses.join(', ')}`,
      sourceFollows: `${lag.linkUp ? 'link up' : 'link down'}, ${lag.lagBytes} bytes behind`,
      lastCheckAt: lag.checkedAt,
      onGo: 'finish: the source stays a read-only replica of the target until you retire it',
      onNoGo: m.status.figures.wayBack === 'possible' ? 'way back: jobs paused, the source caught up and promoted, the name switched back, jobs resumed' : `no way back: ${m.status.figures.wayBack}`,
    };
  };

  // ---- the way back --------------------------------------------------------------------------------

  /**
   * Replicate mode in reverse: the source (a replica of the target since the fence) catches up with the target's
   * new writes, then the same hand-over, switch and fence run the other way. Until the source is promoted, a
   * failure undoes the way back's own steps (the target unpaused, the jobs resumed on it): the target serves on.
   */
  const wayBack = async (): Promise<string> => {
    const own = m.newSaga('way-back');
    try {
      await pauseJobs(back, own);
      await follow(back, 'catch-up');
      await handOver(back, null, own);
    } catch (err) {
      if (continuingAsNew(err)) throw err;
      const { manualActions } = await own.compensate();
      const failed = `the way back failed before the source was promoted (${messageOf(err)})`;
      if (manualActions.length > 0) throw new Error(`${failed}, and undoing it needs a hand: ${manualActions.join('; ')}`);
      throw new Error(`${failed} and was undone: the target still serves, ${dns.name} → ${input.target.address}`);
    }
    return m.wayBackPastPointOfNoReturn(async () => {
      await switchTraffic(back);
      await fence(back);
      await resumeJobs(back);
      return `way back: the source caught up with the target's writes and was promoted, ${dns.name} → ${input.source.address}, the target replicates from it`;
    });
  };

  // ---- the move ------------------------------------------------------------------------------------

  return m.run(async () => {
    const pre = await preflight();
    m.setFigures({
      mode: input.mode,
      sourceVersion: pre.source.version,
      targetVersion: pre.target.version,
      sourceKeys: keysIn(pre.source.keyspace),
      sourceUsedMemoryBytes: pre.source.usedMemoryBytes,
      targetState: pre.targetState,
      wayBack: pre.wayBack.possible ? 'possible' : `refused: ${pre.wayBack.reason}`,
      settings: pre.notes.join('; '),
    });
    await checkDns();

    let copied: { sha256: string; bytes: number } | null = null;
    if (input.mode === 'dump') {
      if (input.gates.pause) {
        await m.gate(
          'pause',
          {
            pauses: `${jobs ? `the job system (${jobs.pause.command}) and ` : ''}writes on ${label(input.source)}, until the switch or a rollback`,
            sourceKeys: `${keysIn(pre.source.keyspace)} (${perDb(pre.source.keyspace)})`,
            sourceDumpBytes: pre.sourceDumpBytes,
            writePauseMaxSeconds: Math.round(input.writePauseMaxMs / 1000),
          },
          input.gates.pause,
        );
      }
      // The run id of the target before its restart: the comparison beside the load waits for another one.
      const overlap = await m.remember(`patch:${OVERLAP_PATCH}`, async () => isPatched(OVERLAP_PATCH, carried));
      const readAhead = overlap && (await m.remember(`patch:${READ_AHEAD_PATCH}`, async () => isPatched(READ_AHEAD_PATCH, carried)));
      const targetRunId = overlap ? (await m.remember('target-run-id', () => checks('run id of the target before its restart').redisRunId({ server: server(input.target) }))).runId : '';
      // Read ahead: the source is read while the jobs still run; the pause starts once it has been.
      const early = readAhead ? startComparison(targetRunId, true) : null;
      const paused = await pauseAfter(early);
      const comparison = early ?? (overlap ? startComparison(targetRunId, false) : null);
      let saved;
      let checked;
      if (comparison) ({ saved, copied, checked } = await loadBesideIntegrity(pre, comparison));
      else {
        saved = await bgsave();
        copied = await copyDump(pre);
        await loadDump(pre);
        checked = await integrity(false);
      }
      // Writes stay paused while the approvers look: past the pause's deadline the source would take writes the
      // target lacks, so the gate closes before it (a late decision rolls back).
      const leftMs = Date.parse(paused.until) - Date.now() - 30_000;
      const cutover = input.gates.cutover;
      await m.gate(
        'cutover',
        {
          mode: 'dump',
          ...integrityEvidence(checked),
          dumpBytes: copied.bytes,
          dumpSha256: copied.sha256,
          writesPausedSince: paused.pausedAt,
          decideBefore: new Date(Date.now() + Math.max(leftMs, 1000)).toISOString(),
          dns: `${dns.name} → ${input.source.address}`,
          irreversible: 'nothing yet: a no-go restores the target, unpauses the source and resumes the jobs on it',
        },
        { ...cutover, timeoutMs: Math.max(1000, Math.min(cutover.timeoutMs ?? Infinity, leftMs)), onTimeout: 'rollback' },
      );
      await m.step(
        'hold-writes',
        async () => {
          const q = await outage('no write on the source since the dump').redisHoldWrites({ server: server(input.source), ms: input.writePauseMaxMs, lastSaveTime: saved.lastSaveTime });
          if (!q.quiet) throw new Error(`the source took writes after the dump (${q.changesSinceSave} changes, last save ${q.lastSaveTime}): the target lacks them; rolling back`);
          return q;
        },
        () => 'no write since the dump; writes stay paused until the fence',
      );
    } else {
      await replicate(pre);
      const live = await integrity(true);
      const liveEvidence = integrityEvidence(live);
      await m.gate(
        'cutover',
        {
          read: async () => {
            const s = await checks('replication lag for the gate').redisCatchUpWindow({
              master: server(input.source),
              replica: server(input.target),
              maxLagBytes: input.replicate.maxLagBytes,
              windowMs: 1000,
            });
            return {
              mode: 'replicate',
              lagBytes: s.lagBytes,
              link: s.linkUp ? 'up' : 'down',
              lastCheckAt: s.checkedAt,
              thresholdBytes: input.replicate.maxLagBytes,
              ...liveEvidence,
              liveComparison: 'compared while the source took writes: keys written meanwhile are compared again once writes are paused',
              dns: `${dns.name} → ${input.source.address}`,
              irreversible: 'nothing yet: a no-go stops the replication and empties the target again',
            };
          },
          everyMs: input.gates.cutover.refreshEveryMs ?? 15_000,
          maxEveryMs: 300_000,
        },
        input.gates.cutover,
      );
      await pauseJobs(forward);
      await handOver(forward, live);
    }

    // Registered before the switch: a switch that times out after taking effect is still undone.
    m.compensate(switchUndo(forward));
    await switchTraffic(forward);
    // From here on the target takes the jobs' writes: going back is the way back, not an undo.
    await m.checkpoint();
    m.passPointOfNoReturn();
    if (pre.wayBack.possible) m.armWayBack();
    await fence(forward);
    await resumeJobs(forward);
    // The archive reads the snapshot kept on the source host: it needs no write pause, so it runs once the jobs
    // run again (inside the pause it doubled the load's time on two cores and held the comparison back).
    if (copied) await archive(pre, copied.sha256);
    if (input.gates.complete) await m.gate('complete', { read: completeEvidence, everyMs: 15_000, maxEveryMs: 300_000 }, input.gates.complete);
    if (input.mode === 'dump') {
      const f = files(pre);
      // The target's own dump, kept aside while ours loaded, is worth keeping only if it held keys.
      const leftovers = [{ host: host(input.source.host), path: f.snapshot }, ...(pre.targetState === 'empty' ? [{ host: host(input.target.host), path: f.previous }] : [])];
      await m.step(
        'clean-up',
        () => steps(`remove the dump snapshot on the source${pre.targetState === 'empty' ? " and the empty target's old dump" : ''}`).removeRedisDumpCopies({ files: leftovers }),
        (r) =>
          `${r.removed.length ? `removed ${r.removed.join(', ')}` : 'nothing left to remove'}` +
          (pre.targetState === 'empty' ? '' : `; the target's keys from before the move are kept in ${input.target.host}:${f.previous}`),
      );
    }
  });
}

/** Per-db key counts that differ, as "db0 1200/1199" (pure; the same rule as the activities'). */
function countDifferences(a: DbKeyspace[], b: DbKeyspace[]): string[] {
  const dbs = [...new Set([...a, ...b].map((d) => d.db))].sort((x, y) => x - y);
  const keys = (k: DbKeyspace[], db: number) => k.find((d) => d.db === db)?.keys ?? 0;
  return dbs.filter((db) => keys(a, db) !== keys(b, db)).map((db) => `db${db} ${keys(a, db)}/${keys(b, db)}`);
}
