export * from './errors';
export * from './types';
export * from './messages';
export const TASK_QUEUE = 'cutover';
/** Where a dry run's activities go: reads real, changes recorded (activities/dry-run.ts). */
export const dryRunTaskQueue = (taskQueue: string): string => `${taskQueue}-dry-run`;
export const searchAttributeNames = { phase: 'CutoverPhase', kind: 'CutoverKind', name: 'CutoverName' } as const;
