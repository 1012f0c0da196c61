// Compensations as data: a LIFO list of `{ step, undo, args, manualAction, after? }`, where `undo` names one of
// the move's undo procedures (a few activity calls that return a one-line description of what they did). Plain
// data survives continue-as-new; closures would not. The list runs inside a non-cancellable scope so an abort
// or a cancelled workflow cannot stop a rollback half-way. Every outcome is recorded. A failed undo does not stop
// the undos that do not depend on it; those that name it in `after` (directly, or through one that was skipped)
// are skipped, not run: undoing them would do harm (writers unfrozen while their name still points at the new
// side, the copy they now write to removed). Any failed or skipped undo ends the run as
// ManualInterventionRequired, and the manual actions list, in the order to do them, exactly what is left.
import { CancellationScope } from '@temporalio/workflow';
import type { CompensationData, CompensationRecord } from '../shared/types';

/** An undo procedure of a move: activity calls, returning what was done (shown in status and report). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type UndoProcedure = (args: any) => Promise<string | void>;
export type UndoProcedures = Record<string, UndoProcedure>;

/** A compensation whose procedure name and arguments are checked against the move's procedures. */
export type Compensation<U extends UndoProcedures = UndoProcedures> = {
  [K in keyof U & string]: { step: string; manualAction: string; undo: K; args: Parameters<U[K]>[0]; after?: string[] };
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
      // How each step's undo went in this rollback: what `after` is checked against.
      const outcome = new Map<string, CompensationRecord['state']>();
      while (this.stack.length > 0) {
        const c = this.stack.pop()!;
        const startedAt = new Date().toISOString();
        const blocker = this.blocker(c, outcome);
        let record: CompensationRecord;
        if (blocker) {
          record = { step: c.step, state: 'skipped', startedAt, endedAt: startedAt, detail: `not run: ${blocker}` };
          manualActions.push(`${c.manualAction} (not run because ${blocker}: do it only after that)`);
        } else {
          try {
            const procedure = this.undos[c.undo];
            if (!procedure) throw new Error(`no undo procedure named "${c.undo}" in this workflow`);
            const detail = await procedure(c.args);
            record = { step: c.step, state: 'done', startedAt, endedAt: new Date().toISOString(), detail: detail || undefined };
          } catch (err) {
            record = { step: c.step, state: 'failed', startedAt, endedAt: new Date().toISOString(), error: messageOf(err) };
            manualActions.push(c.manualAction);
          }
        }
        outcome.set(c.step, record.state);
        records.push(record);
        this.onRecord(record);
      }
      return { records, manualActions };
    });
  }

  /**
   * Why `c` must not run now, or null. A step in `after` whose undo failed or was skipped blocks it; so does one
   * still waiting in the stack (registered before `c`, so undone after it: a mistake in the move, kept safe).
   */
  private blocker(c: CompensationData, outcome: Map<string, CompensationRecord['state']>): string | null {
    for (const step of c.after ?? []) {
      const state = outcome.get(step);
      if (state === 'failed') return `the undo of ${step} failed`;
      if (state === 'skipped') return `the undo of ${step} was not done`;
      if (state === undefined && this.stack.some((d) => d.step === step)) return `the undo of ${step} has not run yet`;
    }
    return null;
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
