// File tree move with rsync catch-up (the Engine Yard cutover).
//
// Phases: preflight → initial-copy → catch-up (passes until one moves less than the threshold) → verify-live
//   (every file by checksum while writers run) → gate `cutover` → freeze (plan hook, or waived by the plan) →
//   fence-source (the tree renamed aside, a marker file in its place: a late writer fails loudly) → final-sync
//   (--delete, from the fenced tree, listing what it changed) → verify-frozen (what the final sync changed by
//   checksum, the whole tree by metadata) → switch-traffic (DNS) → hold-writers (the record's TTL, if the plan
//   asks) → unfreeze (plan hook).
// Messages: decideUpdate / decisionSignal (gate `cutover`, and `recover`), abortSignal, pauseSignal,
//   resumeSignal, statusQuery; all signed. Outage window (a pause waits for its end): freeze → unfreeze.
// Compensations (undo procedures removeTarget, unfreeze, unfence, switchBack): remove what the copy created on
//   the target (only if the plan says so), unfreeze writers, put the fenced tree back, switch DNS back. Each
//   but the switch back depends on it (`after`): if it fails, writers stay frozen, dc1 stays fenced and dc2
//   stays, and the run asks for a hand with exactly what is left. Point of no return: unfreezing writers on
//   the target side: from then on they write to dc2 only, and switching back would lose their writes. There
//   is no way back after it: a failed unfreeze opens the recover gate (retry or done by hand). dc1 stays
//   fenced after a completed move, its tree kept aside at <path>.cutover-fenced.
// Runs recorded before the patch `file-sync-fence` replay on the older path: verify every file by checksum
//   inside the freeze, no fence, no live verify.
import { patched, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RsyncPassInput, RsyncPassResult } from '../activities/files';
import { fencedPath } from './shared/fence';
import { secretRefs, tsigKeyLabel, type ApprovalPolicy, type CarriedState, type DnsSwitch, type GatePolicy, type HookCommand, type MigrationStatus, type SshHost } from './shared/types';
import { checks, copies, steps, undo } from './lib/activity-options';
import { Migration } from './lib/migration';

/** Workflow input for the file-sync move. Plain data, already validated by the plan schema. */
export interface FileSyncInput {
  name: string;
  startedBy: string;
  hosts: Record<string, SshHost>;
  source: { host: string; path: string };
  /** overwrite: copy into a non-empty directory (optional: inputs recorded before it existed mean false). */
  target: { host: string; path: string; removeOnRollback: boolean; overwrite?: boolean };
  exclude: string[];
  catchUp: { thresholdBytes: number; maxPasses: number; pauseBetweenPassesMs: number };
  /** rsync --bwlimit in KiB/s; 0 = unlimited. */
  bandwidthLimitKBps: number;
  /**
   * freeze stops writers, unfreeze starts them again. A plan without a freeze hook must waive it with a reason
   * (`freezeWaived`), shown at the gate and in the report (inputs recorded before it existed have neither).
   */
  hooks: { freeze?: HookCommand; unfreeze?: HookCommand; freezeWaived?: string };
  /** Keep writers frozen until the record's TTL has passed since the switch (clients let the old address go). */
  holdWritersForTtl?: boolean;
  approval: ApprovalPolicy;
  gates: { cutover: GatePolicy };
  traffic: { dns: DnsSwitch & { from: string; to: string } };
  /** Where the run's report goes (GCS bucket and object prefix); absent: not stored. */
  artifacts?: { bucket: string; prefix: string };
}

