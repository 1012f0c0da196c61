// What every part of the sandbox looks like to main.ts: bring it up (repairing only what is down), report its
// health, stop it.
import type { Layout } from './layout';

export interface Health {
  ok: boolean;
  detail: string;
  pid?: number;
  log?: string;
}

export interface UpResult {
  /** Where it listens or what it holds, e.g. `127.0.0.1:7233`. */
  detail: string;
  /** What `up` did: `already running`, `started`, `created`, ... */
  note: string;
}

export interface Component {
  name: string;
  log: string;
  up(): Promise<UpResult>;
  health(): Promise<Health>;
  /** Stops it; resolves true if something was running. Absent for components with no process. */
  down?(): Promise<boolean>;
}

/** Paths of the Go-built tools, found or installed by install.ts. */
export interface Tools {
  temporal: string;
  fakeGcsServer: string;
}

export interface Context {
  l: Layout;
  tools: Tools;
}
