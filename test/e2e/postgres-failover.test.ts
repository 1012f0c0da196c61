// The PostgreSQL move end to end on real PostgreSQL 15 servers, sshd and BIND, driven through the CLI services,
// with a writer committing through the DNS name the whole time. Each test initdb's a small primary of its own
// in dc1 (its own port, its own DNS name), so tests may fence, stop and reverse it freely; the sandbox's
// primary stays for the demo. What is checked is what a DBA would check: every acknowledged commit present on
// the new primary, none accepted by the old one after the fence, writes through the name afterwards.
import { sandboxPgSsl } from '../../scripts/sandbox/tls';
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { lookupA } from '../../activities/dns';
import { parseLsn, parseWaldumpRecord, recordEnd } from '../../activities/postgres/pg-tools';
import { UserError } from '../../scripts/cli/errors';
import * as svc from '../../scripts/cli/services';
import { PG_BIN_DIR } from '../../scripts/sandbox/layout';
import { tryRun, userIds } from '../../scripts/sandbox/process';
import { startPgWriter, type PgAck, type PgWriter } from '../../scripts/workload/pg-writer';
import type { MigrationStatus } from '../../workflows/shared';
import { sandboxSecretValues, testSecret } from '../helpers/secrets';
import { historyText } from '../helpers/history';
import { atGate, statusWhen } from '../helpers/migrations';
import { pgFixture, type PgFixture } from '../helpers/postgres';
import { eventually, killWorkerProcess, startWorkerProcess, temporalTestEnv, uniqueQueue, withPlanWorkers, withWorker, type TemporalTestEnv } from '../helpers/temporal';
import { sandboxSigningKeys } from '../../scripts/sandbox/people';
import { loadSandbox, SANDBOX_SECRETS, sandboxSecretsDir } from '../../scripts/sandbox/endpoints';

let env: TemporalTestEnv;
let services: svc.Services;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  env = await temporalTestEnv();
  // alice and bob sign with their sandbox keys (scripts/sandbox/people.ts).
  services = await svc.connect({ signingKeys: sandboxSigningKeys(loadSandbox().stateDir) });
});
afterAll(async () => {
  // What the runs measured, for the report.
  console.log(`postgres-failover e2e figures: ${JSON.stringify(figures, null, 2)}`);
  await services?.close();
  await env?.close();
});

const DC1 = '127.0.1.1';
const DC2 = '127.0.2.1';

function writer(f: PgFixture): PgWriter {
  return startPgWriter({
    dns: { server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName },
    port: f.port,
    database: f.sb.postgres.primary.database,
    user: 'postgres',
    password: f.superuserPassword,
    table: 'writes',
    intervalMs: 5,
    ssl: sandboxPgSsl(f.sb.stateDir),
  });
}


/** Every acknowledged commit must be a row on `where`; returns how many rows it holds. */
async function assertAllAcked(f: PgFixture, where: 'dc1' | 'dc2', acks: PgAck[]): Promise<number> {
  const rows = await f.sql<{ id: string }>(where, 'select id from writes');
  const present = new Set(rows.map((r) => Number(r.id)));
  const missing = acks.filter((a) => !present.has(a.id));
  expect(missing, `acknowledged commits missing on ${where}`).toEqual([]);
  return rows.length;
}

/**
 * A test's own world: a fresh primary (pgFixture options), a task queue, and a writer committing through the
 * primary's DNS name from the start; the writer stopped and the clusters removed afterwards, pass or fail.
 */
async function scenario<T>(
  queue: string,
  fixture: Parameters<typeof pgFixture>[0],
  fn: (x: { f: PgFixture; s: svc.Services; w: PgWriter }) => Promise<T>,
): Promise<T> {
  const f = await pgFixture(fixture);
  const s = { ...services, taskQueue: uniqueQueue(queue) };
  const w = writer(f);
  try {
    return await fn({ f, s, w });
  } finally {
    await w.stop();
    f.cleanup();
  }
}

/** Waits until the base backup has copied more than `bytes` (its heartbeat details, as `cutover watch` sees). */
const baseBackupUnderWay = (s: svc.Services, id: string, bytes: number) =>
  eventually(async () => {
    const [p] = await svc.liveProgress(s, id);
    return p?.activity === 'baseBackup' && ((p.details as { doneBytes?: number } | null)?.doneBytes ?? 0) > bytes;
  }, 'base backup under way', 60_000);

/** Starts the move, says go at `cutover`, and waits at `complete` (dc2 promoted, traffic switched). */
async function atCompleteAfterGo(s: svc.Services, f: PgFixture, planFile = f.planFile): Promise<{ id: string; atComplete: MigrationStatus }> {
  const { id } = await svc.startMigration(s, planFile, 'alice');
  await atGate(s, id, 'cutover');
  await svc.decide(s, id, 'cutover', 'go', 'bob');
  return { id, atComplete: await atGate(s, id, 'complete') };
}

/** How dc2 sees dc1's reverse replication: pg_stat_replication of the move's reverse application name. */
const reverseStream = async (f: PgFixture) =>
  (await f.sql<{ state: string; sync_state: string }>('dc2', 'select state, sync_state from pg_stat_replication where application_name = $1', [`cutover_${f.name.replace(/-/g, '_')}_reverse`]))[0];

/**
 * A copy of the sandbox's TSIG key under a secret name of one plan's own, so a test can take it out of the
 * worker's store (moved aside) and put it back.
 */
function ownTsigKey(f: PgFixture): { name: string; hide(): void; restore(): void; remove(): void } {
  const key = testSecret(f.sb, 'e2e-tsig', readFileSync(path.join(sandboxSecretsDir(f.sb), SANDBOX_SECRETS.tsigKey)));
  const file = path.join(sandboxSecretsDir(f.sb), key.name);
  return {
    name: key.name,
    hide: () => renameSync(file, `${file}.away`),
    restore: () => existsSync(`${file}.away`) && renameSync(`${file}.away`, file),
    remove: () => {
      key.remove();
      rmSync(`${file}.away`, { force: true });
    },
  };
}

/** What a rollback must leave on a primary: out of recovery, not read-only, no synchronous standby, no slots. */
const primaryState = async (f: PgFixture, where: 'dc1' | 'dc2') =>
  (await f.sql(where, `select pg_is_in_recovery() as r, current_setting('default_transaction_read_only') as ro,
    current_setting('synchronous_standby_names') as sync, (select count(*)::int from pg_replication_slots) as slots`))[0];

