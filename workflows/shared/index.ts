export * from './errors';
export * from './types';
export * from './messages';
export * from './signing';
export * from './fence';
export const TASK_QUEUE = 'cutover';
/** Where a dry run's activities go: reads real, changes recorded (activities/dry-run.ts). */
/** The memo key that makes a run a dry run (`cutover plan`): workflows/lib/dry-run.ts. */
export const DRY_RUN_MEMO = 'cutoverDryRun';
export const dryRunTaskQueue = (taskQueue: string): string => `${taskQueue}-dry-run`;
export const searchAttributeNames = { phase: 'CutoverPhase', kind: 'CutoverKind', name: 'CutoverName', cleanCycles: 'CutoverCleanCycles' } as const;
/** Each search attribute's type, as `temporal operator search-attribute create --type` spells it. */
export const searchAttributeTypes: Record<(typeof searchAttributeNames)[keyof typeof searchAttributeNames], 'Keyword' | 'Int'> = {
  CutoverPhase: 'Keyword',
  CutoverKind: 'Keyword',
  CutoverName: 'Keyword',
  // hdfs-dual-write: consecutive clean cycles of the dual-write period (`CutoverCleanCycles >= 7`).
  CutoverCleanCycles: 'Int',
};
