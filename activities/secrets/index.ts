// Secrets by reference (a file or an environment variable of the worker), read on the worker at the moment
// they are used, so a password never travels through workflow inputs, results or history. Errors name the
// reference, never a value.
import { readFile } from 'node:fs/promises';
import type { SecretRef } from '../../workflows/shared/types';

/** A secret the worker cannot read: retrying does not help until someone fixes the file or the environment. */
export class SecretError extends Error {}

export function describeSecret(ref: SecretRef): string {
  return 'file' in ref ? `file ${ref.file}` : `environment variable ${ref.env}`;
}

/** Reads a secret on the worker host; `what` says what it is for ("postgres.replication"). */
export async function readSecret(ref: SecretRef, what: string): Promise<string> {
  if ('file' in ref) {
    try {
      const value = (await readFile(ref.file, 'utf8')).replace(/\r?\n$/, '');
      if (!value) throw new SecretError(`${what}: password file ${ref.file} is empty`);
      return value;
    } catch (err) {
      if (err instanceof SecretError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new SecretError(`${what}: cannot read password file ${ref.file} (${code})`);
    }
  }
  const value = process.env[ref.env];
  if (!value) throw new SecretError(`${what}: environment variable ${ref.env} is not set on the worker`);
  return value;
}
