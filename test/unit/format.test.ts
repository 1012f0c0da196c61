import { describe, expect, it } from 'vitest';
import { formatReport, formatStatus } from '../../scripts/cli/format';
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
