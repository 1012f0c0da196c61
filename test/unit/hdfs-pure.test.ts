// HDFS pieces that need no server: the sandbox's Hadoop conf files, WebHDFS URLs and error kinds, the local HDFS
// checksum (against values a real NameNode reported), the temp name, the output comparison's diff logic, the
// WebHDFS time limits (a silent NameNode, a DataNode that stops taking bytes) and the clusters a refresh waits on.
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { checksumKey, checksumParams, crc32c, HdfsChecksum } from '../../activities/hdfs/checksum';
import { diffLines, diffListings } from '../../activities/hdfs/compare';
import { forEachLimited, tempPathFor, Waits } from '../../activities/hdfs/refresh';
import { encodeHdfsPath, errorKind, WebHdfsClient, WebHdfsError, webhdfsUrl } from '../../activities/hdfs/webhdfs';
import { coreSite, daemonJvmArgs, hadoopXml, hdfsSite, jvmHostsFile } from '../../scripts/sandbox/hdfs';
import { hadoopPom } from '../../scripts/sandbox/install';

describe('sandbox HDFS configuration', () => {
  it('writes Hadoop XML with escaped names and values', () => {
    const xml = hadoopXml({ 'a.b': 'x<y&"z"', n: 3, f: false }, 'made -- here');
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<!-- made - - here -->\n<configuration>\n' +
        '  <property><name>a.b</name><value>x&lt;y&amp;&quot;z&quot;</value></property>\n' +
        '  <property><name>n</name><value>3</value></property>\n' +
        '  <property><name>f</name><value>false</value></property>\n</configuration>\n',
    );
  });

  it('binds every daemon port to the datacenter address and keeps state in its dirs', () => {
    const dirs = { name: '/s/dc2/hdfs/name', data: '/s/dc2/hdfs/data', tmp: '/s/dc2/hdfs/tmp' };
    const site = hdfsSite('127.0.2.1', dirs);
    expect(site).toMatchObject({
      'dfs.namenode.rpc-address': '127.0.2.1:8020',
      'dfs.namenode.http-address': '127.0.2.1:9870',
      'dfs.datanode.address': '127.0.2.1:9866',
      'dfs.datanode.http.address': '127.0.2.1:9864',
      'dfs.datanode.ipc.address': '127.0.2.1:9867',
      'dfs.datanode.hostname': '127.0.2.1',
      'dfs.namenode.datanode.registration.ip-hostname-check': false,
      'dfs.namenode.safemode.extension': 0,
      'dfs.replication': 1,
      'dfs.client.block.write.locateFollowingBlock.initial.delay.ms': 20,
      'dfs.namenode.name.dir': 'file:///s/dc2/hdfs/name',
      'dfs.datanode.data.dir': 'file:///s/dc2/hdfs/data',
    });
    // Nothing on a wildcard address: two clusters share this machine.
    expect(Object.values(site).filter((v) => String(v).includes('0.0.0.0'))).toEqual([]);
    expect(coreSite('127.0.2.1', dirs)).toEqual({ 'fs.defaultFS': 'hdfs://127.0.2.1:8020', 'hadoop.tmp.dir': '/s/dc2/hdfs/tmp' });
    expect(daemonJvmArgs('/s/dc2/hdfs/tmp')).toEqual(['-Xmx512m', '--add-opens', 'java.base/java.lang=ALL-UNNAMED', '-Djava.io.tmpdir=/s/dc2/hdfs/tmp']);
    expect(daemonJvmArgs('/t', '/c/jvm-hosts').at(-1)).toBe('-Djdk.net.hosts.file=/c/jvm-hosts');
  });

  it('gives the daemons a hosts file: /etc/hosts, plus the machine name when it lacks it', () => {
    const etc = '127.0.0.1 localhost\n# 127.0.0.1 vm (a comment)\n';
    expect(jvmHostsFile(etc, 'vm').split('\n').slice(1)).toEqual(['127.0.0.1 localhost', '# 127.0.0.1 vm (a comment)', '127.0.0.1 vm', '']);
    expect(jvmHostsFile('127.0.0.1 localhost vm\n', 'vm').split('\n').slice(1)).toEqual(['127.0.0.1 localhost vm', '']);
  });

  it('resolves the daemons, DistCp, the example jobs and JUnit at one Hadoop version', () => {
    const pom = hadoopPom('3.4.2');
    for (const a of ['hadoop-minicluster', 'hadoop-distcp', 'hadoop-mapreduce-examples']) expect(pom).toContain(`<artifactId>${a}</artifactId><version>3.4.2</version>`);
    expect(pom).toContain('<artifactId>junit</artifactId><version>4.13.2</version>');
  });
});

