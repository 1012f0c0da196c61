// A live writer for file-sync demos and tests: writes a small file every interval into the tree that a DNS
// name points at (dc1's or dc2's), honours a freeze flag (acknowledging it), and records every write it
// made, so a test can check that none was lost.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lookupA } from '../../activities/dns';

export interface FileWriterOptions {
  dns: { server: string; port: number; name: string };
  /** Address → directory written to when the name points there. */
  roots: Record<string, string>;
  freezeFlag: string;
  intervalMs?: number;
}

export interface FileWriter {
  /** Every file written: relative path and where it went. */
  readonly written: { file: string; address: string }[];
  stop(): Promise<void>;
}

export function startFileWriter(o: FileWriterOptions): FileWriter {
  const written: { file: string; address: string }[] = [];
  let stopped = false;
  let n = 0;
  const loop = (async () => {
    while (!stopped) {
      if (existsSync(o.freezeFlag)) {
        // Frozen: acknowledge and write nothing until the flag is gone.
        if (!existsSync(`${o.freezeFlag}.ack`)) writeFileSync(`${o.freezeFlag}.ack`, String(process.pid));
      } else {
        const [address] = await lookupA(o.dns).catch(() => [] as string[]);
        const root = address ? o.roots[address] : undefined;
        if (root && !existsSync(o.freezeFlag)) {
          const file = path.join('live', `w-${String(n++).padStart(6, '0')}.txt`);
          mkdirSync(path.join(root, 'live'), { recursive: true });
          writeFileSync(path.join(root, file), `write ${n} at ${new Date().toISOString()} to ${address}\n`);
          written.push({ file, address });
        }
      }
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
    }
  })();
  return {
    written,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
