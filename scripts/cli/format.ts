// Human-readable output of statuses and reports.
import type { MigrationStatus } from '../../workflows/shared';

/**
 * One line as a terminal may show it: control characters (escape sequences that could rewrite the screen, newlines
 * that could fake a line of the report) from names, reasons and remote output become visible, not active.
 */
export function printable(line: string): string {
  return line.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => (c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

function secs(from: string, to?: string | null): string {
  if (!to) return '';
  return `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s`;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatStatus(id: string, s: MigrationStatus): string {
  const out: string[] = [];
  out.push(`${id}  ${s.kind} "${s.name}"  phase: ${s.phase}${s.paused ? ' (paused)' : ''}${s.outcome ? `  outcome: ${s.outcome}` : ''}`);
  out.push(`started by ${s.startedBy} at ${s.startedAt}${s.endedAt ? `, ended ${s.endedAt}` : ''}`);
  out.push(`point of no return (${s.pointOfNoReturn.step}): ${s.pointOfNoReturn.passedAt ? `passed at ${s.pointOfNoReturn.passedAt}` : 'not passed'}`);
  if (s.steps.length) {
    out.push('', 'steps:');
    // As wide as the longest name (`reverse-switch-traffic`), so durations and summaries stay in one column.
    const nameWidth = Math.max(16, ...s.steps.map((st) => st.name.length));
    for (const st of s.steps) {
      out.push(`  ${st.state.padEnd(8)} ${st.name.padEnd(nameWidth)} ${secs(st.startedAt, st.endedAt).padStart(8)}  ${st.summary ?? ''}`.trimEnd());
    }
  }
  if (s.gate) {
    out.push('', `waiting at gate "${s.gate.name}" since ${s.gate.openedAt}${s.gate.deadline ? ` (deadline ${s.gate.deadline})` : ''}`);
    for (const [k, v] of Object.entries(s.gate.evidence)) out.push(`  ${k}: ${v}`);
    const key = s.signing ? ' [--key KEY]' : '';
    if (s.gate.evidenceDigest) out.push(`  (evidence ${s.gate.evidenceDigest}: a decision signs this digest)`);
    if (s.gate.goRefused) out.push(`  A GO IS NOT TAKEN NOW (a no-go is): ${s.gate.goRefused}`);
    if (s.gate.reading) out.push(`  reading the evidence again now: ${s.gate.reading}`);
    if (s.gate.heldGo) out.push(`  a go by ${s.gate.heldGo.by} (${s.gate.heldGo.at}) is held until that read ends: taken or refused on what it shows`);
    out.push(
      s.gate.name === 'recover'
        ? `  decide: cutover recover ${id} retry|way-back|done-by-hand --as NAME${key} [--note WHAT WAS DONE]`
        : `  decide: cutover approve ${id} --gate ${s.gate.name} --as NAME${key}   |   cutover reject ${id} --gate ${s.gate.name} --as NAME${key} --reason WHY`,
    );
  }
  if (s.outageWindow) out.push('', `outage window ${s.outageWindow.name} open since ${s.outageWindow.openedAt}${s.heldPause ? `; pause by ${s.heldPause.by} held until it closes` : ''}`);
  if (s.refusedDecisions.length) {
    const last = s.refusedDecisions.at(-1)!;
    out.push('', `refused: ${s.refusedDecisions.length + (s.refusedDropped ?? 0)} (last: ${last.decision ?? '?'} by ${last.by ?? '?'}: ${last.why})`);
  }
  const figures = Object.entries(s.figures);
  if (figures.length) {
    out.push('', 'figures:');
    for (const [k, v] of figures) out.push(`  ${k}: ${typeof v === 'number' && /bytes$/i.test(k) ? `${v} (${formatBytes(v)})` : v}`);
  }
  if (s.failure) out.push('', `failure: ${s.failure}`);
  if (s.manualActions.length) {
    out.push('', 'MANUAL INTERVENTION REQUIRED:');
    for (const a of s.manualActions) out.push(`  - ${a}`);
  }
  return out.map(printable).join('\n');
}

/**
 * What `cutover approve` / `reject` prints once when the workflow has not answered within a couple of seconds. A
 * gate that holds a go while it reads its evidence again (the HDFS cutover during a cycle: minutes on real
 * clusters) says what the go waits for; otherwise the run's phase and where to look.
 */
export function decisionWaitLine(id: string, s: MigrationStatus | null, gate: string, decision: string, waitedMs: number): string {
  const g = s?.gate;
  if (g?.name === gate && g.heldGo) {
    return printable(`gate ${gate}: waiting for ${g.reading ?? 'the evidence read again'} to end before the ${decision} is taken or refused (on what it shows)`);
  }
  const where = s ? `phase ${s.phase}${s.paused ? ', paused' : ''}` : 'its status not readable either';
  return printable(`gate ${gate}: no answer to the ${decision} after ${Math.round(waitedMs / 1000)} s (${where}); still waiting: is a worker running? \`cutover status ${id}\` shows the run`);
}

/** `cutover plan`: what the dry run found (its read-only steps), then every step, gate and undo it recorded. */
export function formatPlanReview(file: string, r: { id: string; dryRunId: string; status: MigrationStatus }): string {
  const s = r.status;
  const out = [`plan ${file} is valid; its dry run passed on a worker (read-only checks of the real hosts, nothing changed)`];
  out.push(`workflow id: ${r.id} (the dry run: ${r.dryRunId})`);
  const found = s.steps.filter((st) => st.readOnly);
  if (found.length) out.push('found:', ...found.map((st) => `  ${st.name}: ${st.summary ?? ''}`));
  const planned = (s.dryRun?.steps ?? []).filter((st) => !found.some((f) => f.name === st.step));
  out.push('start would:');
  planned.forEach((st, i) => {
    const gate = st.step.startsWith('gate ') ? s.dryRun!.gates.find((g) => g.startsWith(`${st.step.slice(5)}:`)) : undefined;
    const what = gate ? gate.slice(gate.indexOf(':') + 2) : st.actions.join('; ') || '(no activity)';
    out.push(`  ${String(i + 1).padStart(2)}. ${st.step}${st.step === s.pointOfNoReturn.step ? ' (point of no return)' : ''}: ${what}`);
  });
  const undos = s.dryRun?.compensations ?? [];
  if (undos.length) {
    out.push(`undone, last first, if it fails, is stopped or gets a no-go before ${s.pointOfNoReturn.step}:`);
    for (const c of [...undos].reverse()) out.push(`  - ${c.step}: ${c.manualAction}${c.after?.length ? ` (only once the undo of ${c.after.join(' and ')} succeeded)` : ''}`);
  }
  if (s.dryRun?.wayBack) out.push(`after ${s.pointOfNoReturn.step}, a no-go, an abort or a failure answered "way-back" takes the way back:`, `  - ${s.dryRun.wayBack}`);
  return out.map(printable).join('\n');
}

export function formatReport(id: string, s: MigrationStatus): string {
  const out: string[] = [`# Report: ${id}`, ''];
  out.push(`kind: ${s.kind}   name: ${s.name}   outcome: ${s.outcome ?? `still running (${s.phase})`}`);
  out.push(`started by ${s.startedBy} at ${s.startedAt}; ended ${s.endedAt ?? '-'}`);
  out.push(`point of no return (${s.pointOfNoReturn.step}): ${s.pointOfNoReturn.passedAt ?? 'not passed'}`);
  out.push('', '## Timeline');
  // Decisions first: a step that starts in the same millisecond as the go it follows is listed after it.
  const events: [string, string][] = [];
  const key = (fp?: string) => (fp ? ` (key ${fp})` : '');
  for (const d of s.decisions) events.push([d.at, `decision ${d.decision} at gate ${d.gate} by ${d.by}${key(d.fingerprint)} via ${d.via}${d.reason ? `: ${d.reason}` : ''}`]);
  for (const r of s.refusedDecisions) events.push([r.at, `refused ${r.decision ?? '?'}${r.gate ? ` at gate ${r.gate}` : ''} by ${r.by ?? '?'}: ${r.why}`]);
  if (s.abort) events.push([s.abort.at, `abort by ${s.abort.by}${key(s.abort.fingerprint)}: ${s.abort.reason}`]);
  if (s.wayBack?.abort) events.push([s.wayBack.abort.at, `abort of the way back by ${s.wayBack.abort.by}${key(s.wayBack.abort.fingerprint)}: ${s.wayBack.abort.reason}`]);
  for (const c of s.controls ?? []) {
    events.push([c.at, `${c.action} by ${c.by}${key(c.fingerprint)}${c.held ? `: ${c.held}` : ''}`]);
    if (c.appliedAt) events.push([c.appliedAt, `held pause by ${c.by} applied: the outage window closed`]);
  }
  for (const st of s.steps) {
    events.push([st.startedAt, `step ${st.name} started`]);
    if (st.endedAt) events.push([st.endedAt, `step ${st.name} ${st.state} (${secs(st.startedAt, st.endedAt)})${st.summary ? `: ${st.summary}` : ''}`]);
  }
  for (const c of s.compensations) events.push([c.endedAt, `compensation ${c.step} ${c.state}: ${c.detail ?? c.error ?? ''}`]);
  events.sort((a, b) => a[0].localeCompare(b[0]));
  for (const [at, what] of events) out.push(`  ${at}  ${what}`);
  if (s.refusedDropped) out.push(`  (${s.refusedDropped} earlier refusals not kept)`);
  if (s.decisions.length) {
    out.push('', '## Decisions (with the evidence shown)');
    for (const d of s.decisions) {
      out.push(`- ${d.decision} at ${d.gate} by ${d.by} at ${d.at}${d.reason ? ` — "${d.reason}"` : ''}`);
      if (d.fingerprint) out.push(`    signed by key ${d.fingerprint} at ${d.signature?.signedAt ?? '?'}${d.signature?.evidence ? ` over evidence ${d.signature.evidence}` : ''}`);
      for (const [k, v] of Object.entries(d.evidence)) out.push(`    ${k}: ${v}`);
    }
  }
  out.push('', '## Figures');
  for (const [k, v] of Object.entries(s.figures)) out.push(`  ${k}: ${v}`);
  out.push('', '## Compensations');
  if (!s.compensations.length) out.push('  none ran');
  for (const c of s.compensations) out.push(`  ${c.state.padEnd(7)} ${c.step}: ${c.detail ?? c.error ?? ''}`);
  if (s.failure) out.push('', `## Why it rolled back / failed`, `  ${s.failure}`);
  if (s.manualActions.length) out.push('', '## Manual intervention required', ...s.manualActions.map((a) => `  - ${a}`));
  return out.map(printable).join('\n');
}
