// A live writer for file-sync demos and tests: writes a small file every interval into the tree that a DNS
// name points at (dc1's or dc2's), honours a freeze flag (acknowledging it), and records every write it
// made, so a test can check that none was lost.
//
// With `cacheTtlMs` it behaves like a client behind a caching resolver: it keeps the address it looked up for
// that long, so after the switch it goes on writing to the old side until the TTL runs out. Such late writes
// must either land where the final sync will not lose them or fail loudly (the move fences dc1's tree); each
// failed write is recorded in `failed` with the error it got, never counted as written.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lookupA } from '../../activities/dns';

export interface FileWriterOptions {
  dns: { server: string; port: number; name: string };
  /** Address → directory written to when the name points there. */
  roots: Record<string, string>;
  freezeFlag: string;
  intervalMs?: number;
  /** Keep a looked-up address this long (the record's TTL); absent: look the name up before every write. */
  cacheTtlMs?: number;
  /**
   * Look the name up again as it stops for the freeze: the worst case for a caching client, which then holds
   * the old address for a whole TTL after the unfreeze.
   */
  refreshOnFreeze?: boolean;
}

export interface FileWrite {
  file: string;
  address: string;
  /** What the file holds: a test compares it with what the target has. */
  content: string;
  at: number;
}

export interface FileWriter {
  /** Every file written: relative path and where it went. */
  readonly written: FileWrite[];
  /** Writes that failed (a fenced tree): where they were aimed and the error, never silently lost. */
  readonly failed: { file: string; address: string; error: string; at: number }[];
  stop(): Promise<void>;
}

export function startFileWriter(o: FileWriterOptions): FileWriter {
  const written: FileWrite[] = [];
  const failed: FileWriter['failed'] = [];
  let stopped = false;
  let n = 0;
  let cached: { address: string | undefined; until: number } | null = null;
  const resolve = async (): Promise<string | undefined> => {
    if (o.cacheTtlMs !== undefined && cached && Date.now() < cached.until) return cached.address;
    const [address] = await lookupA(o.dns).catch(() => [] as string[]);
    cached = { address, until: Date.now() + (o.cacheTtlMs ?? 0) };
    return address;
  };
  const loop = (async () => {
    while (!stopped) {
      if (existsSync(o.freezeFlag)) {
        // Frozen: acknowledge and write nothing until the flag is gone.
        if (!existsSync(`${o.freezeFlag}.ack`)) {
          if (o.refreshOnFreeze) {
            cached = null;
            await resolve();
          }
          writeFileSync(`${o.freezeFlag}.ack`, String(process.pid));
        }
      } else {
        const address = await resolve();
        const root = address ? o.roots[address] : undefined;
        if (root && address && !existsSync(o.freezeFlag)) {
          const file = path.join('live', `w-${String(n++).padStart(6, '0')}.txt`);
          const content = `write ${n} at ${new Date().toISOString()} to ${address}\n`;
          try {
            mkdirSync(path.join(root, 'live'), { recursive: true });
            writeFileSync(path.join(root, file), content);
            written.push({ file, address, content, at: Date.now() });
          } catch (err) {
            failed.push({ file, address, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message, at: Date.now() });
          }
        }
      }
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
    }
  })();
  return {
    written,
    failed,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
