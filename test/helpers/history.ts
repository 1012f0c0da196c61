import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadSandbox } from '../../scripts/sandbox/endpoints';

// A workflow history as searchable text: every string and every payload's bytes decoded, so a test can check
// what reached history (a password must not; a phase name did or did not).
export function historyText(history: unknown): string {
  const out: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown) => {
    if (v === null || v === undefined) return;
    if (typeof v === 'string') out.push(v);
    else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
    else if (typeof v === 'object') {
      if (seen.has(v)) return;
      seen.add(v);
      for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x);
    }
  };
  walk(history);
  return out.join('\n');
}

/**
 * Keeps a run's history as test/histories/<name>.json when CUTOVER_RECORD_HISTORIES=1, for the replay test
 * (test/workflows/replay.test.ts): today's workflow code must replay what yesterday's code wrote. Written by
 * the Temporal CLI (`temporal workflow show -o json`), the standard history file format. Existing files are kept.
 */
export function recordHistory(name: string, workflowId: string, serverAddress?: string): void {
  if (process.env.CUTOVER_RECORD_HISTORIES !== '1') return;
  // A stored history is what running migrations were written by: it is never replaced, only joined by new ones.
  if (existsSync(path.join(HISTORIES_DIR, `${name}.json`))) return;
  const address = serverAddress ?? process.env.TEMPORAL_ADDRESS ?? loadSandbox().temporal.address;
  const r = spawnSync('temporal', ['workflow', 'show', '--address', address, '--workflow-id', workflowId, '--output', 'json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`temporal workflow show ${workflowId} failed: ${r.stderr || r.error?.message}`);
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), r.stdout);
}

export const HISTORIES_DIR = path.resolve(__dirname, '../histories');
