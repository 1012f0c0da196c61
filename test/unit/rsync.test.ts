import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { changedFiles, itemizedDifferences, parseProgress, parseStats, rsyncCommand, unexplainedDifferences } from '../../activities/files/rsync';

describe('rsync output parsing', () => {
  it('takes the last progress2 record of a chunk', () => {
    const chunk =
      '        32,768   3%   31.25MB/s    0:00:00 (xfr#1, to-chk=20/22)\r' +
      '     1,234,567  45%   12.34MB/s    0:00:10 (xfr#12, to-chk=10/22)\r';
    expect(parseProgress(chunk)).toEqual({ bytes: 1234567, percent: 45, rate: '12.34MB/s', transferredFiles: 12, toCheck: 10, totalFiles: 22 });
  });

  it('returns null for chunks without progress', () => {
    expect(parseProgress('sending incremental file list\n')).toBeNull();
  });

  it('reads --stats', () => {
    const out = `
Number of files: 2,003 (reg: 2,000, dir: 3)
Number of created files: 10 (reg: 10)
Number of deleted files: 4 (reg: 4)
Number of regular files transferred: 10
Total file size: 1,073,741,824 bytes
Total transferred file size: 5,242,880 bytes
Literal data: 5,000,000 bytes
Matched data: 242,880 bytes
`;
    expect(parseStats(out)).toEqual({
      files: 2003,
      regularFiles: 2000,
      filesTransferred: 10,
      deletedFiles: 4,
      totalBytes: 1073741824,
      transferredBytes: 5242880,
      literalBytes: 5000000,
    });
  });

  it('finds itemized differences and ignores the rest', () => {
    const out = ['sending incremental file list', '>fcst...... a/b.txt', '*deleting   old.txt', 'cd+++++++++ newdir/', '', 'Number of files: 3'].join('\n');
    expect(itemizedDifferences(out)).toEqual(['>fcst...... a/b.txt', '*deleting   old.txt', 'cd+++++++++ newdir/']);
  });

  it('reads what a final sync changed from its --log-file: regular files only, once each', () => {
    const log = [
      '2026/11/27 04:30:00 [123] building file list',
      '2026/11/27 04:30:00 [123] <f.st...... small/d000/f00001.bin',
      '2026/11/27 04:30:00 [123] <f+++++++++ live/a file with  spaces.txt',
      '2026/11/27 04:30:00 [123] *deleting   small/d000/gone.bin',
      '2026/11/27 04:30:00 [123] cd+++++++++ added/',
      '2026/11/27 04:30:01 [140] <f.st...... small/d000/f00001.bin',
      '2026/11/27 04:30:01 [123] sent 1,234 bytes  received 56 bytes  total size 7,890',
    ].join('\n');
    expect(changedFiles(log)).toEqual(['small/d000/f00001.bin', 'live/a file with  spaces.txt']);
  });

  it('tells a wrong copy (same size and time, other content) from writes a live tree explains', () => {
    const itemized = ['<fc........ same/size-and-time.bin', '<fcst...... rewritten.bin', '<f+++++++++ new.bin', '*deleting   gone.bin', '<fc.t...... touched.bin', '.d..t...... dir/'];
    expect(unexplainedDifferences(itemized)).toEqual(['same/size-and-time.bin']);
  });
});

describe('rsync command', () => {
  const host = (name: string, address: string) => ({ name, address, port: 2222, user: 'cutover', identity: { secret: 'ssh' }, knownHostsFile: '/kh' });
  const base = {
    source: { host: host('dc1', '127.0.1.1'), path: "/data/it's" },
    target: { host: host('dc2', '127.0.2.1'), path: '/data/target' },
    exclude: ['*.tmp'],
    delete: false,
    bandwidthLimitKBps: 0,
  };

  /** The words sh makes of a command line (printf prints each on its own line). */
  const words = (cmd: string) => execFileSync('sh', ['-c', `printf '%s\\n' ${cmd.replace(/^rsync /, '')}`], { encoding: 'utf8' }).trimEnd().split('\n');

  it('pushes resumably to the target with a pinned-key remote shell; each path and pattern stays one word', () => {
    const cmd = rsyncCommand(base, 'copy');
    expect(cmd).toContain('--partial --inplace');
    const w = words(cmd);
    expect(w.slice(-3)).toEqual(['--', "/data/it's/", 'cutover@127.0.2.1:/data/target/']);
    expect(w).toContain('--exclude=*.tmp');
    expect(w).toContain('ssh -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10');
    expect(cmd).not.toContain('--delete');
  });

  it('sends paths over the protocol (-s), never through the remote shell', () => {
    expect(words(rsyncCommand(base, 'copy'))).toContain('-s');
    expect(words(rsyncCommand(base, 'verify'))).toContain('-s');
  });

  it('keeps shell syntax in paths inert', () => {
    const nasty = { ...base, source: { ...base.source, path: '/data/$(touch x)`id`;rm -rf ~ *' } };
    expect(words(rsyncCommand(nasty, 'copy')).at(-2)).toBe('/data/$(touch x)`id`;rm -rf ~ */');
  });

  it('refuses a target user or address that ssh would read as an option', () => {
    const bad = { ...base, target: { ...base.target, host: { ...base.target.host, user: '-oProxyCommand=touch /tmp/x' } } };
    expect(() => rsyncCommand(bad, 'copy')).toThrow(/plain user name/);
    const badHost = { ...base, target: { ...base.target, host: { ...base.target.host, address: '-oProxyCommand=x' } } };
    expect(() => rsyncCommand(badHost, 'copy')).toThrow(/IPv4 address or a DNS name/);
  });

  it('a final sync appends what it changed to a log on the source host; a verify can look at listed files only', () => {
    const copy = words(rsyncCommand(base, 'copy', { changesLog: '/r/changes' }));
    expect(copy).toEqual(expect.arrayContaining(['--log-file=/r/changes', '--log-file-format=%i %n']));
    const some = rsyncCommand(base, 'verify', { filesFrom: '/r/files' });
    expect(some).toMatch(/--dry-run --checksum --itemize-changes --files-from=\/r\/files/);
    expect(some).not.toContain('--delete');
  });

  it('verifies by checksum in a dry run that also reports extra files', () => {
    const cmd = rsyncCommand(base, 'verify');
    expect(cmd).toMatch(/--dry-run --checksum --itemize-changes --delete/);
    expect(cmd).not.toContain('--inplace');
  });
});
