import { describe, expect, it } from 'vitest';
import { refusalReason } from '../../workflows/lib/gates';
import type { GateState } from '../../workflows/shared/types';

const gate: GateState = { name: 'cutover', openedAt: '2026-01-01T00:00:00Z', evidence: {}, notifications: 1 };
const ctx = { openGate: gate, approval: { approvers: ['alice', 'bob'], requireSecondPerson: true }, startedBy: 'alice', finished: false };

describe('gate rules', () => {
  it('accepts a go from a second approver', () => {
    expect(refusalReason({ gate: 'cutover', decision: 'go', by: 'bob' }, ctx)).toBeNull();
  });
  it('refuses the starter approving their own migration when a second person is required', () => {
    expect(refusalReason({ gate: 'cutover', decision: 'go', by: 'alice' }, ctx)).toMatch(/alice started this migration.*second person/);
    expect(refusalReason({ gate: 'cutover', decision: 'go', by: 'alice' }, { ...ctx, approval: { ...ctx.approval, requireSecondPerson: false } })).toBeNull();
  });
  it('refuses people who are not approvers', () => {
    expect(refusalReason({ gate: 'cutover', decision: 'go', by: 'mallory' }, ctx)).toMatch(/mallory is not an approver.*alice, bob/);
    expect(refusalReason({ gate: 'cutover', decision: 'no-go', by: 'mallory', reason: 'x' }, ctx)).toMatch(/not an approver/);
  });
  it('lets the starter stop their own migration, with a reason', () => {
    expect(refusalReason({ gate: 'cutover', decision: 'no-go', by: 'alice', reason: 'lag' }, ctx)).toBeNull();
    expect(refusalReason({ gate: 'cutover', decision: 'no-go', by: 'alice' }, ctx)).toMatch(/needs a reason/);
  });
  it('refuses decisions for a gate that is not open', () => {
    expect(refusalReason({ gate: 'complete', decision: 'go', by: 'bob' }, ctx)).toMatch(/"complete" is not open.*waiting at gate "cutover"/);
    expect(refusalReason({ gate: 'cutover', decision: 'go', by: 'bob' }, { ...ctx, openGate: null })).toMatch(/not waiting at any gate/);
    expect(refusalReason({ gate: 'cutover', decision: 'go', by: 'bob' }, { ...ctx, finished: true })).toMatch(/finished/);
  });
  it('refuses malformed decisions', () => {
    expect(refusalReason({ gate: 'cutover', decision: 'maybe' as never, by: 'bob' }, ctx)).toMatch(/"go" or "no-go"/);
    expect(refusalReason({ gate: 'cutover', decision: 'go', by: '' }, ctx)).toMatch(/who/);
  });
});

describe('recover gate rules', () => {
  const recover: GateState = { ...gate, name: 'recover' };
  const rctx = { ...ctx, openGate: recover, wayBack: true };
  it('takes retry, way-back or done-by-hand there, and go/no-go only at other gates', () => {
    expect(refusalReason({ gate: 'recover', decision: 'retry', by: 'bob' }, rctx)).toBeNull();
    expect(refusalReason({ gate: 'recover', decision: 'go', by: 'bob' }, rctx)).toMatch(/"retry", "way-back" or "done-by-hand"/);
    expect(refusalReason({ gate: 'cutover', decision: 'retry', by: 'bob' }, ctx)).toMatch(/"go" or "no-go"/);
  });
  it('lets the starter retry or take the way back, but not record a step done by hand when a second person is required', () => {
    expect(refusalReason({ gate: 'recover', decision: 'retry', by: 'alice' }, rctx)).toBeNull();
    expect(refusalReason({ gate: 'recover', decision: 'way-back', by: 'alice' }, rctx)).toBeNull();
    expect(refusalReason({ gate: 'recover', decision: 'done-by-hand', by: 'alice', note: 'x' }, rctx)).toMatch(/second person/);
    expect(refusalReason({ gate: 'recover', decision: 'retry', by: 'mallory' }, rctx)).toMatch(/not an approver/);
  });
  it('needs a note for done-by-hand and an armed way back for way-back', () => {
    expect(refusalReason({ gate: 'recover', decision: 'done-by-hand', by: 'bob' }, rctx)).toMatch(/needs a note/);
    expect(refusalReason({ gate: 'recover', decision: 'done-by-hand', by: 'bob', note: 'slot dropped by hand' }, rctx)).toBeNull();
    expect(refusalReason({ gate: 'recover', decision: 'way-back', by: 'bob' }, { ...rctx, wayBack: false })).toMatch(/no way back/);
  });
});
