// PostgreSQL move: a streaming standby built with pg_basebackup, made synchronous, then a planned failover by
// the trigger file, with zero lost commits and a way back that is always ready.
//
// Phases: preflight → create-slot → base-backup → start-standby → confirm-streaming → catch-up (replay lag
//   under the threshold for a while; figures refresh) → gate `cutover` → synchronous-commit → fence (old
//   primary read-only, standby has all WAL, clean stop, replay LSN = final LSN) → [point of no return] →
//   promote (trigger file or pg_promote) and switch-traffic (DNS) side by side → reverse-replication (the
//   cleanly fenced old primary rejoins as a standby of the new one: no pg_rewind; synchronous if the plan says
//   so, with a guard beside the soak and the gate that relaxes it when the old primary falls away, unless the
//   plan lets writes wait) → soak → gate `complete` → retire-old-primary (the old standby stopped, the reverse
//   slot dropped, passfiles removed). On no-go at `complete`: the switch back (below).
// Messages: decideUpdate / decisionSignal (gates `cutover`, `complete`, `recover`), abortSignal, pauseSignal,
//   resumeSignal, statusQuery; all signed. Outage windows (a pause waits for their end): fence → switch, both ways.
// Compensations before the promotion undo exactly what was done, in reverse order: a failed or aborted fence
//   lifted (old primary restarted if stopped, read-only reset), synchronous settings restored, standby stopped,
//   its data directory removed (only if cutover created it), slot dropped. The old primary serves throughout,
//   but for the fence itself. The promotion is the point of no return (two histories from there): the way back
//   is the reverse move, armed once the promotion is done. When the old primary already streams from the new
//   one (the soak's reverse replication) it is only the switch in the other direction: synchronous-commit /
//   fence / promote / switch-traffic, an outage like the forward one and no catch-up (what Vitess does with
//   reverse replication at SwitchTraffic). Otherwise the old primary rejoins first (pg_rewind when it diverged)
//   and catches up. A no-go at `complete`, an abort after the promotion or a `way-back` decision runs it. Until
//   its own promotion it undoes itself on failure (or on an abort): the new primary keeps serving, alone. It is
//   the lifecycle's way back, a phase of its own, not a compensation. A forward step that fails after the
//   promotion (the DNS switch, the rejoin) opens the recover gate (retry, way back, done by hand).
// Compensations are data (undo procedures dropSlot, stopStandby, removeStandbyCopy, restoreSynchronous,
//   liftFence, each with its direction), so long waits (catch-up under `wait`, gates) continue as new.
// Runs started before patch `way-back-ready` keep the old path: the old primary stays stopped until a no-go.
import { isCancellation, log, patched, sleep, workflowInfo } from '@temporalio/workflow';
import type { CatchUpWindowResult, FenceResult, GuardWindowResult, PgNode, PostgresPreflightResult, ReplicationSample } from '../activities/postgres';
import { secretRefs, type ApprovalPolicy, type CarriedState, type DnsSwitch, type Evidence, type GatePolicy, type MigrationStatus, type SshHost } from './shared/types';
import { checks, copies, guard, outage, steps, undo, watch } from './lib/activity-options';
import { continuingAsNew, Migration } from './lib/migration';
import { messageOf, type Saga } from './lib/saga';
import type { PgAccess, PgServer } from '../activities/postgres/types';

// The servers and logins are the activities' vocabulary too: defined beside them, named here for the input.
export type { PgAccess, PgSecurity, PgServer } from '../activities/postgres/types';

/** How the old primary streams from the new one during the soak. */
export interface ReverseReplication {
  /** The new primary waits for the old one on every commit (at the plan's synchronousCommit level). */
  synchronous: boolean;
  /**
   * Synchronous only, when the old primary falls away: `keep-writing` empties synchronous_standby_names so
   * commits go on (a watch beside the soak and the gate), `block-writes` lets commits wait for it.
   */
  onStandbyLost: 'keep-writing' | 'block-writes';
  /** The old primary counts as lost once it has not streamed, or a commit has waited for it, this long. */
  lostAfterMs: number;
}

const DEFAULT_REVERSE_REPLICATION: ReverseReplication = { synchronous: false, onStandbyLost: 'keep-writing', lostAfterMs: 3000 };

/** Workflow input for the PostgreSQL move. Plain data, already validated by the plan schema. */
export interface PostgresFailoverInput {
  name: string;
  startedBy: string;
  hosts: Record<string, SshHost>;
  access: PgAccess;
  primary: PgServer;
  standby: PgServer & {
    /** Empty a non-empty data directory before the base backup (never done unless the plan says so). */
    overwrite: boolean;
    /** On rollback, remove what the base backup created. */
    removeOnRollback: boolean;
  };
  slotName: string;
  applicationName: string;
  /** pg_basebackup --max-rate in bytes per second; 0 = unlimited. */
  baseBackupMaxRate: number;
  catchUp: { maxLagBytes: number; stableForMs: number; timeoutMs: number; onTimeout: 'rollback' | 'wait'; windowMs: number };
  synchronousCommit: 'on' | 'remote_write' | 'remote_apply';
  promote: 'trigger-file' | 'pg_promote';
  walRetrieveRetryIntervalMs: number;
  soakMs: number;
  /**
   * The way back during the soak: right after the promotion the old primary rejoins as a standby of the new one
   * and streams from it until `complete`. Absent: asynchronous (the default). null: it stays stopped until a
   * no-go asks for the reverse move, which then rejoins it first.
   */
  reverseReplication?: ReverseReplication | null;
  approval: ApprovalPolicy;
  gates: { cutover: GatePolicy; complete: GatePolicy };
  /** The name clients use; it points at the primary's address and moves to the standby's. */
  traffic: { dns: DnsSwitch };
  /** Where the run's report goes (GCS bucket and object prefix); absent: not stored. */
  artifacts?: { bucket: string; prefix: string };
}

