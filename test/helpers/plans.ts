// Plan fixtures for the schema tests: public keys (they sign nothing; two ed25519 keys made once by ssh-keygen)
// and the problems a refused plan lists.
import { expect } from 'vitest';
import { parsePlan, PlanError } from '../../scripts/plans/load';

export const ALICE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINQaEqsAVLrzKc0Uc7nwxii5vWg2fjDBn+WBxwgXAtz8';
export const BOB_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICid0xkP8h8PwB84b7yHygPceJo3vHL4w94+4zAhpVST';
/** `approvers:` of a plan in YAML flow style: alice and bob as allowed_signers lines. */
export const APPROVERS = `approvers: ['alice ${ALICE_KEY} alice@laptop', 'bob ${BOB_KEY}']`;

/** The problems of a plan that must be refused (the error names the file); fails the test if it is accepted. */
export function planProblems(text: string, file = 'plan.yaml'): string[] {
  try {
    parsePlan(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(PlanError);
    expect((err as PlanError).message).toContain(file);
    return (err as PlanError).problems;
  }
  throw new Error('plan was accepted');
}
