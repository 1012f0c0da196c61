// Heartbeats on a clock while a long command runs, so a live worker is never mistaken for a dead one.
import { heartbeat } from '@temporalio/activity';

/** Heartbeats `details()` every second until the returned function is called. */
export function keepBeating(details: () => unknown): () => void {
  const t = setInterval(() => heartbeat(details()), 1000);
  return () => clearInterval(t);
}
