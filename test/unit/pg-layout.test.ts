// Where a stopped server's postgresql.conf is: in its data directory (initdb, the sandbox) or Debian's
// /etc/postgresql/<major>/<cluster>. The search script runs here, with sh, over a fake directory tree.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configOption, configSearchScript, pickConfigFile } from '../../activities/postgres/layout';

let root: string;
const find = (dataDir: string) => pickConfigFile(execFileSync('sh', ['-c', configSearchScript(dataDir, path.join(root, 'etc/postgresql'))], { encoding: 'utf8' }), dataDir);

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'cutover-layout-'));
  // Debian: two clusters' configs in /etc, their data in /var/lib.
  for (const [major, cluster] of [['15', 'main'], ['15', 'reporting']]) {
    const etc = path.join(root, 'etc/postgresql', major, cluster);
    mkdirSync(etc, { recursive: true });
    mkdirSync(path.join(root, 'var/lib/postgresql', major, cluster), { recursive: true });
    writeFileSync(
      path.join(etc, 'postgresql.conf'),
      `# Debian\ndata_directory = '${path.join(root, 'var/lib/postgresql', major, cluster)}'\t\t# use data in another directory\nhba_file = '${etc}/pg_hba.conf'\nport = 5432\n`,
    );
  }
  // initdb's layout (the sandbox): postgresql.conf in the data directory.
  mkdirSync(path.join(root, 'srv/pg'), { recursive: true });
  writeFileSync(path.join(root, 'srv/pg/postgresql.conf'), "include '../postgres-host.conf'\n");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('PostgreSQL configuration layout', () => {
  it('finds a Debian cluster config by its data_directory', () => {
    expect(find(path.join(root, 'var/lib/postgresql/15/main'))).toEqual({ configFile: path.join(root, 'etc/postgresql/15/main/postgresql.conf'), separate: true });
    expect(find(path.join(root, 'var/lib/postgresql/15/reporting/'))).toEqual({
      configFile: path.join(root, 'etc/postgresql/15/reporting/postgresql.conf'),
      separate: true,
    });
  });

  it('prefers postgresql.conf in the data directory (initdb, the sandbox)', () => {
    expect(find(path.join(root, 'srv/pg'))).toEqual({ configFile: path.join(root, 'srv/pg/postgresql.conf'), separate: false });
  });

  it('finds nothing for a data directory no config names', () => {
    expect(find(path.join(root, 'var/lib/postgresql/15/other'))).toBeNull();
    expect(find(path.join(root, 'var/lib/postgresql/15/mai'))).toBeNull();
  });

  it("tells pg_ctl about a separate config, quoted for pg_ctl's own shell", () => {
    expect(configOption({ configFile: '/etc/postgresql/15/main/postgresql.conf', separate: true })).toBe(
      "-o '-c config_file=/etc/postgresql/15/main/postgresql.conf'",
    );
    expect(configOption({ configFile: '/x/postgresql.conf', separate: false })).toBe('');
    const spaced = configOption({ configFile: "/etc/my pg/it's.conf", separate: true });
    const words = execFileSync('sh', ['-c', `printf '%s\\n' ${spaced}`], { encoding: 'utf8' }).trimEnd().split('\n');
    expect(words[1]).toBe(`-c config_file="/etc/my pg/it's.conf"`);
  });
});
