// A time limit for a call that can also be cancelled by its caller.
//
// Not `AbortSignal.any([parent, AbortSignal.timeout(ms)])`: Node's timeout timer holds its signal only weakly, and a
// signal that is only followed by an `any` has no listener of its own, so a garbage collection before the deadline
// loses the timeout and the call it guards waits forever. Seen: a WebHDFS call to a partitioned cluster that never
// gave up during a loaded test run (alone, with no collection in those seconds, it gave up on time). Here the timer
// holds the controller, so the deadline fires whatever is collected.

/** A signal that aborts with a `TimeoutError` (as AbortSignal.timeout's) after `ms`, or with `parent`'s reason. */
export function deadlineSignal(ms: number, parent?: AbortSignal): AbortSignal {
  const c = new AbortController();
  // unref: a pending deadline never keeps a finished process alive; the timer still holds `c`.
  setTimeout(() => c.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms).unref();
  return parent ? AbortSignal.any([parent, c.signal]) : c.signal;
}
