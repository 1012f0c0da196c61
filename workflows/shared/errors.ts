// Failure type names shared by activities, workflows, the worker's retry policies and the CLI.
// String literals, so history stays readable and stable.
export const ErrorType = {
  /** A read-only check found the world not as the plan needs it; nothing was changed. */
  PreflightFailed: 'PreflightFailed',
  /** Plan input that passed the schema but cannot be acted on (unknown host alias, unsafe path). */
  InvalidPlan: 'InvalidPlan',
  /** A host could not be reached or refused authentication. */
  HostUnreachable: 'HostUnreachable',
  /** A remote command failed in a way retrying will not fix. */
  CommandFailed: 'CommandFailed',
  /** Verification found the two sides different. */
  VerificationFailed: 'VerificationFailed',
  /** The traffic switch did not take effect. */
  TrafficSwitchFailed: 'TrafficSwitchFailed',
  /** A condition expected to clear by itself (a copy cut off, a slot still held by an exiting walsender): retried. */
  Transient: 'Transient',
  /** Replication lag did not stay under the plan's threshold in time: the gate is not offered. */
  CatchUpTimedOut: 'CatchUpTimedOut',
  /** A gate took no go: its evidence does not allow one now (a clean period broken); recorded among the refused decisions. */
  GoNotTaken: 'GoNotTaken',
  /** The run ended after undoing its forward steps (no-go, abort, gate timeout or failure). */
  RolledBack: 'RolledBack',
  /** A compensation failed: an operator must finish the rollback by hand. */
  ManualInterventionRequired: 'ManualInterventionRequired',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** Types an activity retry cannot fix. */
export const nonRetryableErrorTypes: string[] = [
  ErrorType.PreflightFailed,
  ErrorType.InvalidPlan,
  ErrorType.CommandFailed,
  ErrorType.VerificationFailed,
];
