// Heartbeats on a clock while a long command runs, so a live worker is never mistaken for a dead one.
import { activityInfo, heartbeat } from '@temporalio/activity';

/**
 * Heartbeats `details()` every second (more often under a heartbeat timeout shorter than 4 s) until the returned
 * function is called. The first one waits an interval: the SDK sends an attempt's first heartbeat at once and
 * throttles the next ones, so a beat at the start of a short step (the fence's CHECKPOINT) would hold back the
 * details that matter to a retry (the fence's readOnlyAt) for a whole throttle window.
 */
export function keepBeating(details: () => unknown): () => void {
  const timeoutMs = activityInfo().heartbeatTimeoutMs ?? 0;
  const every = timeoutMs > 0 ? Math.max(100, Math.min(1000, Math.floor(timeoutMs / 4))) : 1000;
  const t = setInterval(() => heartbeat(details()), every);
  return () => clearInterval(t);
}
