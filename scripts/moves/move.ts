// What a data move is made of, one definition per move (scripts/moves/<kind>.ts), listed once in index.ts.
// The plan loader, the CLI, the sample-plan writer, the bench runner and the demo iterate over the registry:
// adding a move is new files (workflow, activities, plan, bench, demo, tests) plus one line there. What `cutover
// plan` prints is not written here: it is the move's own workflow, dry-run on a worker (workflows/lib/dry-run.ts).
import type { z } from 'zod';
import type * as workflows from '../../workflows';
import type { Benchmark } from '../bench/main';
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
  /** `npm run bench -- <kind>` (loaded on use: benchmarks pull in workloads). */
  bench(): Promise<Benchmark>;
  /** Its part of `npm run demo` (loaded on use). */
  demo: { title: string; run(): Promise<(d: Demo) => Promise<MoveResult>> };
}

/** Checks at compile time that the parts of a move fit together (plan → input of its workflow). */
export function defineMove<W extends WorkflowName, P extends { kind: string; name: string }>(m: MoveDefinition<W, P>): MoveDefinition<W, P> {
  return m;
}
