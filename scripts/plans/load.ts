// Reading a plan file (YAML or JSON) and validating it; errors name the file, the path inside it and what
// was expected.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { findMove, moveKinds, type Plan } from '../moves';

export class PlanError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid plan ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * A union's problems are those of the branch the value was meant for: the one whose problems lie inside the
 * value (a field of the mapping), not with its type. Without one, the union's own message says what it takes.
 */
function expandUnions(issues: z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((i) => {
    if (i.code !== 'invalid_union' || !('errors' in i) || !i.errors?.length) return [i];
    const meant = i.errors.find((branch) => branch.some((e) => e.path.length > 0 || e.code === 'unrecognized_keys'));
    return meant ? expandUnions(meant.map((e) => ({ ...e, path: [...i.path, ...e.path] }) as z.core.$ZodIssue)) : [i];
  });
}

export function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  return expandUnions(issues).map((i) => {
    const where = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').slice(1) : '(top level)';
    let message = i.message;
    if (i.code === 'unrecognized_keys') message = `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}`;
    if (i.code === 'invalid_type' && /received undefined/.test(i.message)) message = `missing: expected ${i.expected}`;
    return `${where}: ${message}`;
  });
}

export function parsePlan(text: string, file: string): Plan {
  let raw: unknown;
  if (file.endsWith('.json')) {
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new PlanError(file, [`not valid JSON: ${(err as Error).message}`]);
    }
  } else {
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length) throw new PlanError(file, doc.errors.map((e) => `not valid YAML: ${e.message}`));
    raw = doc.toJS();
  }
  if (!raw || typeof raw !== 'object') throw new PlanError(file, ['(top level): expected a mapping with kind, name, ...']);
  const kind = (raw as { kind?: unknown }).kind;
  const move = typeof kind === 'string' ? findMove(kind) : undefined;
  if (!move) throw new PlanError(file, [`kind: expected one of ${moveKinds.join(', ')}, got ${JSON.stringify(kind)}`]);
  const parsed = move.planSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = formatIssues(parsed.error.issues);
    // zod skips cross-field checks when a field fails: run them on the raw document so every problem shows.
    for (const p of move.referenceProblems(raw)) {
      const line = `${p.path.join('.')}: ${p.message}`;
      if (!problems.includes(line)) problems.push(line);
    }
    throw new PlanError(file, problems);
  }
  return parsed.data as Plan;
}

export function loadPlan(file: string): Plan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PlanError(file, [`cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parsePlan(text, file);
}