const SEGMENT = 16n << 20n;
const isoMs = (v: unknown) => Date.parse(String(v));

describe('postgres-failover end to end', () => {
  it('moves a live primary: every acknowledged commit on dc2, none on dc1 after the fence; dc1 streams synchronously from dc2 during the soak and falling away does not block writes; go retires it', () =>
    scenario('e2e-pg', { fillerMB: 5, plan: { soak: '3s', reverseReplication: { synchronous: true, lostAfter: '1s' } } }, async ({ f, s, w }) => {
      const { final, id, fellAwayAt } = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await svc.startMigration(s, f.planFile, 'alice');
        const atCutover = await atGate(s, id, 'cutover');
        const ev = atCutover.gate!.evidence;
        expect(ev).toMatchObject({ replicationState: 'streaming', syncState: 'async', thresholdBytes: 1024 * 1024 });
        expect(Number(ev.lagBytes)).toBeLessThan(1024 * 1024);
        expect(String(ev.slot)).toMatch(/^cutover_e2e_pg_\w+ active, restart \w+\/\w+, wal reserved$/);
        expect(Date.now() - isoMs(ev.lastCheckAt)).toBeLessThan(60_000);
        expect(atCutover.figures.baseBackupBytes).toBeGreaterThan(5e6);
        await expect(svc.decide(s, id, 'cutover', 'go', 'alice')).rejects.toThrow(/second person/);
        await svc.decide(s, id, 'cutover', 'go', 'bob', 'lag is small');
        const atComplete = await atGate(s, id, 'complete');
        expect(atComplete.gate!.evidence).toMatchObject({ acceptsWrites: true, dns: `${f.dnsName} → ${DC2}` });
        expect(String(atComplete.gate!.evidence.wayBack)).toMatch(/^dc1 .* streams from dc2 \(sync_state sync\), \d+ bytes behind$/);
        // The way back is ready: dc1 is a hot standby of dc2, synchronous, and has every commit dc2 acknowledged.
        expect(await reverseStream(f)).toEqual({ state: 'streaming', sync_state: 'sync' });
        expect(await f.sql('dc1', 'select pg_is_in_recovery() as r')).toEqual([{ r: true }]);
        await eventually(async () => w.acks.filter((a) => a.address === DC2).length >= 50, 'writes on dc2');
        const lastOnDc2 = w.acks.filter((a) => a.address === DC2).at(-1)!;
        await eventually(async () => (await f.sql('dc1', 'select count(*)::int as n from writes where id = $1', [lastOnDc2.id]))[0].n === 1, 'a commit on dc2 replayed on dc1');
        // dc1 falls away (its host dies): within lostAfter the guard lets dc2's commits go on without it.
        const fellAwayAt = Date.now();
        expect(f.pgCtl('dc1', 'stop', '-m', 'immediate', '-w').code).toBe(0);
        const relaxed = await statusWhen(s, id, (st) => String(st.figures.reverseReplication).startsWith('asynchronous since'), 'synchronous reverse replication relaxed');
        expect(relaxed.figures.reverseReplication).toMatch(/(has not streamed for \d+ ms|a commit on dc2 .* waited \d+ ms)/);
        await eventually(async () => w.acks.filter((a) => a.address === DC2 && a.sentAt > fellAwayAt + 3000).length >= 20, 'writes on dc2 after dc1 fell away');
        expect(await f.sql('dc2', "select current_setting('synchronous_standby_names') as names")).toEqual([{ names: '' }]);
        await svc.decide(s, id, 'complete', 'go', 'bob', 'soak clean');
        const final = await svc.waitForEnd(s, id);
        // A few more commits through the name, on the new primary.
        await eventually(async () => w.acks.filter((a) => a.address === DC2 && a.sentAt > isoMs(final.endedAt)).length >= 20, 'writes after the end');
        return { final, id, fellAwayAt };
      });
      await w.stop();

      expect(final.outcome, final.failure ?? '').toBe('completed');
      expect(final.figures.primary).toBe(`dc2 (${DC2}:${f.port})`);
      expect(final.figures.finalLsn).toBe(final.figures.standbyReplayLsn);
      expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC2]);

      const onDc1 = w.acks.filter((a) => a.address === DC1);
      const onDc2 = w.acks.filter((a) => a.address === DC2);
      expect(onDc1.length).toBeGreaterThan(50);
      expect(onDc2.length).toBeGreaterThan(20);
      const rows = await assertAllAcked(f, 'dc2', w.acks);
      // No commit accepted by the old primary after the fence: nothing sent to dc1 after it turned read-only.
      const readOnlyAt = isoMs(final.figures.readOnlyAt);
      expect(Number.isNaN(readOnlyAt)).toBe(false);
      expect(onDc1.filter((a) => a.sentAt > readOnlyAt)).toEqual([]);
      // The old primary is down, cleanly, with its slot dropped; the new one is not in recovery.
      expect(f.pgCtl('dc1', 'status').code).toBe(3);
      expect(existsSync(path.join(f.primaryDir, 'pg_replslot', `cutover_${f.name.replace(/-/g, '_')}`))).toBe(false);
      expect(await f.sql('dc2', 'select pg_is_in_recovery() as r')).toEqual([{ r: false }]);
      expect(existsSync(`${f.standbyDir}.pgpass`)).toBe(false);
      expect(existsSync(`${f.primaryDir}.pgpass`)).toBe(false);
      // Retired: dc1 stays a stopped standby (it could never take writes if started), dc2 waits on nobody.
      expect(existsSync(path.join(f.primaryDir, 'standby.signal'))).toBe(true);
      expect(await primaryState(f, 'dc2')).toMatchObject({ r: false, sync: '', slots: 0 });
      expect(final.steps.find((st) => st.name === 'reverse-replication')!.summary).toMatch(/\(synchronous, keep-writing if it falls away\).*no rewind needed/);

      // The write outage is the switch; the longest wait after dc1 fell away is about lostAfter (1 s) plus a look.
      const lastOnDc1 = onDc1.at(-1)!.ackAt;
      const outage = onDc2[0].ackAt - lastOnDc1;
      const afterFall = w.acks.filter((a) => a.ackAt > fellAwayAt);
      const stall = afterFall.length ? Math.max(afterFall[0].ackAt - fellAwayAt, ...afterFall.slice(1).map((a, i) => a.ackAt - afterFall[i].ackAt)) : Infinity;
      figures.forward = {
        acknowledged: w.acks.length, onDc1: onDc1.length, onDc2: onDc2.length, rowsOnDc2: rows, writeOutageMs: outage,
        promoteMs: final.figures.promoteMs, fenceToWritableMs: final.figures.fenceToWritableMs, baseBackupMs: final.figures.baseBackupMs,
        failedAttempts: w.failures.length, longestStallAfterStandbyLostMs: stall, reverseReplication: final.figures.reverseReplication,
      };
      expect(outage).toBeLessThan(5000);
      expect(stall).toBeLessThan(4000);

      // The passwords never entered the workflow's history: plans and inputs carry references only.
      const text = historyText(await services.client.workflow.getHandle(id).fetchHistory());
      // Secrets by name only: no password, no line of the SSH key, no TSIG secret in the whole history.
      expect(text).toContain(SANDBOX_SECRETS.pgSuperuser);
      expect(text).not.toContain(f.superuserPassword);
      expect(text).not.toContain(f.replicationPassword);
      const values = sandboxSecretValues(f.sb);
      expect(values.length).toBeGreaterThan(4);
      for (const v of values) expect(text.includes(v), 'a secret value in the history').toBe(false);
    }));

  it('a no-go at `complete` switches back at once: dc1 streamed from dc2 (rejoined without pg_rewind) and is primary again, nothing lost either way', () =>
    scenario('e2e-pg-rev', {}, async ({ f, s, w }) => {
      const { final, id, atComplete } = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id, atComplete } = await atCompleteAfterGo(s, f);
        expect(await reverseStream(f)).toEqual({ state: 'streaming', sync_state: 'async' });
        // Let dc2 take writes for a while: the reverse move must bring them back.
        await eventually(async () => w.acks.filter((a) => a.address === DC2).length >= 100, 'writes on dc2');
        await svc.decide(s, id, 'complete', 'no-go', 'bob', 'p99 doubled on dc2');
        const final = await svc.waitForEnd(s, id);
        await eventually(async () => w.acks.filter((a) => a.address === DC1 && a.sentAt > isoMs(final.endedAt)).length >= 20, 'writes after the reverse');
        return { final, id, atComplete };
      });
      await w.stop();

      expect(final.outcome, final.failure ?? '').toBe('rolled-back');
      expect(final.failure).toMatch(/no-go at gate "complete" by bob: p99 doubled on dc2/);
      expect(final.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-move', 'done']]);
      expect(final.compensations[0].detail).toMatch(/streamed from dc2 .* since the soak/);
      expect(final.steps.find((st) => st.name === 'reverse-replication')!.summary).toMatch(/no rewind needed/);
      // The switch back only: no rejoin, no catch-up.
      expect(final.steps.map((st) => st.name).filter((n) => n.startsWith('reverse-'))).toEqual([
        'reverse-replication', 'reverse-check-standby', 'reverse-synchronous-commit', 'reverse-fence', 'reverse-promote', 'reverse-switch-traffic', 'reverse-cleanup',
      ]);
      expect(final.compensations[0].detail).toMatch(new RegExp(`primary is dc1 \\(${DC1.replace(/\./g, '\\.')}:${f.port}\\)`));
      expect(final.figures.primary).toBe(`dc1 (${DC1}:${f.port})`);
      expect(final.figures.reverseFinalLsn).toBe(final.figures.reverseStandbyReplayLsn);
      expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC1]);

      // Forward: every commit acknowledged by dc1 before the fence reached dc2 (checked at the gate, from dc2's view:
      // dc2 held them all when dc1 came back, since dc1 rejoined from dc2's WAL). Back: every commit, wherever
      // acknowledged, is on dc1 now; dc2 accepted none after its fence, dc1 none between its fence and the reverse.
      const rows = await assertAllAcked(f, 'dc1', w.acks);
      const forwardReadOnly = isoMs(final.figures.readOnlyAt);
      const reverseReadOnly = isoMs(final.figures.reverseReadOnlyAt);
      // The promotion runs beside the DNS switch, so the writer may commit on dc1 a few ms before the activity
      // sees it promoted: the bound is the last moment dc1 was seen still in recovery.
      const reversePromoted = isoMs(final.figures.reverseInRecoveryAt);
      const onDc1 = w.acks.filter((a) => a.address === DC1);
      const onDc2 = w.acks.filter((a) => a.address === DC2);
      expect(onDc1.filter((a) => a.sentAt > forwardReadOnly && a.ackAt < reversePromoted)).toEqual([]);
      expect(onDc2.filter((a) => a.sentAt > reverseReadOnly)).toEqual([]);
      expect(onDc2.length).toBeGreaterThanOrEqual(100);
      expect(atComplete.figures.primary).toBe(`dc2 (${DC2}:${f.port})`);
      expect(f.pgCtl('dc2', 'status').code).toBe(3);
      expect(await f.sql('dc1', 'select pg_is_in_recovery() as r, (select count(*)::int from pg_replication_slots) as slots')).toEqual([{ r: false, slots: 0 }]);
      expect(existsSync(path.join(f.standbyDir, 'pg_replslot', `cutover_${f.name.replace(/-/g, '_')}_reverse`))).toBe(false);

      // Each switch's outage as the writer saw it: last commit on the old primary, first on the new one.
      const forwardOutage = onDc2[0].ackAt - onDc1.filter((a) => a.ackAt < onDc2[0].ackAt).at(-1)!.ackAt;
      const firstBackOnDc1 = onDc1.find((a) => a.ackAt > onDc2.at(-1)!.ackAt)!;
      const reverseOutage = firstBackOnDc1.ackAt - onDc2.at(-1)!.ackAt;
      figures.reverse = {
        acknowledged: w.acks.length, onDc2: onDc2.length, rowsOnDc1: rows, longestGapMs: w.longestGapMs().ms, forwardOutageMs: forwardOutage,
        reverseOutageMs: reverseOutage, promoteMs: final.figures.promoteMs, reversePromoteMs: final.figures.reversePromoteMs,
        reverseFenceToWritableMs: final.figures.reverseFenceToWritableMs,
      };
      expect(reverseOutage).toBeLessThan(5000);
      expect(existsSync(`${f.standbyDir}.pgpass`)).toBe(false);
      expect(existsSync(`${f.primaryDir}.pgpass`)).toBe(false);
      expect(w.longestGapMs().ms).toBeLessThan(5000);

      const text = historyText(await services.client.workflow.getHandle(id).fetchHistory());
      expect(text).not.toContain(f.superuserPassword);
      expect(text).not.toContain(f.replicationPassword);
    }));

  it('a reverse move whose fence cannot be verified undoes its own steps: dc2 stays primary and takes writes, nothing lost', () =>
    scenario('e2e-pg-rev-fence', {}, async ({ f, s, w }) => {
      const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await atCompleteAfterGo(s, f);
        // dc1 streams from dc2 since the soak; with its replay paused it still flushes (it is close behind, so the
        // switch back skips the catch-up, and synchronous commit is reached), but the fence of dc2 waits in vain
        // for it to replay the final LSN.
        await f.sql('dc1', 'select pg_wal_replay_pause()');
        await svc.decide(s, id, 'complete', 'no-go', 'bob', 'p99 doubled on dc2');
        return svc.waitForEnd(s, id);
      });
      await eventually(async () => w.acks.filter((a) => a.address === DC2 && a.sentAt > isoMs(final.endedAt)).length >= 20, 'writes on dc2 after the end');
      await w.stop();

      expect(final.outcome).toBe('manual-intervention-required');
      expect(final.compensations.map((c) => [c.step, c.state])).toEqual([
        ['reverse-fence', 'done'], ['reverse-synchronous-commit', 'done'], ['reverse-replication', 'done'], ['reverse-replication', 'done'], ['reverse-move', 'failed'],
      ]);
      expect(final.compensations[0].detail).toMatch(/restarted, default_transaction_read_only = off/);
      expect(final.compensations.at(-1)!.error).toMatch(/did not receive all WAL\) and was undone: dc2 .* is still the primary and takes writes/);
      expect(final.figures.primary).toBe(`dc2 (${DC2}:${f.port})`);
      expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC2]);
      expect(await primaryState(f, 'dc2')).toEqual({ r: false, ro: 'off', sync: '', slots: 0 });
      expect(f.pgCtl('dc1', 'status').code).toBe(3);
      // Every commit acknowledged anywhere is on dc2; dc1 accepted none after the forward fence.
      await assertAllAcked(f, 'dc2', w.acks);
      expect(w.acks.filter((a) => a.address === DC1 && a.sentAt > isoMs(final.figures.readOnlyAt))).toEqual([]);
      figures.reverseFenceUndone = { acknowledged: w.acks.length, longestGapMs: w.longestGapMs().ms, failedAttempts: w.failures.length };
    }));

  it('a DNS switch that fails after the promotion (TSIG key gone) waits at `recover` while dc2 serves nobody yet; the key back, retry completes the move', () =>
    scenario('e2e-pg-dns-retry', {}, async ({ f, s, w }) => {
      const key = ownTsigKey(f);
      try {
        const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
          const { id } = await svc.startMigration(s, f.writePlan('-own-key', {}, (p) => ((p.traffic as { dns: { tsigKey: { secret: string } } }).dns.tsigKey = { secret: key.name })), 'alice');
          await atGate(s, id, 'cutover'); // preflight is long done
          key.hide();
          await svc.decide(s, id, 'cutover', 'go', 'bob');
          const atRecover = await atGate(s, id, 'recover');
          expect(atRecover.gate!.evidence).toMatchObject({ step: 'switch-traffic', wayBack: 'run the way back (reverse-move)' });
          expect(String(atRecover.gate!.evidence.failure)).toMatch(new RegExp(`traffic\\.dns\\.tsigKey: secret "${key.name}" is not in the worker's secret store`));
          expect(atRecover.figures.primary).toBe(`dc2 (${DC2}:${f.port})`);
          expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC1]);
          key.restore();
          await svc.decide(s, id, 'recover', 'retry', 'alice', 'TSIG key restored');
          await atGate(s, id, 'complete');
          expect(await reverseStream(f)).toMatchObject({ state: 'streaming' });
          await svc.decide(s, id, 'complete', 'go', 'bob');
          return svc.waitForEnd(s, id);
        });
        await eventually(async () => w.acks.filter((a) => a.address === DC2 && a.sentAt > isoMs(final.endedAt)).length >= 10, 'writes on dc2 after the end');
        await w.stop();
        expect(final.outcome, final.failure ?? '').toBe('completed');
        expect(final.steps.find((st) => st.name === 'switch-traffic')).toMatchObject({ state: 'done', attempts: 2 });
        expect(final.decisions.map((d) => [d.gate, d.decision])).toEqual([['cutover', 'go'], ['recover', 'retry'], ['complete', 'go']]);
        expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC2]);
        await assertAllAcked(f, 'dc2', w.acks);
        expect(w.acks.filter((a) => a.address === DC1 && a.sentAt > isoMs(final.figures.readOnlyAt))).toEqual([]);
        figures.dnsRetry = { acknowledged: w.acks.length, longestGapMs: w.longestGapMs().ms };
      } finally {
        key.remove();
      }
    }));

  it('a DNS switch that fails after the promotion, way-back: the reverse move brings the primary back to dc1, no acknowledged commit lost', () =>
    scenario('e2e-pg-dns-back', {}, async ({ f, s, w }) => {
      const key = ownTsigKey(f);
      try {
        const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
          const { id } = await svc.startMigration(s, f.writePlan('-own-key', {}, (p) => ((p.traffic as { dns: { tsigKey: { secret: string } } }).dns.tsigKey = { secret: key.name })), 'alice');
          await atGate(s, id, 'cutover');
          key.hide();
          await svc.decide(s, id, 'cutover', 'go', 'bob');
          await atGate(s, id, 'recover');
          // The key stays gone: the way back needs no DNS change, the name never left dc1.
          await svc.decide(s, id, 'recover', 'way-back', 'bob', 'DNS is broken: back to dc1');
          return svc.waitForEnd(s, id);
        });
        await eventually(async () => w.acks.filter((a) => a.address === DC1 && a.sentAt > isoMs(final.endedAt)).length >= 10, 'writes on dc1 after the end');
        await w.stop();
        expect(final.outcome, final.failure ?? '').toBe('rolled-back');
        expect(final.failure).toMatch(/way back chosen at the recover gate by bob after switch-traffic failed/);
        expect(final.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-move', 'done']]);
        expect(final.steps.find((st) => st.name === 'reverse-rejoin')!.summary).toMatch(/no rewind needed/);
        expect(final.steps.find((st) => st.name === 'reverse-switch-traffic')!.summary).toMatch(/already there/);
        expect(final.figures.primary).toBe(`dc1 (${DC1}:${f.port})`);
        expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC1]);
        expect(await primaryState(f, 'dc1')).toEqual({ r: false, ro: 'off', sync: '', slots: 0 });
        expect(f.pgCtl('dc2', 'status').code).toBe(3);
        // The writer never reached dc2 (the name stayed on dc1): every commit is on dc1, before the fence or after the way back.
        expect(w.acks.every((a) => a.address === DC1)).toBe(true);
        const rows = await assertAllAcked(f, 'dc1', w.acks);
        figures.dnsWayBack = { acknowledged: w.acks.length, rowsOnDc1: rows, longestGapMs: w.longestGapMs().ms };
      } finally {
        key.remove();
      }
    }));

  it('pause and abort are honoured while the way back catches up (dc1 fell behind during the soak): undone, dc2 serves alone, nothing lost', () =>
    scenario('e2e-pg-rev-abort', { plan: { maxLag: '64KiB', catchUpTimeout: '3s', onCatchUpTimeout: 'wait' } }, async ({ f, s, w }) => {
      const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await atCompleteAfterGo(s, f);
        // dc1 stops replaying and dc2 writes a few MB: at the no-go the way back must catch up first.
        await f.sql('dc1', 'select pg_wal_replay_pause()');
        await f.sql('dc2', "select count(pg_logical_emit_message(true, 'cutover-test', repeat('x', 1000000))) from generate_series(1, 4)");
        await svc.decide(s, id, 'complete', 'no-go', 'bob', 'p99 doubled on dc2');
        const waiting = await statusWhen(s, id, (st) => st.phase === 'reverse-catch-up' && st.figures.reverseLastCheckAt !== undefined, 'the way back catching up');
        expect(waiting.steps.find((st) => st.name === 'reverse-check-standby')!.summary).toMatch(/bytes behind: rejoin and catch up first$/);
        expect(waiting.steps.find((st) => st.name === 'reverse-rejoin')!.summary).toBe('already running as a standby');

        await svc.setPaused(s, id, true, 'alice');
        const paused = await statusWhen(s, id, (st) => st.phase === 'paused', 'paused in the way back');
        await new Promise((r) => setTimeout(r, 4000));
        const still = (await svc.getStatus(s, id)).status;
        expect(still.phase).toBe('paused');
        expect(still.figures.reverseLastCheckAt).toBe(paused.figures.reverseLastCheckAt); // no look while paused
        await svc.setPaused(s, id, false, 'alice');
        await statusWhen(s, id, (st) => st.phase === 'reverse-catch-up' && st.figures.reverseLastCheckAt !== paused.figures.reverseLastCheckAt, 'catching up again');

        await svc.abortMigration(s, id, 'alice', 'stay on dc2');
        return svc.waitForEnd(s, id);
      });
      await eventually(async () => w.acks.filter((a) => a.address === DC2 && a.sentAt > isoMs(final.endedAt)).length >= 10, 'writes on dc2 after the end');
      await w.stop();
      expect(final.outcome).toBe('manual-intervention-required');
      expect(final.wayBack).toMatchObject({ state: 'failed', abort: { by: 'alice', reason: 'stay on dc2' } });
      expect(final.steps.find((st) => st.name === 'reverse-catch-up')?.state).toBe('failed');
      expect(final.compensations.map((c) => [c.step, c.state])).toEqual([['reverse-start', 'done'], ['reverse-create-slot', 'done'], ['reverse-move', 'failed']]);
      expect(final.figures.primary).toBe(`dc2 (${DC2}:${f.port})`);
      expect(await primaryState(f, 'dc2')).toEqual({ r: false, ro: 'off', sync: '', slots: 0 });
      expect(f.pgCtl('dc1', 'status').code).toBe(3);
      expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC2]);
      await assertAllAcked(f, 'dc2', w.acks);
    }));

  it('without reverse replication the reverse move rewinds an old primary that wrote after the fence (pg_rewind), and the stray write is gone', () =>
    // The plan keeps dc1 stopped during the soak (reverseReplication: false): someone can start it by hand.
    scenario('e2e-pg-rewind', { plan: { reverseReplication: false } }, async ({ f, s, w }) => {
      const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await atCompleteAfterGo(s, f);
        // Someone starts the fenced old primary by hand and forces a write into it: its WAL now goes past the
        // point where dc2's timeline branched, so it cannot simply follow dc2 any more.
        expect(f.pgCtl('dc1', 'start', '-w', '-l', `${f.primaryDir}.log`).code).toBe(0);
        await f.sql('dc1', 'begin read write; set local synchronous_commit = local; insert into writes (seq) values (-1); commit');
        expect(f.pgCtl('dc1', 'stop', '-w', '-m', 'fast').code).toBe(0);
        await svc.decide(s, id, 'complete', 'no-go', 'bob', 'going back');
        const final = await svc.waitForEnd(s, id);
        await eventually(async () => w.acks.filter((a) => a.address === DC1 && a.sentAt > isoMs(final.endedAt)).length >= 10, 'writes after the reverse');
        return final;
      });
      await w.stop();
      expect(final.outcome, final.failure ?? '').toBe('rolled-back');
      const rejoin = final.steps.find((st) => st.name === 'reverse-rejoin')!;
      expect(rejoin.summary).toMatch(/^pg_rewind ran: its WAL goes on to \w+\/\w+, past the branch point \w+\/\w+$/);
      expect(final.figures.primary).toBe(`dc1 (${DC1}:${f.port})`);
      await assertAllAcked(f, 'dc1', w.acks);
      expect(await f.sql('dc1', 'select count(*)::int as n from writes where seq = -1')).toEqual([{ n: 0 }]);
      expect(await f.sql('dc1', `select pg_is_in_recovery() as r, current_setting('listen_addresses') as listen`)).toEqual([{ r: false, listen: DC1 }]);
      expect(existsSync(`${f.primaryDir}.pgpass.rewind`)).toBe(false);
    }));

  it('a no-go at `cutover` undoes everything; the old primary served every write throughout', () =>
    scenario('e2e-pg-nogo', {}, async ({ f, s, w }) => {
      const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await svc.startMigration(s, f.planFile, 'alice');
        await atGate(s, id, 'cutover');
        expect(existsSync(path.join(f.standbyDir, 'PG_VERSION'))).toBe(true);
        await svc.decide(s, id, 'cutover', 'no-go', 'bob', 'release freeze');
        return svc.waitForEnd(s, id);
      });
      await eventually(async () => w.acks.length > 0 && Date.now() - w.acks.at(-1)!.ackAt < 500, 'writer still writing');
      await w.stop();
      expect(final.outcome).toBe('rolled-back');
      expect(final.compensations.map((c) => [c.step, c.state])).toEqual([
        ['start-standby', 'done'],
        ['base-backup', 'done'],
        ['create-slot', 'done'],
      ]);
      expect(final.compensations[1].detail).toMatch(/removed \(cutover created it\)/);
      expect(existsSync(f.standbyDir)).toBe(false);
      expect(existsSync(`${f.standbyDir}.pgpass`)).toBe(false);
      expect(await primaryState(f, 'dc1')).toMatchObject({ r: false, sync: '', slots: 0 });
      expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC1]);
      expect(w.acks.every((a) => a.address === DC1)).toBe(true);
      expect(w.failures).toEqual([]); // not one write refused or failed
      await assertAllAcked(f, 'dc1', w.acks);
    }));

  it('a fence that cannot be verified (replay paused on the standby) is undone: the old primary restarts and takes writes, nothing lost', () =>
    scenario('e2e-pg-fence-fails', {}, async ({ f, s, w }) => {
      const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await svc.startMigration(s, f.planFile, 'alice');
        await atGate(s, id, 'cutover');
        // Synchronous commit needs the standby to flush, not to replay: the fence gets as far as the clean stop,
        // then waits in vain for the standby to replay up to the old primary's final LSN.
        await f.sql('dc2', 'select pg_wal_replay_pause()');
        await svc.decide(s, id, 'cutover', 'go', 'bob', 'go');
        return svc.waitForEnd(s, id);
      });
      await eventually(async () => w.acks.length > 0 && w.acks.at(-1)!.ackAt > isoMs(final.endedAt), 'writer writing on dc1 again');
      await w.stop();
      expect(final.outcome).toBe('rolled-back');
      expect(final.failure).toMatch(/standby .* replayed up to .*, the old primary ended at .*: it did not receive all WAL/);
      expect(final.pointOfNoReturn.passedAt).toBeNull();
      expect(final.compensations.map((c) => [c.step, c.state])).toEqual([
        ['fence', 'done'],
        ['synchronous-commit', 'done'],
        ['start-standby', 'done'],
        ['base-backup', 'done'],
        ['create-slot', 'done'],
      ]);
      expect(final.compensations[0].detail).toMatch(/restarted, default_transaction_read_only = off/);
      expect(await primaryState(f, 'dc1')).toEqual({ r: false, ro: 'off', sync: '', slots: 0 });
      expect(existsSync(f.standbyDir)).toBe(false);
      expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC1]);
      expect(w.acks.every((a) => a.address === DC1)).toBe(true);
      await assertAllAcked(f, 'dc1', w.acks);
      figures.fenceUndone = { acknowledged: w.acks.length, longestGapMs: w.longestGapMs().ms, failedAttempts: w.failures.length };
    }));

  it('computes WAL record ends as PostgreSQL lays them out: each record pg_waldump shows starts where recordEnd says the one before ends', async () => {
    const f = await pgFixture({});
    try {
      const [{ start }] = await f.sql<{ start: string }>('dc1', 'select pg_current_wal_insert_lsn()::text as start');
      // Records of many sizes cross many page boundaries; the 1 MB ones cross a segment boundary too.
      await f.sql('dc1', "select count(pg_logical_emit_message(true, 'cutover-test', repeat('x', (i * 7919) % 20000))) from generate_series(1, 600) i");
      await f.sql('dc1', "select count(pg_logical_emit_message(true, 'cutover-test', repeat('y', 1000000))) from generate_series(1, 18)");
      const [{ end }] = await f.sql<{ end: string }>('dc1', 'select pg_current_wal_flush_lsn()::text as end');
      const dump = tryRun(path.join(PG_BIN_DIR, 'pg_waldump'), ['-p', path.join(f.primaryDir, 'pg_wal'), '-s', start, '-e', end], { timeoutMs: 60_000 });
      const records = dump.stdout.split('\n').filter((line) => line.startsWith('rmgr:')).map((line) => parseWaldumpRecord(line));
      expect(records.length, dump.stderr).toBeGreaterThan(600);
      let crossings = 0;
      let segmentCrossings = 0;
      for (let i = 1; i < records.length; i++) {
        const prev = records[i - 1];
        const next = records[i].lsn;
        if (prev.description.startsWith('SWITCH')) continue;
        expect(recordEnd(prev.lsn, prev.totalLength), `record after ${prev.lsn} (${prev.totalLength} bytes)`).toBe(next);
        if (parseLsn(next) - parseLsn(prev.lsn) > BigInt(prev.totalLength + 7)) crossings++;
        if (parseLsn(next) / SEGMENT !== parseLsn(prev.lsn) / SEGMENT) segmentCrossings++;
      }
      expect(crossings).toBeGreaterThan(300);
      expect(segmentCrossings).toBeGreaterThan(0);
    } finally {
      f.cleanup();
    }
  });

  it('refuses bad input in preflight, naming it, and changes nothing', async () => {
    const f = await pgFixture();
    const minimal = await pgFixture({ walLevel: 'minimal' });
    try {
      const refused = async (file: string) => {
        const s = { ...services, taskQueue: uniqueQueue('e2e-pg-plan') };
        const err = await withPlanWorkers(env, s.taskQueue, () => svc.reviewPlan(s, file, 'alice')).then(() => null, (e) => e);
        expect(err).toBeInstanceOf(UserError);
        expect((err as Error).message).toMatch(/nothing was changed/);
        return (err as Error).message;
      };
      // A host nobody answers on, with its key pinned (so the refusal is about reaching it, not about its key).
      const knownHosts = path.join(f.sb.stateDir, 'scratch', `known_hosts-${f.id}`);
      mkdirSync(path.dirname(knownHosts), { recursive: true });
      const pinned = readFileSync(f.sb.hosts.dc2.knownHostsFile, 'utf8');
      const dc2Key = pinned.split('\n').find((l) => l.startsWith(`[${DC2}]:2222 `))!;
      writeFileSync(knownHosts, `${pinned}${dc2Key.replace(`[${DC2}]`, '[127.0.9.9]')}\n`);
      expect(await refused(f.writePlan('-unreachable', {}, (p) => {
        Object.assign((p.hosts as Record<string, object>).dc2, { address: '127.0.9.9', knownHostsFile: knownHosts });
      }))).toMatch(/standby host dc2: dc2 \(cutover@127\.0\.9\.9:2222\): unreachable: .*ECONNREFUSED/);
      // A secret the worker's store does not have: refused by name, before anything runs.
      const missing = `missing-${f.id}`;
      expect(await refused(f.writePlan('-password', { superuserPasswordSecret: missing }))).toContain(
        `postgres.superuser: secret "${missing}" is not in the worker's secret store (directory ${path.join(f.sb.stateDir, 'secrets')})`,
      );
      const wrong = testSecret(f.sb, 'e2e-wrong', 'not-the-password\n');
      try {
        const message = await refused(f.writePlan('-wrong', { superuserPasswordSecret: wrong.name }));
        expect(message).toMatch(new RegExp(`password authentication failed for user "postgres" \\(password from secret "${wrong.name}"\\)`));
        expect(message).not.toContain('not-the-password');
      } finally {
        wrong.remove();
      }
      mkdirSync(f.standbyDir, { recursive: true });
      writeFileSync(path.join(f.standbyDir, 'precious.txt'), 'keep me');
      const { uid, gid } = userIds();
      chownSync(f.standbyDir, uid, gid);
      expect(await refused(f.planFile)).toContain(
        `standby.dataDir ${f.standbyDir} on dc2 is not empty: cutover never overwrites it unless the plan sets standby.overwrite: true`,
      );
      expect(await refused(minimal.planFile)).toMatch(/primary dc1 \(127\.0\.1\.1:\d+\): wal_level is minimal; a standby needs wal_level = replica/);

      // Started as a migration, the same plan ends in preflight: rolled back with nothing to undo.
      const s = { ...services, taskQueue: uniqueQueue('e2e-pg-bad') };
      const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await svc.startMigration(s, f.writePlan('-password-run', { superuserPasswordSecret: missing }), 'alice');
        return svc.waitForEnd(s, id);
      });
      expect(final.outcome).toBe('rolled-back');
      expect(final.steps.map((st) => [st.name, st.state])).toEqual([['preflight', 'failed']]);
      expect(final.failure).toContain(`secret "${missing}" is not in the worker's secret store`);
      expect(final.compensations).toEqual([]);

      // Nothing changed: the target's file is still there, no slot, DNS as it was, the primaries still primaries.
      expect(readFileSync(path.join(f.standbyDir, 'precious.txt'), 'utf8')).toBe('keep me');
      expect(await f.sql('dc1', 'select pg_is_in_recovery() as r, (select count(*)::int from pg_replication_slots) as slots')).toEqual([{ r: false, slots: 0 }]);
      expect(await lookupA({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName })).toEqual([DC1]);
      expect(existsSync(minimal.standbyDir)).toBe(false);
    } finally {
      f.cleanup();
      minimal.cleanup();
    }
  });

  it('lag that never catches up (replay paused on the standby): the gate is never offered and the timeout rolls back', () =>
    scenario('e2e-pg-lag', { plan: { maxLag: '64KiB', stableFor: '4s', catchUpTimeout: '8s' } }, async ({ f, s, w }) => {
      const { final, id } = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await svc.startMigration(s, f.planFile, 'alice');
        await statusWhen(s, id, (st) => st.steps.some((x) => x.name === 'start-standby' && x.state === 'done'), 'standby started');
        await f.sql('dc2', 'select pg_wal_replay_pause()');
        return { final: await svc.waitForEnd(s, id), id };
      });
      await w.stop();
      expect(final.outcome).toBe('rolled-back');
      expect(final.failure).toMatch(/replay lag of cutover_e2e_pg_\w+ did not stay under 65536 bytes for 4 s within \d+ s: \d+ bytes behind/);
      expect(final.decisions).toEqual([]);
      expect(historyText(await services.client.workflow.getHandle(id).fetchHistory())).not.toContain('waiting-at-cutover');
      expect(final.compensations.map((c) => [c.step, c.state])).toEqual([
        ['start-standby', 'done'],
        ['base-backup', 'done'],
        ['create-slot', 'done'],
      ]);
      expect(Number(final.figures.lagBytes)).toBeGreaterThan(65536);
      expect(w.failures).toEqual([]);
      expect(await f.sql('dc1', 'select (select count(*)::int from pg_replication_slots) as slots')).toEqual([{ slots: 0 }]);
    }));

  it('lag that is late with onTimeout `wait`: no gate while it lags, the operator is told each timeout, the gate opens once it catches up', () =>
    scenario('e2e-pg-lag-wait', { plan: { maxLag: '64KiB', stableFor: '5s', catchUpTimeout: '3s', onCatchUpTimeout: 'wait' } }, async ({ f, s, w }) => {
      const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await svc.startMigration(s, f.planFile, 'alice');
        await statusWhen(s, id, (st) => st.steps.some((x) => x.name === 'start-standby' && x.state === 'done'), 'standby started');
        await f.sql('dc2', 'select pg_wal_replay_pause()');
        // Two timeouts pass: the move keeps waiting, counts them, and never offers the gate.
        const late = await statusWhen(s, id, (st) => Number(st.figures.catchUpNotifications ?? 0) >= 2, 'two catch-up timeouts', 60_000);
        expect(late.phase).toBe('catch-up');
        expect(late.gate).toBeNull();
        expect(Number(late.figures.lagBytes)).toBeGreaterThan(65536);
        await f.sql('dc2', 'select pg_wal_replay_resume()');
        const atCutover = await atGate(s, id, 'cutover');
        expect(Number(atCutover.figures.lagBytes)).toBeLessThanOrEqual(65536);
        await svc.decide(s, id, 'cutover', 'no-go', 'bob', 'seen enough');
        return svc.waitForEnd(s, id);
      });
      await w.stop();
      expect(final.outcome).toBe('rolled-back');
      expect(final.steps.find((x) => x.name === 'catch-up')?.state).toBe('done');
      expect(w.failures).toEqual([]);
      await assertAllAcked(f, 'dc1', w.acks);
    }));

  it('the standby killed during the base backup: the retry removes the partial copy and starts again; the old primary is untouched', () =>
    // About 30 MB at 4 MiB/s: several seconds of copying, long enough to kill pg_basebackup in the middle.
    scenario('e2e-pg-kill-bb', { fillerMB: 20, plan: { maxRate: '4MiB' } }, async ({ f, s, w }) => {
      const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await svc.startMigration(s, f.planFile, 'alice');
        await baseBackupUnderWay(s, id, 4e6);
        // pg_basebackup runs on dc2 in a session of its own, whose id the activity keeps beside the data dir:
        // kill all of it (the copy and its WAL-streaming child), as a dying standby host would.
        const session = Number(readFileSync(`${f.standbyDir}.basebackup.pid`, 'utf8').trim());
        process.kill(-session, 'SIGKILL');
        const atCutover = await atGate(s, id, 'cutover');
        const step = atCutover.steps.find((st) => st.name === 'base-backup')!;
        expect(step.summary).toMatch(/attempt 2 after removing the partial copy/);
        expect(await f.sql('dc2', 'select count(*)::int as n from filler')).toEqual([{ n: 20 * 1700 }]);
        await svc.decide(s, id, 'cutover', 'no-go', 'bob', 'test done');
        return svc.waitForEnd(s, id);
      });
      await w.stop();
      expect(final.outcome).toBe('rolled-back');
      expect(w.failures).toEqual([]);
      expect(w.acks.every((a) => a.address === DC1)).toBe(true);
      await assertAllAcked(f, 'dc1', w.acks);
      figures.baseBackupKill = { baseBackupMs: final.figures.baseBackupMs, attempts: final.figures.baseBackupAttempts };
    }));

  it('an abort during the base backup stops the copy on dc2 and removes it; the old primary is untouched', () =>
    scenario('e2e-pg-abort', { fillerMB: 10, plan: { maxRate: '2MiB' } }, async ({ f, s, w }) => {
      const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await svc.startMigration(s, f.planFile, 'alice');
        await baseBackupUnderWay(s, id, 2e6);
        await svc.abortMigration(s, id, 'alice', 'wrong maintenance window');
        return svc.waitForEnd(s, id);
      });
      await w.stop();
      expect(final.outcome).toBe('rolled-back');
      expect(final.failure).toBe('aborted by alice: wrong maintenance window');
      expect(final.steps.find((st) => st.name === 'base-backup')?.state).toBe('failed');
      expect(final.compensations.map((c) => [c.step, c.state])).toEqual([
        ['base-backup', 'done'],
        ['create-slot', 'done'],
      ]);
      // The copy really stopped (its session is gone) before its directory was removed.
      expect(existsSync(`${f.standbyDir}.basebackup.pid`)).toBe(false);
      expect(existsSync(f.standbyDir)).toBe(false);
      expect(await f.sql('dc1', 'select count(*)::int as senders from pg_stat_replication')).toEqual([{ senders: 0 }]);
      expect(await f.sql('dc1', 'select count(*)::int as slots from pg_replication_slots')).toEqual([{ slots: 0 }]);
      expect(w.failures).toEqual([]);
      await assertAllAcked(f, 'dc1', w.acks);
    }));

  it('the worker killed between the fence and the promotion: a new worker resumes, the standby is promoted, nothing lost', async () => {
    const f = await pgFixture();
    const taskQueue = uniqueQueue('e2e-pg-kill-worker');
    const s = { ...services, taskQueue };
    const startWorker = () => startWorkerProcess(taskQueue);
    const kill = killWorkerProcess;
    const w = writer(f);
    let worker = startWorker();
    try {
      const { id } = await svc.startMigration(s, f.planFile, 'alice');
      await atGate(s, id, 'cutover');
      await svc.decide(s, id, 'cutover', 'go', 'bob');
      // The old primary going down is the fence's last act: kill the worker right then, before it reports
      // (postmaster.pid goes at the end of a clean shutdown; the fence then only reads the final LSN).
      const pidFile = path.join(f.primaryDir, 'postmaster.pid');
      const deadline = Date.now() + 60_000;
      while (existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      kill(worker);
      expect(existsSync(pidFile)).toBe(false);
      const killedAt = Date.now();
      worker = startWorker();
      const atComplete = await atGate(s, id, 'complete');
      expect(atComplete.figures.primary).toBe(`dc2 (${DC2}:${f.port})`);
      await svc.decide(s, id, 'complete', 'go', 'bob');
      const final = await svc.waitForEnd(s, id);
      await eventually(async () => w.acks.filter((a) => a.address === DC2).length >= 20, 'writes on dc2');
      await w.stop();
      expect(final.outcome, final.failure ?? '').toBe('completed');
      const fence = final.steps.find((st) => st.name === 'fence')!;
      const promote = final.steps.find((st) => st.name === 'promote')!;
      expect(fence.state).toBe('done');
      expect(promote.state).toBe('done');
      expect(final.figures.finalLsn).toBe(final.figures.standbyReplayLsn);
      const rows = await assertAllAcked(f, 'dc2', w.acks);
      const readOnlyAt = isoMs(final.figures.readOnlyAt);
      expect(Number.isNaN(readOnlyAt), 'readOnlyAt carried over from the killed attempt').toBe(false);
      expect(w.acks.filter((a) => a.address === DC1 && a.sentAt > readOnlyAt)).toEqual([]);
      figures.workerKill = {
        acknowledged: w.acks.length, rowsOnDc2: rows, writeOutageMs: w.longestGapMs().ms, resumedAfterMs: isoMs(final.figures.promotedAt) - killedAt,
        fenceSummary: fence.summary,
      };
    } finally {
      kill(worker);
      await w.stop();
      f.cleanup();
    }
  });
});
