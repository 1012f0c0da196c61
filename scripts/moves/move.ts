// What a data move is made of, one definition per move (scripts/moves/<kind>.ts), listed once in index.ts.
// The plan loader, the CLI, the sample-plan writer, the bench runner and the demo iterate over the registry:
// adding a move is new files (workflow, activities, plan, bench, demo, tests) plus one line there.
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import type * as workflows from '../../workflows';
import { ErrorType } from '../../workflows/shared';
import type { Benchmark } from '../bench/main';
import { UserError } from '../cli/errors';
import type { Demo, MoveResult } from '../demo/drive';
import type { SandboxEndpoints } from '../sandbox/endpoints';

/** A plan's cross-field problem: where in the plan, and what is wrong. */
export interface PlanProblem {
  path: string[];
  message: string;
}

/** Every workflow cutover runs, by its exported name. */
export type Workflows = typeof workflows;
export type WorkflowName = keyof Workflows;
/** The input of a workflow: what a move's plan turns into. */
export type InputOf<W extends WorkflowName> = Parameters<Workflows[W]>[0];

/** What `cutover plan` prints: what the read-only preflight found, and the steps `start` would take. */
export interface PlanReview {
  facts: string[];
  steps: string[];
  preflight: unknown;
}

export interface MoveDefinition<W extends WorkflowName = WorkflowName, P extends { kind: string; name: string } = { kind: string; name: string }> {
  kind: P['kind'];
  /** One line for help texts and the README table. */
  summary: string;
  /** Its activities' folder, `activities/<system>/` (one system may serve several moves). */
  system: string;
  /** The workflow it runs (typed: its input is what `toInput` returns). */
  workflowType: W;
  /** The plan: zod schema, the cross-field checks also run on a document that failed the schema elsewhere. */
  planSchema: z.ZodType<P>;
  referenceProblems(raw: unknown): PlanProblem[];
  toInput(plan: P, startedBy: string): InputOf<W>;
  /** The sandbox's sample plan (`write-sandbox-plan.ts <kind>`), named `name`. */
  samplePlan(sb: SandboxEndpoints, name: string): Record<string, unknown>;
  /** Default name of the sample plan. */
  sampleName: string;
  /** Dry run: read-only preflight against the real hosts, and the steps start would take. */
  review(plan: P, ctx: { file: string; startedBy: string }): Promise<PlanReview>;
  /** `npm run bench -- <kind>` (loaded on use: benchmarks pull in workloads). */
  bench(): Promise<Benchmark>;
  /** Its part of `npm run demo` (loaded on use). */
  demo: { title: string; run(): Promise<(d: Demo) => Promise<MoveResult>> };
}

/** Checks at compile time that the parts of a move fit together (plan → input of its workflow). */
export function defineMove<W extends WorkflowName, P extends { kind: string; name: string }>(m: MoveDefinition<W, P>): MoveDefinition<W, P> {
  return m;
}

/** A failed preflight is the user's to fix: every problem, one per line, and the promise that nothing changed. */
export function preflightError(file: string, err: unknown): unknown {
  if (err instanceof ApplicationFailure && err.type === ErrorType.PreflightFailed) {
    const problems = (err.details?.[0] as string[]) ?? [err.message];
    return new UserError(`preflight of ${file} failed, nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return err;
}
