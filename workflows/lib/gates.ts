// Gate rules, pure so the update validator (synchronous) and the signal handler share them and unit tests
// can call them without a server.
import { RECOVER_GATE, type ApprovalPolicy, type DecisionInput, type GateState } from '../shared/types';

const GATE_DECISIONS = ['go', 'no-go'];
const RECOVER_DECISIONS = ['retry', 'way-back', 'done-by-hand'];

/** Returns why a decision must be refused, or null when it may be applied. */
export function refusalReason(
  input: DecisionInput,
  ctx: {
    openGate: GateState | null;
    approval: ApprovalPolicy;
    startedBy: string;
    finished: boolean;
    /** Whether a way back exists now (past the point of no return, once the move has armed it). */
    wayBack?: boolean;
  },
): string | null {
  if (!input || typeof input !== 'object') return 'a decision needs gate, decision and by';
  const recovering = input.gate === RECOVER_GATE;
  if (!(recovering ? RECOVER_DECISIONS : GATE_DECISIONS).includes(input.decision)) {
    return recovering
      ? `at gate "${RECOVER_GATE}" the decision must be "retry", "way-back" or "done-by-hand", got ${JSON.stringify(input.decision)}`
      : `decision must be "go" or "no-go" (at gate "${RECOVER_GATE}": "retry", "way-back" or "done-by-hand"), got ${JSON.stringify(input.decision)}`;
  }
  if (!input.by || typeof input.by !== 'string') return 'a decision must say who makes it (by)';
  if (ctx.finished) return 'the migration has finished: no gate is open';
  if (!ctx.openGate) return `gate "${input.gate}" is not open: the migration is not waiting at any gate`;
  if (ctx.openGate.name !== input.gate) {
    return `gate "${input.gate}" is not open: the migration is waiting at gate "${ctx.openGate.name}"`;
  }
  const isApprover = ctx.approval.approvers.includes(input.by);
  if (input.decision === 'way-back' && !ctx.wayBack) return 'there is no way back from this step: retry it, or record it done by hand';
  if (input.decision === 'done-by-hand' && !(input.note ?? input.reason)) return 'done-by-hand needs a note saying what was done';
  // Anyone responsible for the run may stop it, retry a step or take the way back; only a listed approver may
  // let it go on (go, or a step recorded done by hand).
  if (input.decision === 'retry' || input.decision === 'way-back') {
    return isApprover || input.by === ctx.startedBy ? null : `${input.by} is not an approver of this migration (approvers: ${ctx.approval.approvers.join(', ')})`;
  }
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
