// Compensations as data: a LIFO list of `{ step, undo, args, manualAction }`, where `undo` names one of the
// move's undo procedures (a few activity calls that return a one-line description of what they did). Plain
// data survives continue-as-new; closures would not. The list runs inside a non-cancellable scope so an abort
// or a cancelled workflow cannot stop a rollback half-way. Every outcome is recorded; a failed undo does not
// stop the others (each undo is independent), but it makes the run end as ManualInterventionRequired.
import { CancellationScope } from '@temporalio/workflow';
import type { CompensationData, CompensationRecord } from '../shared/types';

/** An undo procedure of a move: activity calls, returning what was done (shown in status and report). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type UndoProcedure = (args: any) => Promise<string | void>;
export type UndoProcedures = Record<string, UndoProcedure>;

/** A compensation whose procedure name and arguments are checked against the move's procedures. */
export type Compensation<U extends UndoProcedures = UndoProcedures> = {
  [K in keyof U & string]: { step: string; manualAction: string; undo: K; args: Parameters<U[K]>[0] };
}[keyof U & string];

export interface SagaResult {
  records: CompensationRecord[];
  manualActions: string[];
}

export class Saga {
  /**
   * @param stack the registered compensations (carried across continue-as-new, so it is the caller's array)
   * @param undos the move's undo procedures, looked up by name when the saga runs
   * @param onRecord told of every compensation's outcome
   */
  constructor(
    readonly stack: CompensationData[],
    private readonly undos: UndoProcedures,
    private readonly onRecord: (record: CompensationRecord) => void = () => undefined,
    /** While true, registrations are ignored: a resumed run passing them again (the carried stack has them). */
    private readonly replaying: () => boolean = () => false,
  ) {}

  /** Register before the forward step when a timeout could hide its effect: every undo is idempotent. */
  add(compensation: CompensationData): void {
    if (this.replaying()) return;
    this.stack.push(compensation);
  }

  get pending(): readonly CompensationData[] {
    return [...this.stack].reverse();
  }

  /** Forget every registered undo: used at the point of no return, after which rollback is the way back. */
  clear(): void {
    this.stack.length = 0;
  }

  async compensate(): Promise<SagaResult> {
    return CancellationScope.nonCancellable(async () => {
      const records: CompensationRecord[] = [];
      const manualActions: string[] = [];
      while (this.stack.length > 0) {
        const c = this.stack.pop()!;
        const startedAt = new Date().toISOString();
        let record: CompensationRecord;
        try {
          const procedure = this.undos[c.undo];
          if (!procedure) throw new Error(`no undo procedure named "${c.undo}" in this workflow`);
          const detail = await procedure(c.args);
          record = { step: c.step, state: 'done', startedAt, endedAt: new Date().toISOString(), detail: detail || undefined };
        } catch (err) {
          record = { step: c.step, state: 'failed', startedAt, endedAt: new Date().toISOString(), error: messageOf(err) };
          manualActions.push(c.manualAction);
        }
        records.push(record);
        this.onRecord(record);
      }
      return { records, manualActions };
    });
  }
}

export function messageOf(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { message?: string; cause?: { message?: string } };
    // ActivityFailure's own message is generic ("Activity task failed"); the cause says what happened.
    if (e.cause?.message && e.message && /activity task failed|activity function .* failed/i.test(e.message)) {
      return e.cause.message;
    }
    if (e.message) return e.message;
  }
  return String(err);
}
