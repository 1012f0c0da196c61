import { describe, expect, it } from 'vitest';
import { decisionWaitLine, formatReport, formatStatus, printable } from '../../scripts/cli/format';
import { renderDetails } from '../../workflows/lib/migration';
import { initialStatus, type MigrationStatus, type StepRecord } from '../../workflows/shared/types';

const step = (name: string, summary?: string): StepRecord => ({
  name,
  state: 'done',
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:01.500Z',
  summary,
});

const status = (steps: StepRecord[]): MigrationStatus => ({
  ...initialStatus({ kind: 'postgres-failover', name: 'pg', startedBy: 'alice', startedAt: '2026-01-01T00:00:00.000Z', pointOfNoReturn: 'promote' }),
  phase: 'done',
  steps,
  outcome: 'completed',
  endedAt: '2026-01-01T00:00:10.000Z',
});

/** The lines under `steps:`. */
const stepLines = (text: string) => text.split('\n').slice(text.split('\n').indexOf('steps:') + 1).filter((l) => l.startsWith('  '));

describe('formatStatus', () => {
  it('puts durations and summaries in one column when step names are longer than 16 characters', () => {
    const text = formatStatus('postgres-failover-pg', status([
      step('preflight', 'ok'),
      step('confirm-streaming', 'streaming'),
      step('reverse-switch-traffic', 'pg → dc1'),
      step('fence'),
    ]));
    const lines = stepLines(text);
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.indexOf('1.5 s'))).size).toBe(1);
    expect(new Set(lines.slice(0, 3).map((l) => l.lastIndexOf('  ') + 2)).size).toBe(1);
    expect(lines[2]).toMatch(/^ {2}done {5}reverse-switch-traffic {4}1\.5 s {2}pg → dc1$/);
    expect(lines[3]).toMatch(/1\.5 s$/);
  });

  it('keeps the 16-character column for short names', () => {
    const [line] = stepLines(formatStatus('x', status([step('copy', 'done')])));
    expect(line).toBe(`  done     ${'copy'.padEnd(16)}    1.5 s  done`);
  });
});

describe('formatReport', () => {
  it('lists every step on the timeline, long names whole', () => {
    const text = formatReport('postgres-failover-pg', status([step('reverse-switch-traffic', 'pg → dc1')]));
    expect(text).toContain('step reverse-switch-traffic started');
    expect(text).toContain('step reverse-switch-traffic done (1.5 s): pg → dc1');
  });
});

describe('printing what others wrote', () => {
  it('shows control characters instead of obeying them', () => {
    const s = status([step('verify', 'ok\x1b[2J\x1b[Hall clear')]);
    s.decisions.push({ gate: 'cutover', decision: 'go', by: 'bob\x07', reason: 'fine\nstep fence done: faked', at: '2026-01-01T00:00:02.000Z', via: 'signal', evidence: {} });
    for (const text of [formatStatus('id', s), formatReport('id', s)]) {
      expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
      expect(text).toContain('ok\\x1b[2J\\x1b[Hall clear');
    }
    const report = formatReport('id', s);
    expect(report).toContain('fine\\nstep fence done: faked');
    expect(report.split('\n').some((l) => l.startsWith('step fence done'))).toBe(false);
    expect(printable('tab\tstays → unicode stays')).toBe('tab\tstays → unicode stays');
  });
});

describe('formatReport with signed decisions', () => {
  it('shows each decision\'s key fingerprint, the abort\'s, held pauses and how many refusals were not kept', () => {
    const fp = 'SHA256:9/vDh7ZVoub7A893RYogDt2G2t9zviWnRfFBKfbtnto';
    const s: MigrationStatus = {
      ...status([step('fence')]),
      decisions: [{
        gate: 'cutover', decision: 'go', by: 'bob', reason: 'lag ok', at: '2026-01-01T00:00:02.000Z', via: 'update', evidence: { lagBytes: 0 },
        fingerprint: fp, signature: { sshsig: '-----BEGIN SSH SIGNATURE-----', signedAt: '2026-01-01T00:00:01.000Z', evidence: 'sha256:ab' },
      }],
      abort: { by: 'alice', reason: 'stop', at: '2026-01-01T00:00:05.000Z', fingerprint: 'SHA256:alice' },
      controls: [{ action: 'pause', by: 'alice', at: '2026-01-01T00:00:03.000Z', fingerprint: 'SHA256:alice', held: 'sent inside the outage window fence → switch: applied when it closes', appliedAt: '2026-01-01T00:00:04.000Z' }],
      refusedDecisions: [{ decision: 'go', gate: 'cutover', by: 'mallory', at: '2026-01-01T00:00:01.500Z', why: 'unsigned' }],
      refusedDropped: 7,
    };
    const text = formatReport('postgres-failover-pg', s);
    expect(text).toContain(`decision go at gate cutover by bob (key ${fp}) via update: lag ok`);
    expect(text).toContain(`signed by key ${fp} at 2026-01-01T00:00:01.000Z over evidence sha256:ab`);
    expect(text).toContain('abort by alice (key SHA256:alice): stop');
    expect(text).toContain('pause by alice (key SHA256:alice): sent inside the outage window fence → switch');
    expect(text).toContain('held pause by alice applied: the outage window closed');
    expect(text).toContain('refused go at gate cutover by mallory: unsigned');
    expect(text).toContain('(7 earlier refusals not kept)');
  });
});

