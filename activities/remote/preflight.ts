// Preflight checks collect every problem and report them all at once, nothing having been changed.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';

/** Preflight never retries: the run fails with the whole list, for an operator to fix in one go. */
export function preflightFailure(problems: string[]): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.PreflightFailed,
    nonRetryable: true,
    message: `preflight failed: ${problems.join('; ')}`,
    details: [problems],
  });
}

export class Problems {
  private readonly list: string[] = [];

  add(problem: string): void {
    this.list.push(problem);
  }

  /**
   * Runs one check; when it throws (a host that cannot be reached, a secret that cannot be read), that is
   * one more problem, "where: message" (the bare message when `where` is null), and the result is undefined.
   */
  async check<T>(where: string | null, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      const message = (err as Error).message;
      this.add(where === null ? message : `${where}: ${message}`);
      return undefined;
    }
  }

  /** Throws PreflightFailed with every problem found, if there is any. */
  throwIfAny(): void {
    if (this.list.length > 0) throw preflightFailure(this.list);
  }
}
