// Gate rules, pure so the update validator (synchronous) and the signal handler share them and unit tests
// can call them without a server.
import type { ApprovalPolicy, DecisionInput, GateState } from '../shared/types';

/** Returns why a decision must be refused, or null when it may be applied. */
export function refusalReason(
  input: DecisionInput,
  ctx: { openGate: GateState | null; approval: ApprovalPolicy; startedBy: string; finished: boolean },
): string | null {
  if (!input || typeof input !== 'object') return 'a decision needs gate, decision and by';
  if (input.decision !== 'go' && input.decision !== 'no-go') {
    return `decision must be "go" or "no-go", got ${JSON.stringify(input.decision)}`;
  }
  if (!input.by || typeof input.by !== 'string') return 'a decision must say who makes it (by)';
  if (ctx.finished) return 'the migration has finished: no gate is open';
  if (!ctx.openGate) return `gate "${input.gate}" is not open: the migration is not waiting at any gate`;
  if (ctx.openGate.name !== input.gate) {
    return `gate "${input.gate}" is not open: the migration is waiting at gate "${ctx.openGate.name}"`;
  }
  const isApprover = ctx.approval.approvers.includes(input.by);
  // Anyone responsible for the run may stop it; only a listed approver may let it go on.
  if (input.decision === 'no-go') {
    if (!isApprover && input.by !== ctx.startedBy) {
      return `${input.by} is not an approver of this migration (approvers: ${ctx.approval.approvers.join(', ')})`;
    }
    if (!input.reason) return 'a no-go needs a reason';
    return null;
  }
  if (!isApprover) {
    return `${input.by} is not an approver of this migration (approvers: ${ctx.approval.approvers.join(', ')})`;
  }
  if (ctx.approval.requireSecondPerson && input.by === ctx.startedBy) {
    return `${input.by} started this migration and the plan requires a second person to approve it`;
  }
  return null;
}
