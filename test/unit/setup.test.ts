// `cutover setup` over a fake operator service: what it creates, what it leaves, and the exact commands it hands
// over when the identity may not create search attributes.
import { describe, expect, it } from 'vitest';
import { UserError } from '../../scripts/cli/errors';
import { searchAttributeCommands, setupSearchAttributes, type SearchAttributeOperator } from '../../scripts/cli/setup';

const KEYWORD = 2;
const TEXT = 1;
const INT = 3;

function grpcError(code: number, name: string, details: string): Error {
  return Object.assign(new Error(`${code} ${name}: ${details}`), { code, details, metadata: {} });
}

function fakeOperator(custom: Record<string, number>, failures: { list?: Error; add?: Error } = {}) {
  const added: Record<string, number>[] = [];
  const operator = {
    async listSearchAttributes() {
      if (failures.list) throw failures.list;
      return { customAttributes: { ...custom }, systemAttributes: { WorkflowId: KEYWORD } };
    },
    async addSearchAttributes(req: { searchAttributes?: Record<string, number> | null }) {
      if (failures.add) throw failures.add;
      added.push({ ...req.searchAttributes });
      return {};
    },
  } as unknown as SearchAttributeOperator;
  return { operator, added };
}

describe('cutover setup', () => {
  it('creates only the missing search attributes, each with its type', async () => {
    const { operator, added } = fakeOperator({ CutoverPhase: KEYWORD, Other: TEXT });
    const r = await setupSearchAttributes(operator, 'prod');
    expect(r).toEqual({ namespace: 'prod', created: ['CutoverKind', 'CutoverName', 'CutoverCleanCycles'], existing: ['CutoverPhase'] });
    expect(added).toEqual([{ CutoverKind: KEYWORD, CutoverName: KEYWORD, CutoverCleanCycles: INT }]);
  });

  it('changes nothing when all exist', async () => {
    const { operator, added } = fakeOperator({ CutoverPhase: KEYWORD, CutoverKind: KEYWORD, CutoverName: KEYWORD, CutoverCleanCycles: INT });
    expect((await setupSearchAttributes(operator, 'prod')).created).toEqual([]);
    expect(added).toEqual([]);
  });

  it('takes ALREADY_EXISTS (another setup first) as done', async () => {
    const { operator } = fakeOperator({}, { add: grpcError(6, 'ALREADY_EXISTS', 'exists') });
    expect((await setupSearchAttributes(operator, 'prod')).created).toEqual(['CutoverPhase', 'CutoverKind', 'CutoverName', 'CutoverCleanCycles']);
  });

  it('without the rights, a user error carrying the exact temporal CLI commands for the missing ones', async () => {
    const { operator } = fakeOperator({ CutoverPhase: KEYWORD }, { add: grpcError(7, 'PERMISSION_DENIED', 'no admin') });
    const err = await setupSearchAttributes(operator, 'team.a1b2c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    const message = (err as Error).message;
    expect(message).toContain('PERMISSION_DENIED');
    expect(message).toContain('temporal operator search-attribute create --namespace team.a1b2c --name CutoverKind --type Keyword');
    expect(message).toContain('temporal operator search-attribute create --namespace team.a1b2c --name CutoverName --type Keyword');
    expect(message).toContain('temporal operator search-attribute create --namespace team.a1b2c --name CutoverCleanCycles --type Int');
    expect(message).not.toContain('--name CutoverPhase');
  });

  it('an operator API that is not offered (UNIMPLEMENTED) gives every command', async () => {
    const { operator } = fakeOperator({}, { list: grpcError(12, 'UNIMPLEMENTED', 'not here') });
    const err = (await setupSearchAttributes(operator, 'prod').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(UserError);
    expect(err.message.split('\n').filter((l) => l.trim().startsWith('temporal operator'))).toEqual(
      searchAttributeCommands('prod').map((c) => `  ${c}`),
    );
  });

  it('refuses a same-named attribute of another type, and an unknown namespace, as user errors', async () => {
    const wrong = fakeOperator({ CutoverPhase: TEXT });
    await expect(setupSearchAttributes(wrong.operator, 'prod')).rejects.toThrow(/CutoverPhase with a type other than Keyword/);
    expect(wrong.added).toEqual([]);
    const missing = fakeOperator({}, { list: grpcError(5, 'NOT_FOUND', 'Namespace nope is not found.') });
    await expect(setupSearchAttributes(missing.operator, 'nope')).rejects.toBeInstanceOf(UserError);
  });

  it('passes other errors through as bugs', async () => {
    const { operator } = fakeOperator({}, { add: grpcError(13, 'INTERNAL', 'boom') });
    const err = await setupSearchAttributes(operator, 'prod').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(UserError);
  });
});