describe('WebHDFS URLs and errors', () => {
  it('builds op URLs with auth and encoded paths, leaving out unset parameters', () => {
    expect(webhdfsUrl('http://127.0.1.1:9870/', '/data/a b/ü.txt', 'CREATE', { 'user.name': 'etl' }, { overwrite: false, permission: undefined, blocksize: 1048576 }))
      .toBe('http://127.0.1.1:9870/webhdfs/v1/data/a%20b/%C3%BC.txt?op=CREATE&user.name=etl&overwrite=false&blocksize=1048576');
    expect(webhdfsUrl('http://nn:9870', '/', 'GETFILESTATUS', { delegation: 'tok' })).toBe('http://nn:9870/webhdfs/v1/?op=GETFILESTATUS&delegation=tok');
  });

  it('refuses relative and unnormalised paths', () => {
    expect(() => encodeHdfsPath('data/x')).toThrow(/absolute/);
    expect(() => encodeHdfsPath('/data/../etc')).toThrow(/normalised/);
    expect(encodeHdfsPath('//data//x/')).toBe('/data/x');
  });

  it('maps RemoteExceptions and statuses to kinds', () => {
    expect(errorKind(403, 'AccessControlException')).toBe('permission');
    expect(errorKind(404, 'FileNotFoundException')).toBe('not-found');
    expect(errorKind(403, 'FileAlreadyExistsException')).toBe('already-exists');
    expect(errorKind(403, 'SafeModeException')).toBe('retriable');
    expect(errorKind(401)).toBe('permission');
    expect(errorKind(500)).toBe('server');
  });

  it('names the cluster, operation and path, with the first line of the server message', async () => {
    const body = { RemoteException: { exception: 'AccessControlException', message: 'Permission denied: user=mallory, access=WRITE\n\tat org.apache...' } };
    const fake = (async () => new Response(JSON.stringify(body), { status: 403 })) as typeof fetch;
    const c = new WebHdfsClient({ name: 'dc1', url: 'http://nn:9870', user: 'mallory' }, fake);
    const err = await c.mkdirs('/data/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebHdfsError);
    expect((err as WebHdfsError).kind).toBe('permission');
    expect((err as Error).message).toBe('hdfs dc1: MKDIRS /data/x: permission denied: Permission denied: user=mallory, access=WRITE');
  });

  it('passes the caller signal to every request', async () => {
    const seen: Array<AbortSignal | null | undefined> = [];
    const fake = (async (_u: string, init?: RequestInit) => {
      seen.push(init?.signal);
      return new Response(JSON.stringify({ FileStatus: { type: 'DIRECTORY' } }), { status: 200 });
    }) as typeof fetch;
    const ac = new AbortController();
    await new WebHdfsClient({ name: 'dc1', url: 'http://nn:9870', user: 'u' }, fake).getFileStatus('/', { signal: ac.signal });
    ac.abort();
    expect(seen[0]?.aborted).toBe(true);
  });

  it('a NameNode that never answers fails as unreachable after the timeout, naming cluster, operation and address', async () => {
    // What fetch does when the signal it was given fires.
    const silent = ((_u: string, init?: RequestInit) => new Promise((_r, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason)))) as typeof fetch;
    const c = new WebHdfsClient({ name: 'dc2', url: 'http://nn2:9870', user: 'u' }, silent, { timeoutMs: 100 });
    const err = await c.getServerDefaults().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebHdfsError);
    expect((err as WebHdfsError).kind).toBe('unreachable');
    expect((err as Error).message).toBe('hdfs dc2: GETSERVERDEFAULTS /: cluster unreachable: http://nn2:9870: no answer within 0.1 s');
  });

  it('an upload the DataNode stops taking fails as unreachable once nothing moved for the timeout', async () => {
    // A "DataNode" that accepts the connection and then neither reads nor answers, as behind a dropping firewall.
    const sockets: Socket[] = [];
    const dn = createNetServer((sock) => {
      sockets.push(sock);
      sock.pause();
    });
    await new Promise<void>((r) => dn.listen(0, '127.0.0.1', r));
    const location = `http://127.0.0.1:${(dn.address() as AddressInfo).port}/webhdfs/v1/x?op=CREATE`;
    const nn = (async () => new Response(null, { status: 307, headers: { location } })) as typeof fetch;
    try {
      const c = new WebHdfsClient({ name: 'dc2', url: 'http://nn2:9870', user: 'u' }, nn, { timeoutMs: 300 });
      const started = Date.now();
      const err = await c.create('/x', Buffer.alloc(8 << 20)).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(err).toBeInstanceOf(WebHdfsError);
      expect((err as Error).message).toBe(`hdfs dc2: CREATE /x: cluster unreachable: ${new URL(location).origin}: nothing received for 0.3 s`);
    } finally {
      for (const s of sockets) s.destroy();
      dn.close();
    }
  });
});