describe('a gate that takes no go now', () => {
  it('says so under its evidence, in the CLI status and in the Web UI\'s current details, with the last refusal', () => {
    const why = 'the parity is NOT clean: cycle #3 found a difference or a failure (wc different), 0 of 2 clean cycles in a row since; a go is taken once the clean period is reached again, signed over the evidence shown then';
    const s: MigrationStatus = {
      ...status([step('dual-write')]),
      outcome: null,
      endedAt: null,
      phase: 'waiting-at-cutover',
      gate: { name: 'cutover', openedAt: '2026-01-01T00:00:02.000Z', evidence: { verdict: 'NOT clean: cycle #3 found a difference or a failure (wc different), 0 of 2 clean cycles in a row since' }, notifications: 1, goRefused: why },
      refusedDecisions: [{ gate: 'cutover', decision: 'go', by: 'bob', reason: 'fine', at: '2026-01-01T00:00:05.000Z', why: `gate "cutover" takes no go now: ${why}` }],
    };
    const text = formatStatus('hdfs-dual-write-w', s);
    expect(text).toContain(`  A GO IS NOT TAKEN NOW (a no-go is): ${why}`);
    expect(text).toContain(`refused: 1 (last: go by bob: gate "cutover" takes no go now: ${why})`);
    const details = renderDetails(s, 'hdfs-dual-write-w');
    expect(details).toContain(`**A go is not taken now** (a no-go is): ${why}`);
    expect(details).toContain(`Refused: 1 (last: go at gate \`cutover\` by bob at 2026-01-01T00:00:05.000Z: gate "cutover" takes no go now: ${why})`);
    // Without a go check nothing of this shows.
    const plain = { ...s, gate: { ...s.gate!, goRefused: undefined }, refusedDecisions: [] };
    expect(formatStatus('x', plain)).not.toMatch(/NOT TAKEN/);
    expect(renderDetails(plain, 'x')).not.toMatch(/not taken|Refused/);
  });
});

describe('a go held while the gate reads its evidence again', () => {
  const waiting = (gate: Partial<NonNullable<MigrationStatus['gate']>>): MigrationStatus => ({
    ...status([step('dual-write')]),
    outcome: null,
    endedAt: null,
    phase: 'waiting-at-cutover',
    gate: { name: 'cutover', openedAt: '2026-01-01T00:00:02.000Z', evidence: { verdict: 'clean period reached' }, notifications: 1, ...gate },
  });

  it('the CLI says once what the go waits for: the running cycle and where it is', () => {
    const s = waiting({ reading: 'cycle #4 (refresh, 3/5 datasets done)', heldGo: { by: 'bob', at: '2026-01-01T00:00:09.000Z' } });
    expect(decisionWaitLine('hdfs-dual-write-w', s, 'cutover', 'go', 2000)).toBe(
      'gate cutover: waiting for cycle #4 (refresh, 3/5 datasets done) to end before the go is taken or refused (on what it shows)',
    );
    // A move that says nothing of its read: the read itself.
    expect(decisionWaitLine('w', waiting({ heldGo: { by: 'bob', at: '2026-01-01T00:00:09.000Z' } }), 'cutover', 'go', 2000)).toBe(
      'gate cutover: waiting for the evidence read again to end before the go is taken or refused (on what it shows)',
    );
    // `cutover status` and the Web UI show the read and the held go too.
    const text = formatStatus('hdfs-dual-write-w', s);
    expect(text).toContain('  reading the evidence again now: cycle #4 (refresh, 3/5 datasets done)');
    expect(text).toContain('  a go by bob (2026-01-01T00:00:09.000Z) is held until that read ends: taken or refused on what it shows');
    const details = renderDetails(s, 'hdfs-dual-write-w');
    expect(details).toContain('Reading the evidence again now: cycle #4 (refresh, 3/5 datasets done)');
    expect(details).toContain('**A go by bob** (2026-01-01T00:00:09.000Z) **is held** until that read ends');
  });

  it('without a held go at that gate (no worker, another gate, no status) it says where the run is and where to look', () => {
    const reading = waiting({ reading: 'cycle #4 (refresh, 3/5 datasets done)' });
    expect(decisionWaitLine('w', reading, 'cutover', 'no-go', 2000)).toBe(
      'gate cutover: no answer to the no-go after 2 s (phase waiting-at-cutover); still waiting: is a worker running? `cutover status w` shows the run',
    );
    expect(decisionWaitLine('w', { ...reading, paused: true, gate: { ...reading.gate!, name: 'complete', heldGo: { by: 'bob', at: 'x' } } }, 'cutover', 'go', 2500)).toMatch(
      /^gate cutover: no answer to the go after 3 s \(phase waiting-at-cutover, paused\); /,
    );
    expect(decisionWaitLine('w', null, 'cutover', 'go', 2000)).toMatch(/\(its status not readable either\); still waiting: is a worker running\?/);
    expect(formatStatus('w', waiting({}))).not.toMatch(/reading the evidence again|is held/);
  });
});
