// Waiting on a migration as the CLI sees it (status query through scripts/cli/services), for e2e tests.
import * as svc from '../../scripts/cli/services';
import type { MigrationStatus } from '../../workflows/shared';
import { eventually, GaveUp } from './temporal';

/** The status once `until` holds; fails at once, with the run's failure, if the run ends first. */
export function statusWhen(s: svc.Services, id: string, until: (st: MigrationStatus) => boolean, what: string, timeoutMs = 120_000): Promise<MigrationStatus> {
  return eventually(async () => {
    const { status, running } = await svc.getStatus(s, id);
    if (until(status)) return status;
    if (!running) throw new GaveUp(`ended (${status.outcome}) before ${what}: ${status.failure}`);
    return null;
  }, what, timeoutMs);
}

export const atGate = (s: svc.Services, id: string, gate: string) => statusWhen(s, id, (st) => st.gate?.name === gate, `gate ${gate}`);