describe('refresh progress: the clusters waited on', () => {
  it('names a cluster with calls in flight and no answer for a while, and forgets it once it answers', async () => {
    const waits = new Waits(20);
    const dc1 = { name: 'dc1', url: 'http://nn1:9870' };
    const dc2 = { name: 'dc2', url: 'http://nn2:9870' };
    let answer!: () => void;
    const pending = waits.on(dc2, () => new Promise<void>((r) => (answer = r)));
    await waits.on(dc1, async () => undefined);
    await new Promise((r) => setTimeout(r, 40));
    expect(waits.waiting()).toEqual([expect.stringMatching(/^dc2 http:\/\/nn2:9870: no answer for \d+ s$/)]);
    waits.moved(dc2);
    expect(waits.waiting()).toEqual([]);
    answer();
    await pending;
    await new Promise((r) => setTimeout(r, 40));
    expect(waits.waiting()).toEqual([]);
  });
});

describe('HDFS file checksum computed locally', () => {
  it('is CRC32C (Castagnoli)', () => {
    expect(crc32c(Buffer.from('123456789')).toString(16)).toBe('e3069283');
    const b = Buffer.from('hello world, in two parts');
    expect(crc32c(b, 11, b.length, crc32c(b, 0, 11))).toBe(crc32c(b));
  });

  const params = { blockSize: 1 << 20, bytesPerChecksum: 512, crcType: 'CRC32C' as const };

  it('matches what the NameNode reported for an empty file and for "hello world\\n"', () => {
    // Both values from GETFILECHECKSUM on the sandbox (Hadoop 3.4.2).
    expect(new HdfsChecksum(params).digest()).toEqual({
      algorithm: 'MD5-of-0MD5-of-0CRC32', bytes: '00000000000000000000000070bc8f4b72a86921468bf8e8441dce5100000000', length: 28,
    });
    expect(new HdfsChecksum(params).update(Buffer.from('hello ')).update(Buffer.from('world\n')).digest().bytes).toBe(
      '000002000000000000000000cb719ad85249ddab138233798a828f2300000000',
    );
  });

  it('numbers CRCs per block only for files of more than one block, and does not depend on chunking', () => {
    const data = Buffer.alloc((3 << 20) + 100, 7);
    const whole = new HdfsChecksum(params).update(data).digest();
    const pieces = new HdfsChecksum(params);
    for (let o = 0; o < data.length; o += 777) pieces.update(data.subarray(o, o + 777));
    expect(pieces.digest()).toEqual(whole);
    expect(whole.algorithm).toBe('MD5-of-2048MD5-of-512CRC32C');
    expect(new HdfsChecksum(params).update(data.subarray(0, 1 << 20)).digest().algorithm).toBe('MD5-of-0MD5-of-512CRC32C');
    expect(checksumParams(whole)).toEqual({ bytesPerChecksum: 512, crcType: 'CRC32C' });
    expect(checksumKey({ ...whole, bytes: whole.bytes.toUpperCase() })).toBe(whole.bytes.slice(0, 56));
  });
});

describe('dual-write helpers', () => {
  it('writes to a hidden temp beside the file', () => {
    expect(tempPathFor('/data/in/part-0')).toBe('/data/in/.part-0._COPYING_');
    expect(tempPathFor('part-0')).toBe('.part-0._COPYING_');
  });

  it('runs at most `limit` at once and stops taking work after a failure', async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const err = await forEachLimited([1, 2, 3, 4, 5, 6, 7, 8], 3, async (n) => {
      started.push(n);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (n === 2) throw new Error('boom');
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('boom');
    expect(peak).toBe(3);
    expect(started.length).toBeLessThan(8);
  });
});

describe('output comparison diff logic', () => {
  it('splits listings into one-side-only, size differences and files to compare', () => {
    const a = [{ path: 'part-0', length: 10 }, { path: 'part-1', length: 5 }, { path: '_SUCCESS', length: 0 }, { path: 'x/only-a', length: 1 }];
    const b = [{ path: 'part-1', length: 6 }, { path: 'part-0', length: 10 }, { path: 'part-2', length: 3 }, { path: '_SUCCESS', length: 0 }];
    expect(diffListings(a, b)).toEqual({
      onlyInA: ['x/only-a'],
      onlyInB: ['part-2'],
      sizeDiffers: [{ path: 'part-1', a: 5, b: 6 }],
      same: ['_SUCCESS', 'part-0'],
    });
  });

  it('compares lines as sorted multisets, with a sample of what differs', () => {
    expect(diffLines(['b\t1', 'a\t2', 'a\t2'], ['a\t2', 'a\t2', 'b\t1'])).toEqual({ countOnlyInA: 0, countOnlyInB: 0, sampleOnlyInA: [], sampleOnlyInB: [] });
    const d = diffLines(['apple\t3', 'pear\t1', 'pear\t1', 'zoo\t9'], ['apple\t4', 'pear\t1', 'zoo\t9', 'fig\t2', 'kiwi\t1'], 1);
    expect(d).toEqual({ countOnlyInA: 2, countOnlyInB: 3, sampleOnlyInA: ['apple\t3'], sampleOnlyInB: ['apple\t4'] });
  });
});