/** Undo procedures: compensations name one and give its argument (plain data, carried across continue-as-new). */
const undos = {
  async removeTarget(a: Parameters<Activities['removeTargetTree']>[0]) {
    return (await undo(`remove ${a.target.host.name}:${a.target.path}`).removeTargetTree(a)).removed;
  },
  async unfreeze(a: { hook: HookCommand; host: SshHost }) {
    return (await undo(`unfreeze writers on ${a.hook.host}`).runHook({ hook: a.hook, host: a.host, label: 'unfreeze' })).output;
  },
  async unfence(a: { source: { host: SshHost; path: string } }) {
    const r = await undo(`put ${a.source.host.name}:${a.source.path} back from ${fencedPath(a.source.path)}`).unfenceSource(a);
    return r.already ? `${r.restored} already in place` : `${r.restored} back in place, the fence marker removed`;
  },
  async switchBack(a: { dns: DnsSwitch; from: string; to: string }) {
    const r = await undo(`switch ${a.dns.name} back to ${a.to}`).switchDns(a);
    return r.changed ? `${a.dns.name} → ${a.to} again` : `${a.dns.name} already at ${a.to}`;
  },
};

/** Live verify, fence and the freeze's split verify (see the top of this file): new runs only. */
const FENCE_PATCH = 'file-sync-fence';

/**
 * Whether this story takes the fenced path. The first run asks `patched()`; a run resumed from carried state
 * follows what the first run remembered, and one carried over from a run that predates the patch (nothing
 * remembered) stays on the older path.
 */
function fencePatched(carried: CarriedState | undefined): boolean {
  if (carried && !(`patch:${FENCE_PATCH}` in carried.results)) return false;
  return patched(FENCE_PATCH);
}

