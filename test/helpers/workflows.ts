// What the workflow tests (real dev server, fake activities) share: a fake SSH host, waiting for a gate,
// and the typed failure a run ended with.
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { expect } from 'vitest';
import { statusQuery, type MigrationStatus, type SshHost } from '../../workflows/shared';
import { eventually, GaveUp } from './temporal';

/** An SSH login that fake activities never dial. */
export const fakeHost = (name: string, address: string): SshHost => ({ name, address, port: 2222, user: 'cutover', identity: { secret: 'ssh' }, knownHostsFile: '/kh' });

/** The status once the run waits at `gate`. */
export async function atGate(h: WorkflowHandle, gate: string): Promise<MigrationStatus> {
  return eventually(async () => {
    const s = await h.query(statusQuery);
    if (s.gate?.name === gate) return s;
    if (s.outcome) throw new GaveUp(`ended (${s.outcome}) before gate ${gate}: ${s.failure}`);
    return null;
  }, `gate ${gate}`);
}

/** The ApplicationFailure the run failed with (its type and details are what the tests check). */
export async function failureOf(h: WorkflowHandle): Promise<ApplicationFailure> {
  const err = await h.result().then(
    () => null,
    (e) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(ApplicationFailure);
  return (err as WorkflowFailedError).cause as ApplicationFailure;
}
