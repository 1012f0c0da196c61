export * from './errors';
export * from './types';
export * from './messages';
export const TASK_QUEUE = 'cutover';
export const searchAttributeNames = { phase: 'CutoverPhase', kind: 'CutoverKind', name: 'CutoverName' } as const;
