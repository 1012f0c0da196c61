// deadlineSignal: the time limit of WebHDFS calls, webhook posts and shadow jobs must fire even if a garbage
// collection runs before it (Node's AbortSignal.timeout, followed only through AbortSignal.any, does not: on Node
// 20 such a signal never aborts once collected, and a call to a partitioned cluster waited forever).
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { deadlineSignal } from '../../activities/deadline';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const outcome = (s: AbortSignal, waitMs: number) =>
  new Promise<string>((resolve) => {
    s.addEventListener('abort', () => resolve(`aborted: ${(s.reason as Error).name}`), { once: true });
    setTimeout(() => resolve('still waiting'), waitMs);
  });

describe('deadlineSignal', () => {
  it('aborts with a TimeoutError at its deadline even after a garbage collection', async () => {
    const parent = new AbortController();
    const s = deadlineSignal(200, parent.signal);
    const result = outcome(s, 1500);
    setTimeout(gc, 20);
    expect(await result).toBe('aborted: TimeoutError');
    expect(parent.signal.aborted).toBe(false);
  });

  it('aborts with the caller\'s reason when the caller cancels first', async () => {
    const parent = new AbortController();
    const s = deadlineSignal(10_000, parent.signal);
    const result = outcome(s, 1000);
    parent.abort(new DOMException('cancelled by the workflow', 'AbortError'));
    expect(await result).toBe('aborted: AbortError');
  });

  it('without a caller: the deadline alone', async () => {
    const s = deadlineSignal(100);
    const result = outcome(s, 1000);
    setTimeout(gc, 10);
    expect(await result).toBe('aborted: TimeoutError');
  });
});