/** Patch id (workflow versioning): the reverse move undoes its own steps if it fails before its promotion. */
const REVERSE_MOVE_UNDO = 'reverse-move-undo';
/** Patch id: gate evidence refreshed by the gate's own loop (before: a refresher beside the gate). */
const GATE_EVIDENCE = 'gate-evidence-lifecycle';
/**
 * Patch id: the way back is always ready. The way back is armed as soon as the promotion is done (a failed DNS
 * switch may take it); the old primary rejoins as a standby right after the promotion (step
 * `reverse-replication`); the reverse move skips rejoin and catch-up when it already streams; `complete`
 * retires the old side (standby stopped, reverse slot dropped, passfiles removed). Decided once in the whole
 * story (remembered): a run carried over from one started before it keeps the old path.
 */
const WAY_BACK_READY = 'way-back-ready';

/** Settings the move changes on a primary; read first so an undo (or the reverse move) restores them. */
const CHANGED_SETTINGS = ['synchronous_standby_names', 'synchronous_commit', 'default_transaction_read_only'];
/** The step that makes the old primary a standby of the new one right after the promotion. */
const REVERSE_REPLICATION = 'reverse-replication';

/** One direction of replication: the forward move (dc1 → dc2) or the reverse move (back). */
interface Direction {
  from: PgNode;
  to: PgNode;
  slot: string;
  applicationName: string;
  /** Step and figure prefix: '' forward, 'reverse-' back. */
  prefix: '' | 'reverse-';
}

type Way = 'forward' | 'back';