export async function fileSync(input: FileSyncInput, carried?: CarriedState): Promise<MigrationStatus> {
  const m = new Migration({
    undos,
    input,
    carried,
    kind: 'file-sync',
    name: input.name,
    startedBy: input.startedBy,
    approval: input.approval,
    pointOfNoReturn: 'unfreeze',
    artifacts: input.artifacts,
  });
  const source = { host: input.hosts[input.source.host], path: input.source.path };
  const target = { host: input.hosts[input.target.host], path: input.target.path };
  const dns = input.traffic.dns;
  const passInput = (pass: string, del: boolean): RsyncPassInput => ({
    migrationId: workflowInfo().workflowId,
    pass,
    source,
    target,
    exclude: input.exclude,
    delete: del,
    bandwidthLimitKBps: input.bandwidthLimitKBps,
  });
  const recordPass = (r: RsyncPassResult) =>
    m.setFigures({
      lastPass: r.pass,
      lastPassFiles: r.filesTransferred,
      lastPassBytes: r.bytesTransferred,
      lastPassMs: r.durationMs,
      sourceFiles: r.totalFiles,
      sourceBytes: r.totalBytes,
    });
  const passSummary = (r: RsyncPassResult) =>
    `${r.filesTransferred} files, ${r.bytesTransferred} bytes (${r.literalBytes} sent) in ${(r.durationMs / 1000).toFixed(1)} s` +
    (r.attempt > 1 ? `, resumed on attempt ${r.attempt}` : '');

  return m.run(async () => {
    const fenced = await m.remember(`patch:${FENCE_PATCH}`, async () => fencePatched(carried));
    const { freeze, unfreeze, freezeWaived } = input.hooks;
    const pre = await m.check(
      'preflight',
      () =>
        checks(`preflight ${source.host.name}:${source.path} → ${target.host.name}:${target.path}`).preflightFileSync({
          source,
          target: { ...target, overwrite: input.target.overwrite ?? false },
          hookHosts: [input.hooks.freeze, input.hooks.unfreeze].filter((h) => h !== undefined).map((h) => input.hosts[h.host]),
          secrets: secretRefs(input),
        }),
      (r) => `${r.sourceFiles} files, ${r.sourceBytes} bytes at the source; target ${r.targetState}`,
    );
    await m.check('check-dns', () => checks(`look up ${dns.name}`).lookupDns({ dns }), (r) => `${dns.name} → ${r.addresses.join(', ')}`).then((r) => {
      if (!(r.addresses.length === 1 && r.addresses[0] === dns.from)) {
        throw new Error(`${dns.name} resolves to ${r.addresses.join(', ') || 'nothing'}, the plan expects ${dns.from}`);
      }
    });

    if (input.target.removeOnRollback && pre.targetState !== 'non-empty') {
      const previousState = pre.targetState;
      // Never remove the copy while the name may still send writers to it, nor while dc1's tree is not back.
      m.compensate({
        step: 'initial-copy',
        manualAction: `remove ${target.path} on ${target.host.name}`,
        undo: 'removeTarget',
        args: { target, previousState },
        after: ['switch-traffic', 'fence-source'],
      });
    }
    let last = await m.step('initial-copy', () => copies(`rsync initial copy → ${target.host.name}`).rsyncPass(passInput('initial', false)), passSummary);
    recordPass(last);

    for (let pass = 1; last.bytesTransferred >= input.catchUp.thresholdBytes; pass++) {
      if (pass > input.catchUp.maxPasses) {
        throw new Error(
          `catch-up did not converge: ${input.catchUp.maxPasses} passes and the last still moved ${last.bytesTransferred} bytes ` +
            `(threshold ${input.catchUp.thresholdBytes})`,
        );
      }
      await m.sleep(input.catchUp.pauseBetweenPassesMs);
      last = await m.step(`catch-up-${pass}`, () => copies(`rsync catch-up pass ${pass}`).rsyncPass(passInput(`catch-up-${pass}`, false)), passSummary);
      recordPass(last);
    }

    // The whole tree by checksum, while writers still run: on a large tree this takes long, and outside the
    // freeze it costs no downtime. Inside the freeze only what changed since is checksummed.
    const live = fenced
      ? await m.step(
          'verify-live',
          () => copies('verify every file by checksum while live').verifyLive({ migrationId: workflowInfo().workflowId, source, target, exclude: input.exclude }),
          (r) => `${r.files} files, ${r.bytes} bytes by checksum: no wrong copy; ${r.changedSinceLastPass} changed since the last pass (the final sync copies them)`,
        )
      : null;
    if (live) m.setFigures({ liveVerifiedFiles: live.files, liveVerifyMs: live.durationMs });

    await m.gate(
      'cutover',
      {
        sourceFiles: last.totalFiles,
        sourceBytes: last.totalBytes,
        lastPass: last.pass,
        lastPassBytes: last.bytesTransferred,
        lastPassFiles: last.filesTransferred,
        lastPassSeconds: Number((last.durationMs / 1000).toFixed(1)),
        thresholdBytes: input.catchUp.thresholdBytes,
        ...(live
          ? {
              liveVerifiedFiles: live.files,
              liveChangedFiles: live.changedSinceLastPass,
              freeze: freeze ? `${freeze.host}: ${freeze.command}` : `waived: ${freezeWaived ?? '(no reason given)'}`,
            }
          : {}),
        dns: `${dns.name} → ${dns.from}`,
        lastCheckedAt: new Date().toISOString(),
      },
      input.gates.cutover,
    );

    // From the freeze until writers are let go again nobody writes: a pause sent meanwhile waits for the unfreeze.
    m.openOutageWindow('freeze → unfreeze');
    if (unfreeze) {
      m.compensate({
        step: 'freeze',
        manualAction: `run the unfreeze hook on ${unfreeze.host}: ${unfreeze.command}`,
        undo: 'unfreeze',
        args: { hook: unfreeze, host: input.hosts[unfreeze.host] },
        // Unfrozen writers follow the name (while it still points at dc2 they would write there) and write to
        // dc1's path (while it is fenced they would fail).
        after: ['switch-traffic', 'fence-source'],
      });
    }
    const freezeStartedAt = Date.now();
    if (freeze) {
      await m.step('freeze', () => steps(`freeze writers on ${freeze.host}`).runHook({ hook: freeze, host: input.hosts[freeze.host], label: 'freeze' }));
    }

    if (fenced) {
      // Fenced before the final sync: nothing can reach dc1's tree by its path after it, so the final sync is final.
      const aside = { host: source.host, path: fencedPath(source.path) };
      m.compensate({
        step: 'fence-source',
        manualAction: `on ${source.host.name}: remove the marker file ${source.path} and move ${aside.path} back to ${source.path}`,
        undo: 'unfence',
        args: { source },
        // Writers may follow the name to dc1 again only once it points there.
        after: ['switch-traffic'],
      });
      await m.step(
        'fence-source',
        () =>
          steps(`fence ${source.host.name}:${source.path}: renamed to ${aside.path}, a read-only marker in its place`).fenceSource({
            migrationId: workflowInfo().workflowId,
            source,
            movedTo: `${target.host.name}:${target.path}`,
          }),
        (r) => `${source.path} → ${r.fenced}${r.already ? ' (already)' : ''}`,
      );
      const final = await m.step(
        'final-sync',
        () => copies('rsync final sync with --delete, from the fenced tree').rsyncPass({ ...passInput('final', true), source: aside, recordChanges: true }),
        passSummary,
      );
      recordPass(final);
      m.setFigures({ finalSyncMs: final.durationMs });
      const verified = await m.step(
        'verify-frozen',
        () =>
          copies('verify what the final sync changed by checksum, the whole tree by metadata').verifyFrozen({
            migrationId: workflowInfo().workflowId,
            source: aside,
            target,
            exclude: input.exclude,
          }),
        (r) => `${r.checksummedFiles} changed files identical by checksum; ${r.entries} entries (${r.files} files, ${r.bytes} bytes) identical by metadata`,
      );
      m.setFigures({ verifiedFiles: verified.files, verifiedBytes: verified.bytes, verifiedAt: verified.verifiedAt, checksummedInFreeze: verified.checksummedFiles });
    } else {
      const final = await m.step('final-sync', () => copies('rsync final sync with --delete').rsyncPass(passInput('final', true)), passSummary);
      recordPass(final);
      m.setFigures({ finalSyncMs: final.durationMs });
      const verified = await m.step(
        'verify',
        () => copies('verify every file by checksum').verifyTrees({ migrationId: workflowInfo().workflowId, source, target, exclude: input.exclude }),
        (r) => `${r.files} files, ${r.bytes} bytes identical by checksum`,
      );
      m.setFigures({ verifiedFiles: verified.files, verifiedBytes: verified.bytes, verifiedAt: verified.verifiedAt });
    }

    // Registered before the switch: if the switch times out after taking effect, the undo still runs.
    m.compensate({
      step: 'switch-traffic',
      manualAction: `point ${dns.name} back at ${dns.from} (nsupdate -k ${tsigKeyLabel(dns)})`,
      undo: 'switchBack',
      args: { dns, from: dns.to, to: dns.from },
    });
    await m.step('switch-traffic', () => steps(`switch ${dns.name} → ${dns.to}`).switchDns({ dns, from: dns.from, to: dns.to }), (r) =>
      `${dns.name} → ${dns.to} (confirmed in ${r.confirmedMs} ms)`,
    );
    const switchedAt = Date.now();

    if (fenced && input.holdWritersForTtl && unfreeze) {
      // Clients that looked the name up just before the switch keep the old address for the TTL.
      await m.step(
        'hold-writers',
        async () => {
          const ms = Math.max(0, dns.ttl * 1000 - (Date.now() - switchedAt));
          await m.sleep(ms);
          return ms;
        },
        (ms) => `writers held ${(ms / 1000).toFixed(1)} s more: the record's TTL (${dns.ttl} s) has passed since the switch`,
      );
    }

    await m.checkpoint();
    m.passPointOfNoReturn();
    if (unfreeze) {
      await m.step('unfreeze', () => steps(`unfreeze writers on ${unfreeze.host}`).runHook({ hook: unfreeze, host: input.hosts[unfreeze.host], label: 'unfreeze' }));
    }
    m.closeOutageWindow();
    // Downtime for writers: from the freeze to the unfreeze (or to the switch, with no unfreeze hook).
    if (fenced) m.setFigures({ frozenWindowMs: Date.now() - freezeStartedAt });
  });
}
