// Compensations: a LIFO list of undo steps, run inside a non-cancellable scope so an abort or a cancelled
// workflow cannot stop a rollback half-way. Every outcome is recorded; a failed undo does not stop the others
// (each undo is independent), but it makes the run end as ManualInterventionRequired.
import { CancellationScope } from '@temporalio/workflow';
import type { CompensationRecord } from '../shared/types';

export interface Compensation {
  /** The forward step this undoes, shown in status and report. */
  step: string;
  /** What an operator must do by hand if the undo fails. */
  manualAction: string;
  /** Returns a one-line description of what it did. */
  undo: () => Promise<string | void>;
}

export interface SagaResult {
  records: CompensationRecord[];
  manualActions: string[];
}

export class Saga {
  private readonly stack: Compensation[] = [];

  constructor(private readonly onRecord: (record: CompensationRecord) => void = () => undefined) {}

  /** Register before the forward step when a timeout could hide its effect: every undo is idempotent. */
  add(compensation: Compensation): void {
    this.stack.push(compensation);
  }

  get pending(): readonly Compensation[] {
    return [...this.stack].reverse();
  }

  /** Forget every registered undo: used at the point of no return, after which rollback is a reverse move. */
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
          const detail = await c.undo();
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