export async function postgresFailover(input: PostgresFailoverInput, carried?: CarriedState): Promise<MigrationStatus> {
  /**
   * Undo procedures: compensations name one and give its argument (plain data, carried across
   * continue-as-new); `dir` says which direction's servers they act on.
   */
  const undos = {
    /** Undo of the create-slot step: the slot dropped on `d.from`. */
    async dropSlot({ dir }: { dir: Way }) {
      const d = direction(dir);
      return (await undo('drop the slot').dropSlot({ access, server: d.from, slot: d.slot })).dropped ? `slot ${d.slot} dropped` : `slot ${d.slot} was not there`;
    },
    /** Undo of starting `d.to` as a standby: stopped (its data stays: a standby of `d.from`). */
    async stopStandby({ dir }: { dir: Way }) {
      const d = direction(dir);
      return (await undo('stop the standby').stopPostgres({ access, server: d.to })).wasRunning ? `${label(d.to)} stopped` : `${label(d.to)} was not running`;
    },
    /** Undo of the base backup: what it created on the standby's host removed. */
    async removeStandbyCopy({ previousState }: { previousState: PostgresPreflightResult['targetState'] }) {
      return (await undo('remove the standby copy').removeStandbyDataDir({ access, standby: forward.to, previousState })).removed;
    },
    /** Undo of the synchronous-commit step: `d.from`'s settings as they were (`before`, read just ahead of it). */
    async restoreSynchronous({ dir, before }: { dir: Way; before: Record<string, string | null> }) {
      const d = direction(dir);
      const restore = { synchronous_standby_names: before.synchronous_standby_names, synchronous_commit: before.synchronous_commit };
      const r = await undo('restore synchronous settings').applySettings({ access, server: d.from, settings: restore });
      return `synchronous_standby_names = '${r.applied.synchronous_standby_names}', synchronous_commit = ${r.applied.synchronous_commit} again`;
    },
    /**
     * Undo of a fence that failed or was aborted: until the standby is promoted, the fenced primary's data is
     * the only truth, so it may take writes again (restarted if the fence stopped it; refused if the standby is promoted).
     */
    async liftFence({ dir, before }: { dir: Way; before: Record<string, string | null> }) {
      const d = direction(dir);
      const r = await undo('restart the fenced primary if the fence stopped it').restartFencedPrimary({ access, primary: d.from, standby: d.to });
      const readOnly = { default_transaction_read_only: before.default_transaction_read_only };
      const s = await undo('lift read-only on the fenced primary').applySettings({ access, server: d.from, settings: readOnly });
      return `${label(d.from)} ${r.alreadyRunning ? 'was still running' : 'restarted'}, default_transaction_read_only = ${s.applied.default_transaction_read_only}`;
    },
  };
  const migrationId = workflowInfo().workflowId;
  const { access } = input;
  const node = (s: PgServer): PgNode => ({ ...s, ssh: input.hosts[s.host] });
  const label = (s: PgServer) => `${s.host} (${s.address}:${s.port})`;
  const dns = input.traffic.dns;
  const reverseReplication = input.reverseReplication === undefined ? DEFAULT_REVERSE_REPLICATION : input.reverseReplication;
  const forward: Direction = { from: node(input.primary), to: node(input.standby), slot: input.slotName, applicationName: input.applicationName, prefix: '' };
  const back: Direction = {
    from: forward.to,
    to: forward.from,
    slot: `${input.slotName}_reverse`,
    applicationName: `${input.applicationName}_reverse`,
    prefix: 'reverse-',
  };
  const m = new Migration({
    undos,
    input,
    carried,
    kind: 'postgres-failover',
    name: input.name,
    startedBy: input.startedBy,
    approval: input.approval,
    pointOfNoReturn: 'promote',
    artifacts: input.artifacts,
    // Armed once traffic has switched: from then on a no-go, an abort or a `way-back` decision runs it.
    wayBack: {
      step: 'reverse-move',
      manualAction:
        `reverse by hand: make ${label(forward.from)} a standby of ${label(forward.to)}, catch up, fence ${forward.to.host}, ` +
        `promote ${forward.from.host}, point ${dns.name} at ${forward.from.address}`,
      run: () => reverseMove(),
    },
  });
  const direction = (dir: Way) => (dir === 'forward' ? forward : back);
  const way = (d: Direction): Way => (d.prefix ? 'back' : 'forward');
  /** Figure names: `lagBytes` forward, `reverseLagBytes` back. */
  const fig = (d: Direction, name: string) => (d.prefix ? `reverse${name[0].toUpperCase()}${name.slice(1)}` : name);
  const recordSample = (d: Direction, s: ReplicationSample) =>
    m.setFigures({
      [fig(d, 'lagBytes')]: s.lagBytes,
      [fig(d, 'replayLagMs')]: s.replayLagMs ?? -1,
      [fig(d, 'replicationState')]: s.state,
      [fig(d, 'syncState')]: s.syncState ?? 'none',
      [fig(d, 'slot')]: slotText(d.slot, s),
      [fig(d, 'lastCheckAt')]: s.checkedAt,
    });
  m.setFigures({ primary: label(forward.from), standby: label(forward.to) });

  /**
   * The old primary (`back.to`) rejoins as a standby of the new one, its settings as they were before the move
   * (`restore`): after the promotion for the soak, or in the reverse move. No pg_rewind after a clean fence.
   */
  const rejoinOldPrimaryAsStandby = (restore: Record<string, string | null>) =>
    copies(`${label(back.to)} rejoins as a standby of ${label(back.from)}`).rejoinAsStandby({
      migrationId,
      access,
      node: back.to,
      upstream: back.from,
      slot: back.slot,
      applicationName: back.applicationName,
      walRetrieveRetryIntervalMs: input.walRetrieveRetryIntervalMs,
      restore,
      foreignSettings: Object.keys(input.standby.settings),
    });

  // ---- phases --------------------------------------------------------------------------------------

  const preflight = () =>
    m.check(
      'preflight',
      () =>
        checks('read-only checks of both servers, hosts and DNS').preflightPostgres({
          access,
          primary: forward.from,
          standby: { ...forward.to, overwrite: input.standby.overwrite },
          slotName: input.slotName,
          applicationName: input.applicationName,
          dns,
          secrets: secretRefs(input),
        }),
      (r) =>
        `${r.primaryVersion}, wal_level ${r.walLevel}, ${r.primarySizeBytes} bytes; target ${r.targetState}, ${r.standbyFreeBytes} bytes free; ` +
        `${dns.name} → ${r.dnsAddresses.join(', ')}`,
    );

  const createSlot = (d: Direction) =>
    m.step(
      `${d.prefix}create-slot`,
      () => steps(`replication slot ${d.slot} on ${d.from.host}`).createSlot({ access, server: d.from, slot: d.slot }),
      (r) => `slot ${d.slot} on ${label(d.from)} ${r.created ? 'created' : 'already there'} at ${r.restartLsn}`,
    );

  const baseBackup = async (pre: PostgresPreflightResult) => {
    const r = await m.step(
      'base-backup',
      () =>
        copies(`pg_basebackup ${label(forward.from)} → ${forward.to.host}:${forward.to.dataDir}`).baseBackup({
          migrationId,
          access,
          primary: forward.from,
          standby: forward.to,
          slot: input.slotName,
          applicationName: input.applicationName,
          maxRateBytesPerSec: input.baseBackupMaxRate,
          previousState: pre.targetState,
          overwrite: input.standby.overwrite,
          walRetrieveRetryIntervalMs: input.walRetrieveRetryIntervalMs,
        }),
      (r) =>
        r.alreadyDone
          ? `already complete (${r.bytes} bytes), attempt ${r.attempt}`
          : `${r.bytes} bytes in ${(r.durationMs / 1000).toFixed(1)} s (${Math.round(r.rateBytesPerSec / 1024)} KiB/s)` +
            (r.attempt > 1 ? `, attempt ${r.attempt}${r.cleanedPartial ? ' after removing the partial copy' : ''}` : ''),
    );
    m.setFigures({ baseBackupBytes: r.bytes, baseBackupMs: r.durationMs, baseBackupAttempts: r.attempt });
  };

  const startServer = (d: Direction, name: string) =>
    m.step(
      name,
      () => steps(`pg_ctl start ${label(d.to)}`).startPostgres({ access, server: d.to }),
      (r) => (r.alreadyRunning ? `${label(d.to)} already running` : `${label(d.to)} started in ${r.startMs} ms`),
    );

  const confirmStreaming = async (d: Direction) => {
    const s = await m.step(
      `${d.prefix}confirm-streaming`,
      () =>
        steps(`${d.applicationName} streams from ${d.from.host}`).awaitStreaming({
          access,
          primary: d.from,
          standby: d.to,
          applicationName: d.applicationName,
          slot: d.slot,
          timeoutMs: 120_000,
        }),
      (s) => `${d.applicationName} ${s.state} from ${label(d.from)}, ${s.lagBytes} bytes behind, replay lag ${s.replayLagMs ?? '?'} ms`,
    );
    recordSample(d, s);
  };

  /** Replay lag must stay under the threshold for a while; each window of samples refreshes the figures. */
  const catchUp = (d: Direction) => {
    const { maxLagBytes, stableForMs, timeoutMs, onTimeout, windowMs } = input.catchUp;
    type Watched = { underSince: string | null; sample?: ReplicationSample };
    const window = async ({ underSince }: Watched) => {
      const w: CatchUpWindowResult = await watch(`replay lag of ${d.applicationName} under ${maxLagBytes} bytes`).watchCatchUp({
        access,
        primary: d.from,
        applicationName: d.applicationName,
        slot: d.slot,
        maxLagBytes,
        stableForMs,
        underSince,
        windowMs,
        pollMs: Math.min(1000, windowMs),
      });
      recordSample(d, w.sample);
      return w.caughtUp ? { done: true as const, value: w.sample } : { done: false as const, state: { underSince: w.underSince, sample: w.sample } };
    };
    return m.step(
      `${d.prefix}catch-up`,
      () =>
        m.waitUntil(window, { underSince: null } as Watched, {
          timeoutMs,
          onTimeout,
          late: ({ sample: s }, waitedMs) =>
            `replay lag of ${d.applicationName} did not stay under ${maxLagBytes} bytes for ${stableForMs / 1000} s within ` +
            `${Math.round(waitedMs / 1000)} s: ${s?.lagBytes} bytes behind (${s?.state})`,
          onLate: (notifications) => m.setFigures({ [fig(d, 'catchUpNotifications')]: notifications }),
        }),
      (s) => `${s.lagBytes} bytes behind, replay lag ${s.replayLagMs ?? '?'} ms, stable for ${stableForMs / 1000} s`,
    );
  };

  /**
   * A gate whose evidence stays fresh: read again while it waits (every 15 s, backing off to 5 min, or at the
   * plan's own fixed interval), and the decision records the evidence as last shown. A long wait continues as
   * new, so the history stays bounded either way.
   */
  const gate = (name: string, read: () => Promise<Evidence>, policy: GatePolicy) =>
    patched(GATE_EVIDENCE)
      ? m.gate(name, policy.refreshEveryMs ? { read, everyMs: policy.refreshEveryMs } : { read, everyMs: 15_000, maxEveryMs: 300_000 }, policy)
      : m.gateWithFloatingRefresher(name, read, policy);

  const cutoverEvidence = async (): Promise<Evidence> => {
    const s = await checks('replication status for the gate').replicationStatus({
      access,
      primary: forward.from,
      applicationName: input.applicationName,
      slot: input.slotName,
    });
    recordSample(forward, s);
    return {
      lagBytes: s.lagBytes,
      replayLagMs: s.replayLagMs,
      replicationState: s.state,
      syncState: s.syncState,
      slot: slotText(input.slotName, s),
      lastCheckAt: s.checkedAt,
      thresholdBytes: input.catchUp.maxLagBytes,
      primary: label(forward.from),
      standby: label(forward.to),
      dns: `${dns.name} → ${forward.from.address}`,
      irreversible: 'nothing yet: a no-go stops the standby, removes its copy and drops the slot',
    };
  };

  /** synchronous_standby_names = the standby, synchronous_commit as planned; confirmed sync with no lag. */
  const goSynchronous = async (d: Direction) => {
    const settings = { synchronous_standby_names: `FIRST 1 ("${d.applicationName}")`, synchronous_commit: input.synchronousCommit };
    const s = await m.step(
      `${d.prefix}synchronous-commit`,
      async () => {
        await steps(`synchronous_standby_names on ${d.from.host}`).applySettings({ access, server: d.from, settings });
        return steps(`sync_state = sync for ${d.applicationName}`).confirmSync({
          access,
          primary: d.from,
          applicationName: d.applicationName,
          slot: d.slot,
          timeoutMs: 60_000,
        });
      },
      (s) => `${d.applicationName} sync_state ${s.syncState}, flushed up to ${s.flushLsn} (${s.lagBytes} bytes replay lag), in ${s.waitedMs} ms`,
    );
    recordSample(d, s);
  };

  const fence = async (d: Direction) => {
    const r = await m.step(
      `${d.prefix}fence`,
      () =>
        outage(`fence ${label(d.from)}: read-only, standby has all WAL, clean stop`).fencePrimary({
          access,
          primary: d.from,
          standby: d.to,
          applicationName: d.applicationName,
          slot: d.slot,
          timeoutMs: 15_000,
        }),
      (r) =>
        `${label(d.from)} ${r.alreadyStopped ? 'was already stopped' : `read-only at ${r.readOnlyAt} (${r.terminatedWriters} writers ended), stopped cleanly`}; ` +
        `final LSN ${r.finalLsn} = standby replay LSN ${r.standbyReplayLsn}`,
    );
    m.setFigures({
      [fig(d, 'readOnlyAt')]: r.readOnlyAt ?? '',
      [fig(d, 'stoppedAt')]: r.stoppedAt ?? '',
      [fig(d, 'finalLsn')]: r.finalLsn,
      [fig(d, 'standbyReplayLsn')]: r.standbyReplayLsn,
      [fig(d, 'fenceTimings')]: `read-only ${r.timings.readOnlyMs}, flush wait ${r.timings.flushWaitMs}, stop ${r.timings.stopMs}, verify ${r.timings.verifyMs} ms`,
    });
    return r;
  };

  const promote = async (d: Direction, readOnlyAt: string | null) => {
    const r = await m.step(
      `${d.prefix}promote`,
      () =>
        outage(`promote ${label(d.to)} (${input.promote})`).promoteStandby({
          access,
          standby: d.to,
          method: input.promote,
          timeoutMs: 60_000,
        }),
      (r) =>
        r.alreadyPromoted
          ? `${label(d.to)} was already promoted (timeline ${r.timeline})`
          : `${label(d.to)} promoted by ${r.method} in ${r.promoteMs} ms, takes writes on timeline ${r.timeline}`,
    );
    m.setFigures({
      primary: label(d.to),
      standby: `none: ${label(d.from)} stopped, read-only`,
      [fig(d, 'promoteMs')]: r.promoteMs,
      [fig(d, 'promotedAt')]: r.writableAt,
      ...(r.inRecoveryAt ? { [fig(d, 'inRecoveryAt')]: r.inRecoveryAt } : {}),
      ...(readOnlyAt ? { [fig(d, 'fenceToWritableMs')]: Date.parse(r.writableAt) - Date.parse(readOnlyAt) } : {}),
    });
  };

  /** `settled`: a failure waits for it before opening the recover gate (the promotion beside it, so the gate knows if there is a way back). */
  const switchTraffic = async (d: Direction, settled?: Promise<unknown>) => {
    const r = await m.step(
      `${d.prefix}switch-traffic`,
      async () => {
        try {
          return await steps(`${dns.name} → ${d.to.address}`).switchDns({ dns, from: d.from.address, to: d.to.address });
        } catch (err) {
          await settled?.catch(() => undefined);
          throw err;
        }
      },
      (r) => `${dns.name} → ${d.to.address} (${r.changed ? `confirmed in ${r.confirmedMs} ms` : 'already there'})`,
    );
    m.setFigures({ [fig(d, 'dnsSwitchedAt')]: new Date().toISOString(), [fig(d, 'dnsConfirmMs')]: r.confirmedMs });
  };

  /**
   * Promote and point the name at the new primary at the same time. Between the fence and the promotion no
   * client can write anywhere, and the standby holds every committed byte (the fence checked): clients that
   * follow the name early connect to the standby, are told it is read-only, and their next try commits. So the
   * write outage ends when the promotion does, not one DNS update and one reconnect later.
   */
  const promoteAndSwitch = async (d: Direction, readOnlyAt: string | null, armWayBackOnPromotion = false) => {
    // Once the standby is promoted the way back exists: a switch that fails then offers it at the recover gate.
    const promoted = armWayBackOnPromotion ? promote(d, readOnlyAt).then(() => m.armWayBack()) : promote(d, readOnlyAt);
    // Both run to their end before a failure of either is reported, so nothing is left in flight.
    const results = await Promise.allSettled([promoted, switchTraffic(d, armWayBackOnPromotion ? promoted : undefined)]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  };

  const completeEvidence = async (): Promise<Evidence> => {
    const [now, addresses] = await Promise.all([
      checks(`state of ${label(forward.to)}`).serverState({ access, server: forward.to }),
      checks(`${dns.name} resolves`).lookupDns({ dns }),
    ]);
    const primary = {
      primary: label(forward.to),
      acceptsWrites: now.acceptsWrites,
      lsn: now.lsn,
      lastCheckAt: now.checkedAt,
      dns: `${dns.name} → ${addresses.addresses.join(', ')}`,
    };
    if (m.finished(REVERSE_REPLICATION)) {
      const s = await checks(`${back.applicationName} streams from ${forward.to.host}`).replicationStatus({
        access,
        primary: back.from,
        applicationName: back.applicationName,
        slot: back.slot,
      });
      recordSample(back, s);
      const streams = s.state === 'streaming' && s.lagBytes <= input.catchUp.maxLagBytes;
      return {
        ...primary,
        wayBack: `${label(forward.from)} ${s.state === 'streaming' ? 'streams' : `does not stream (${s.state})`} from ${forward.to.host} (sync_state ${s.syncState ?? 'none'}), ${s.lagBytes} bytes behind`,
        reverseSlot: slotText(back.slot, s),
        onGo: `retire ${label(forward.from)}: stop it, drop slot ${back.slot} on ${forward.to.host}, remove the passfiles; finish`,
        onNoGo: streams
          ? `switch back at once (no rejoin, no catch-up): synchronous commit, fence ${forward.to.host}, promote ${forward.from.host}, ${dns.name} → ${forward.from.address}`
          : `reverse move: ${forward.from.host} rejoins or catches up first, then fence/promote/switch back`,
      };
    }
    return {
      ...primary,
      oldPrimary: `${label(forward.from)} stopped and read-only, ended at ${m.status.figures.finalLsn}`,
      onGo: `drop slot ${input.slotName} left in ${label(forward.from)}; finish`,
      onNoGo: `reverse move: ${forward.from.host} rejoins as a standby of ${forward.to.host}, catches up, then fence/promote/switch back`,
    };
  };

  const soak = () =>
    m.step('soak', async () => {
      await m.sleep(input.soakMs);
      const s = await checks(`state of ${label(forward.to)}`).serverState({ access, server: forward.to });
      if (!s.acceptsWrites) throw new Error(`new primary ${label(forward.to)} does not take writes after the soak: ${s.error ?? (s.inRecovery ? 'in recovery' : 'read-only')}`);
      return s;
    }, (s) => `${label(forward.to)} takes writes at ${s.lsn} after ${input.soakMs / 1000} s`);

  /**
   * Right after the promotion the old primary (cleanly fenced: no pg_rewind) becomes a standby of the new one, so
   * the old datacenter holds a live copy during the soak and a no-go at `complete` is only the switch back.
   * Its old slot goes (a standby keeps WAL for its slots). Synchronous when the plan says so; if that cannot be
   * confirmed the new primary's settings are put back before the step fails, so writes never wait on it.
   */
  const rejoinOldPrimary = (rr: ReverseReplication) =>
    m.step(
      REVERSE_REPLICATION,
      async () => {
        const restore = await m.remember('settings-before', () => readSettings(forward.from));
        const slot = await steps(`replication slot ${back.slot} on ${back.from.host}`).createSlot({ access, server: back.from, slot: back.slot });
        const rejoin = await rejoinOldPrimaryAsStandby(restore);
        await steps(`pg_ctl start ${label(back.to)}`).startPostgres({ access, server: back.to });
        let sample = await steps(`${back.applicationName} streams from ${back.from.host}`).awaitStreaming({
          access,
          primary: back.from,
          standby: back.to,
          applicationName: back.applicationName,
          slot: back.slot,
          timeoutMs: 120_000,
        });
        const oldSlot = await steps(`drop slot ${forward.slot} on ${label(back.to)}, a standby now`).dropSlot({ access, server: back.to, slot: forward.slot });
        if (rr.synchronous) {
          const before = await m.remember('reverse-settings-before', () => readSettings(back.from));
          const settings = { synchronous_standby_names: `FIRST 1 ("${back.applicationName}")`, synchronous_commit: input.synchronousCommit };
          try {
            await steps(`synchronous_standby_names on ${back.from.host}`).applySettings({ access, server: back.from, settings });
            sample = await steps(`sync_state = sync for ${back.applicationName}`).confirmSync({
              access,
              primary: back.from,
              applicationName: back.applicationName,
              slot: back.slot,
              timeoutMs: 60_000,
            });
          } catch (err) {
            await undo(`synchronous settings of ${back.from.host} as they were`).applySettings({ access, server: back.from, settings: synchronousOf(before) });
            throw err;
          }
        }
        return { rejoin, slotCreated: slot.created, oldSlotDropped: oldSlot.dropped, sample };
      },
      (r) =>
        `${label(back.to)} streams from ${label(back.from)} (${rr.synchronous ? `synchronous, ${rr.onStandbyLost} if it falls away` : 'asynchronous'}), ` +
        `${r.sample.lagBytes} bytes behind; ${r.rejoin.rewound ? `pg_rewind ran: ${r.rejoin.reason}` : r.rejoin.reason}; ` +
        `slot ${back.slot} on ${back.from.host}; slot ${forward.slot} ${r.oldSlotDropped ? 'dropped' : 'absent'} on ${back.to.host}`,
    ).then((r) => {
      if (!r) return;
      recordSample(back, r.sample);
      m.setFigures({
        standby: `${label(back.to)}, streaming from ${back.from.host} (${rr.synchronous ? 'synchronous' : 'asynchronous'})`,
        reverseReplication: rr.synchronous ? `synchronous, ${rr.onStandbyLost} if it falls away` : 'asynchronous',
      });
    });

  /**
   * Beside the soak and the `complete` gate, when the soak's reverse replication is synchronous and must not
   * block writes: a watch on the new primary empties synchronous_standby_names once the old primary falls away.
   * It stays asynchronous from then on (the way back makes it synchronous again before its fence).
   */
  const guardReverseStandby = (rr: ReverseReplication) => async () => {
    let lostSince: string | null = null;
    for (;;) {
      try {
        const w: GuardWindowResult = await guard(`relax synchronous commit on ${back.from.host} if ${back.applicationName} falls away`).guardSynchronousStandby({
          access,
          primary: back.from,
          applicationName: back.applicationName,
          slot: back.slot,
          lostAfterMs: rr.lostAfterMs,
          lostSince,
          windowMs: 120_000,
          pollMs: 200,
        });
        lostSince = w.lostSince;
        if (w.relaxed) {
          log.warn('the old primary fell away: synchronous reverse replication relaxed, writes go on', { reason: w.reason });
          m.setFigures({ reverseReplication: `asynchronous since ${w.relaxedAt}: ${w.reason}`, reverseSyncRelaxedAt: w.relaxedAt ?? '' });
          return;
        }
      } catch (err) {
        if (isCancellation(err)) throw err;
        m.setFigures({ reverseGuardError: messageOf(err) });
        await sleep(10_000);
      }
    }
  };

  /** `complete` go after a soak with reverse replication: the old side retired, the new primary alone. */
  const retireOldSide = (rr: ReverseReplication | null) =>
    m.step(
      'retire-old-primary',
      async () => {
        if (rr?.synchronous) {
          // First, or stopping the old primary would leave the new one waiting on it.
          const before = await m.remember('reverse-settings-before', async () => ({}) as Record<string, string | null>);
          await steps(`synchronous settings of ${back.from.host} as they were`).applySettings({ access, server: back.from, settings: synchronousOf(before) });
        }
        const stopped = await steps(`stop ${label(forward.from)}`).stopPostgres({ access, server: forward.from });
        const reverseSlot = await steps(`drop slot ${back.slot} on ${label(back.from)}`).dropSlot({ access, server: back.from, slot: back.slot });
        const oldSlot = await steps(`drop slot ${forward.slot} in ${label(forward.from)} if still there`).dropSlotOffline({ access, server: forward.from, slot: forward.slot });
        await steps(`remove the replication passfile on ${forward.from.host}`).removePassfile({ server: forward.from });
        await steps(`remove the replication passfile on ${forward.to.host}`).removePassfile({ server: forward.to });
        return (
          `${label(forward.from)} ${stopped.wasRunning ? 'stopped' : 'was stopped'} (a standby, left stopped); slot ${back.slot} ` +
          `${reverseSlot.dropped ? 'dropped' : 'absent'} on ${forward.to.host}; slot ${forward.slot} ${oldSlot.dropped ? `dropped (${oldSlot.how})` : 'absent'} ` +
          `in ${forward.from.host}; passfiles removed`
        );
      },
      (r) => r,
    );

  const retireOldPrimary = () =>
    m.step(
      'retire-old-primary',
      async () => {
        const slot = await steps(`drop slot ${input.slotName} in ${label(forward.from)}`).dropSlotOffline({ access, server: forward.from, slot: input.slotName });
        await steps(`remove the replication passfile on ${forward.to.host}`).removePassfile({ server: forward.to });
        return slot;
      },
      (r) => `slot ${input.slotName} ${r.dropped ? `dropped (${r.how})` : 'was not there'}; ${label(forward.from)} stays stopped and read-only`,
    );

  /** The settings the move changes, as `s` has them now (read before changing them, for their undo). */
  const readSettings = (s: PgNode) => checks(`settings of ${label(s)}`).readAutoConf({ access, server: s, names: CHANGED_SETTINGS });

  const slotUndo = (d: Direction, step = `${d.prefix}create-slot`) => ({
    step,
    manualAction: `drop slot ${d.slot} on ${label(d.from)}: select pg_drop_replication_slot('${d.slot}')`,
    undo: 'dropSlot' as const,
    args: { dir: way(d) },
  });
  const standbyStopUndo = (d: Direction, step: string) => ({
    step,
    manualAction: `stop the standby: pg_ctl stop -D ${d.to.dataDir} -m fast (on ${d.to.host})`,
    undo: 'stopStandby' as const,
    args: { dir: way(d) },
  });
  const synchronousUndo = (d: Direction, before: Record<string, string | null>) => ({
    step: `${d.prefix}synchronous-commit`,
    manualAction: `on ${label(d.from)}: ALTER SYSTEM RESET synchronous_standby_names; ALTER SYSTEM RESET synchronous_commit; SELECT pg_reload_conf()`,
    undo: 'restoreSynchronous' as const,
    args: { dir: way(d), before },
  });
  const fenceUndo = (d: Direction, before: Record<string, string | null>) => ({
    step: `${d.prefix}fence`,
    manualAction:
      `if ${label(d.to)} is still in recovery: on ${label(d.from)} pg_ctl start if it is stopped, then ALTER SYSTEM RESET ` +
      `default_transaction_read_only; SELECT pg_reload_conf(). If it was promoted, leave ${d.from.host} stopped and rejoin it as its standby`,
    undo: 'liftFence' as const,
    args: { dir: way(d), before },
  });

  /**
   * After a soak with reverse replication: does the old primary still stream from the new one, close behind?
   * Then the way back needs no rejoin and no catch-up.
   */
  const reverseStandbyStreams = async () => {
    const s = await m.check(
      'reverse-check-standby',
      () => checks(`${back.applicationName} streams from ${back.from.host}`).replicationStatus({ access, primary: back.from, applicationName: back.applicationName, slot: back.slot }),
      (s) =>
        s.state === 'streaming' && s.lagBytes <= input.catchUp.maxLagBytes
          ? `${label(back.to)} streams from ${label(back.from)} since the soak, ${s.lagBytes} bytes behind: no rejoin, no catch-up`
          : `${label(back.to)} ${s.state === 'streaming' ? `is ${s.lagBytes} bytes behind` : `does not stream (${s.state})`}: rejoin and catch up first`,
    );
    recordSample(back, s);
    return s.state === 'streaming' && s.lagBytes <= input.catchUp.maxLagBytes;
  };

  /** The reverse move up to its fence; every step registers its undo in `own` first. */
  const reverseUpToFence = async (own: Saga, undoable: boolean): Promise<{ how: string; fenced: FenceResult }> => {
    // The old primary's settings as read before the forward move changed them (stored: a run resumed inside
    // the way back never went through the forward path).
    const restore = await m.remember('settings-before', () => readSettings(forward.from));
    if (m.finished(REVERSE_REPLICATION) && (await reverseStandbyStreams())) {
      // Undone like the full path's own: the old primary stopped, the reverse slot dropped, the new primary alone.
      own.add(slotUndo(back, REVERSE_REPLICATION));
      own.add(standbyStopUndo(back, REVERSE_REPLICATION));
      return { how: `${label(back.to)} streamed from ${label(back.from)} since the soak`, fenced: await reverseSwitchUpToFence(own, undoable) };
    }
    own.add(slotUndo(back));
    await createSlot(back);
    own.add(standbyStopUndo(back, 'reverse-start'));
    const rejoin = await m.step(
      'reverse-rejoin',
      () =>
        rejoinOldPrimaryAsStandby(restore),
      (r) => (r.rewound ? `pg_rewind ran: ${r.reason}` : r.reason),
    );
    await startServer(back, 'reverse-start');
    await confirmStreaming(back);
    await catchUp(back);
    return { how: `${label(back.to)} rejoined as a standby of ${label(back.from)} (${rejoin?.reason ?? 'done by hand'}), caught up`, fenced: await reverseSwitchUpToFence(own, undoable) };
  };

  /** The switch back up to its fence: synchronous commit on the new primary, then its fence. */
  const reverseSwitchUpToFence = async (own: Saga, undoable: boolean) => {
    // Read before the soak's synchronous reverse replication changed them, when it did: undone, the new
    // primary waits on nobody.
    const before = undoable ? await m.remember('reverse-settings-before', () => readSettings(back.from)) : {};
    own.add(synchronousUndo(back, before));
    await goSynchronous(back);
    own.add(fenceUndo(back, before));
    // Writers are held off from the reverse fence until the reverse switch: a pause waits for it (reverseMove closes it).
    m.openOutageWindow('reverse fence → switch');
    return fence(back);
  };

  /** A reverse move that failed before its promotion: its own steps undone, the new primary still serving. */
  const abandonReverse = async (own: Saga, undoable: boolean, err: unknown): Promise<never> => {
    if (!undoable || continuingAsNew(err)) throw err;
    const { manualActions } = await own.compensate();
    const failed = `the reverse move failed before ${label(back.to)} was promoted (${messageOf(err)})`;
    if (manualActions.length > 0) throw new Error(`${failed}, and undoing it needs a hand: ${manualActions.join('; ')}`);
    m.setFigures({ primary: label(back.from), standby: `none: ${label(back.to)} stopped` });
    throw new Error(`${failed} and was undone: ${label(back.from)} is still the primary and takes writes, ${dns.name} → ${back.from.address}`);
  };

  /**
   * The way back after the promotion: the same move in the other direction, with the old primary as the
   * standby. Until the old primary is promoted again, a failure undoes the reverse's own steps (the new
   * primary's fence lifted, its settings restored, the old primary stopped, the reverse slot dropped): the new
   * primary keeps serving, and the run reports that it is still there.
   */
  const reverseMove = async (): Promise<string> => {
    // Runs recorded before the reverse move could undo itself replay on the path without it.
    const undoable = patched(REVERSE_MOVE_UNDO);
    // Runs started before the way back was always ready leave dc2's passfile to the operator, as they did.
    const ready = await m.remember(WAY_BACK_READY, async () => false);
    const own = m.newSaga('reverse-move');
    const { how, fenced } = await reverseUpToFence(own, undoable).catch((err) => abandonReverse(own, undoable, err));
    // From the reverse promotion on, the way back finishes whatever happens: an abort no longer stops it.
    return m.wayBackPastPointOfNoReturn(async () => {
      await promoteAndSwitch(back, fenced.readOnlyAt);
      m.closeOutageWindow();
      await m.step('reverse-cleanup', async () => {
        const forwardSlot = await steps(`drop slot ${forward.slot} on ${label(back.to)}`).dropSlot({ access, server: back.to, slot: forward.slot });
        const reverseSlot = await steps(`drop slot ${back.slot} in ${label(back.from)}`).dropSlotOffline({ access, server: back.from, slot: back.slot });
        await steps(`remove the replication passfile on ${back.to.host}`).removePassfile({ server: back.to });
        if (ready) await steps(`remove the replication passfile on ${back.from.host}`).removePassfile({ server: back.from });
        return `slot ${forward.slot} ${forwardSlot.dropped ? 'dropped' : 'absent'} on ${back.to.host}; slot ${back.slot} ${reverseSlot.dropped ? 'dropped' : 'absent'} in ${back.from.host}`;
      }, (s) => s);
      return (
        `reverse move: ${how}, ` +
        `${label(back.from)} fenced at ${fenced.finalLsn}, ${label(back.to)} promoted, ${dns.name} → ${back.to.address}; ` +
        `primary is ${label(back.to)}, ${label(back.from)} stays stopped and read-only`
      );
    });
  };

  // ---- the move ------------------------------------------------------------------------------------

  return m.run(async () => {
    const ready = await m.remember(WAY_BACK_READY, async () => carried === undefined && patched(WAY_BACK_READY));
    const pre = await preflight();
    m.setFigures({
      primaryVersion: pre.primaryVersion,
      primarySizeBytes: pre.primarySizeBytes,
      targetState: pre.targetState,
      // TLS and password methods, with any relaxation the plan made: in the status and the report.
      ...(pre.connectionSecurity ? { connectionSecurity: pre.connectionSecurity } : {}),
    });

    m.compensate(slotUndo(forward));
    await createSlot(forward);

    if (input.standby.removeOnRollback) {
      m.compensate({
        step: 'base-backup',
        manualAction: `remove ${input.standby.dataDir} and ${input.standby.passfile} on ${input.standby.host}`,
        undo: 'removeStandbyCopy',
        args: { previousState: pre.targetState },
      });
    }
    await baseBackup(pre);

    m.compensate(standbyStopUndo(forward, 'start-standby'));
    await startServer(forward, 'start-standby');
    await confirmStreaming(forward);
    await catchUp(forward);

    await gate('cutover', cutoverEvidence, input.gates.cutover);

    const prior = await m.remember('settings-before', () => readSettings(forward.from));
    m.compensate(synchronousUndo(forward, prior));
    await goSynchronous(forward);

    // A fence that fails (or is aborted) is undone: the old primary takes writes again.
    m.compensate(fenceUndo(forward, prior));
    // From the fence to the switch no client can write: a pause sent meanwhile waits for the switch.
    m.openOutageWindow('fence → switch');
    const fenced = await fence(forward);

    // From the promotion on there are two histories: undoing is the reverse move, not an undo.
    await m.checkpoint();
    m.passPointOfNoReturn();
    await promoteAndSwitch(forward, fenced.readOnlyAt, ready);
    m.closeOutageWindow();
    m.armWayBack();
    if (!ready) {
      await soak();
      await gate('complete', completeEvidence, input.gates.complete);
      await retireOldPrimary();
      return;
    }

    // The way back made ready: the old primary streams from the new one while it soaks.
    if (reverseReplication) await rejoinOldPrimary(reverseReplication);
    const guarded = reverseReplication?.synchronous && reverseReplication.onStandbyLost === 'keep-writing' && m.finished(REVERSE_REPLICATION);
    await m.alongside(guarded ? guardReverseStandby(reverseReplication) : null, async () => {
      await soak();
      await gate('complete', completeEvidence, input.gates.complete);
    });
    await retireOldSide(reverseReplication);
  });
}

/** The synchronous settings of `before` (null: reset), to put back. */
function synchronousOf(before: Record<string, string | null>): Record<string, string | null> {
  return { synchronous_standby_names: before.synchronous_standby_names ?? null, synchronous_commit: before.synchronous_commit ?? null };
}

function slotText(slot: string, s: ReplicationSample): string {
  if (!s.slot) return `${slot} missing`;
  return `${slot} ${s.slot.active ? 'active' : 'inactive'}, restart ${s.slot.restartLsn ?? '-'}, wal ${s.slot.walStatus ?? '-'}`;
}
