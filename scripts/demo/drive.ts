// What the demo's moves share: how it talks, the DNS names it puts back, and driving one migration the way
// people would (alice starts it, bob reviews the evidence at each gate and says go, signed with his own key).
import { lookupA } from '../../activities/dns';
import type { MigrationStatus } from '../../workflows/shared';
import { formatStatus } from '../cli/format';
import * as svc from '../cli/services';
import { setSandboxRecord, type SandboxEndpoints } from '../sandbox/endpoints';

export interface Demo {
  sb: SandboxEndpoints;
  s: svc.Services;
  /** CUTOVER_DEMO_FAST=1: no review pauses, no bandwidth limit, short soak. */
  fast: boolean;
  /** In each plan's name, so every demo run is a new workflow id. */
  stamp: string;
}

/** How a move ended, for the closing summary and the exit code. */
export interface MoveResult {
  id: string;
  outcome: string | null;
  /** Completed, and the live writer lost nothing. */
  ok: boolean;
  /** What the move left behind for the user to know, printed at the end. */
  afterwards?: string;
}

export const say = (s: string) => console.log(`\x1b[1m▶ ${s}\x1b[0m`);
export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function resolve(sb: SandboxEndpoints, name: string): Promise<string[]> {
  return lookupA({ server: sb.dns.server, port: sb.dns.port, name });
}

/** Points `name` at `address` (a TSIG-signed update), unless it already resolves there; true if it changed. */
export async function pointDns(sb: SandboxEndpoints, name: string, address: string): Promise<boolean> {
  const current = await resolve(sb, name);
  if (current.length === 1 && current[0] === address) return false;
  setSandboxRecord(sb, name, address);
  return true;
}

/**
 * Runs of an earlier demo that was interrupted (Ctrl-C, a crash) are still open in Temporal: a new worker would pick
 * them up and resume them against servers this run resets. End them before the worker starts polling.
 */
export async function endInterruptedRuns(s: svc.Services, idPattern: RegExp): Promise<void> {
  for await (const w of s.client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    if (!idPattern.test(w.workflowId)) continue;
    await s.client.workflow.getHandle(w.workflowId).terminate('left running by an interrupted demo; a new demo run resets its servers');
    say(`an interrupted demo left ${w.workflowId} running: terminated it`);
  }
}

/**
 * alice starts the plan; each new phase is printed as the status moves; at each gate the evidence is shown and bob,
 * after a 10 s review (none when fast), says go with the gate's reason. Resolves with the final status.
 */
export async function driveMigration(
  d: Demo,
  planFile: string,
  reasons: Record<string, string>,
): Promise<{ id: string; link: string; final: MigrationStatus }> {
  const { id, link } = await svc.startMigration(d.s, planFile, 'alice');
  say(`alice started ${id}`);
  say(`watch it in the Temporal Web UI: ${link}`);
  let phase = '';
  for (;;) {
    const { status, running } = await svc.getStatus(d.s, id);
    if (status.phase !== phase) console.log(`  ${new Date().toISOString()}  ${(phase = status.phase)}`);
    if (!running) break;
    if (status.gate) {
      const gate = status.gate.name;
      const reason = reasons[gate] ?? 'demo';
      console.log(formatStatus(id, status));
      if (!d.fast) {
        say('bob reviews the evidence for 10 s (look at the gate in the Web UI)…');
        await pause(10_000);
      }
      const key = svc.signingKeyFor(d.s, 'bob');
      say(`bob approves, signing with his key: cutover approve ${id} --gate ${gate} --as bob --key ${key} --reason "${reason}"`);
      const decision = await svc.decide(d.s, id, gate, 'go', 'bob', reason);
      say(`the workflow verified bob's signature (key ${decision.fingerprint ?? 'unsigned run'}) over the gate's evidence and took the go`);
    }
    await pause(500);
  }
  return { id, link, final: await svc.waitForEnd(d.s, id) };
}
