// The move registry: every data move cutover knows, one line each. Everything that switches on a plan's kind
// (plan loader, CLI, sample plans, benchmarks, demo) looks the move up here.
import { fileSyncMove } from './file-sync';
import { hdfsDualWriteMove } from './hdfs-dual-write';
import type { MoveDefinition } from './move';
import { postgresFailoverMove } from './postgres-failover';
import { redisMoveMove } from './redis-move';

export const moves = [fileSyncMove, postgresFailoverMove, redisMoveMove, hdfsDualWriteMove] as const;

export type Move = (typeof moves)[number];
export type MoveKind = Move['kind'];
/** A validated plan of any move. */
export type Plan = ReturnType<Move['planSchema']['parse']>;

export const moveKinds = moves.map((m) => m.kind);

/** The move of a kind, or undefined. */
export function findMove(kind: string): MoveDefinition | undefined {
  return (moves as readonly MoveDefinition[]).find((m) => m.kind === kind);
}
