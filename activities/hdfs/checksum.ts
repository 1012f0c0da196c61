// HDFS file checksums, read from GETFILECHECKSUM and computed locally over the same bytes.
//
// HDFS's default file checksum is MD5-of-MD5-of-CRC: a CRC (CRC32C by default) per `bytesPerChecksum` chunk, an
// MD5 of each block's CRCs, and an MD5 over the block MD5s. Two quirks make it reproducible only with care:
// - the block MD5s are collected in a Java DataOutputBuffer and the final MD5 is taken over its whole backing
//   array, zero padding included (32 bytes, doubling as it fills), not over the bytes written;
// - `crcPerBlock` in the result is 0 for a file of one block (or none), else the CRCs in its first block.
// The result is `bytesPerCRC (int32) crcPerBlock (int64) md5 (16 bytes)`: 28 bytes, 56 hex characters; WebHDFS
// pads `bytes` to 32, so only the first 56 hex characters are compared.
// A file's checksum depends on its block size and bytes per checksum: equal across clusters only when those are.
import { createHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';

export interface FileChecksum {
  algorithm: string; // e.g. MD5-of-0MD5-of-512CRC32C
  bytes: string; // hex
  length: number; // 28
}

export type CrcType = 'CRC32' | 'CRC32C';

export interface ChecksumParams {
  blockSize: number;
  bytesPerChecksum: number;
  crcType: CrcType;
}

/** The part of a checksum that identifies the content: the 28 bytes HDFS writes, without WebHDFS's padding. */
export const checksumKey = (c: FileChecksum) => c.bytes.slice(0, 56).toLowerCase();

export const sameChecksum = (a: FileChecksum, b: FileChecksum) => checksumKey(a) === checksumKey(b);

/** bytes per CRC and CRC type of a cluster's checksum (MD5-of-xMD5-of-512CRC32C); undefined for other algorithms. */
export function checksumParams(c: FileChecksum): { bytesPerChecksum: number; crcType: CrcType } | undefined {
  const m = /^MD5-of-\d+MD5-of-(\d+)(CRC32C?)$/.exec(c.algorithm);
  if (!m) return undefined;
  return { bytesPerChecksum: Number(m[1]), crcType: m[2] as CrcType };
}

const CRC32C_TABLE = (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/** CRC32C (Castagnoli) of buf[start, end), slicing by 8: ~1.7 GB/s here, as fast as zlib's native CRC32. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, seed = 0): number {
  const T = CRC32C_TABLE;
  let c = ~seed;
  let i = start;
  const end8 = start + ((end - start) & ~7);
  for (; i < end8; i += 8) {
    const a = (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)) ^ c;
    c = T[1792 + (a & 0xff)] ^ T[1536 + ((a >>> 8) & 0xff)] ^ T[1280 + ((a >>> 16) & 0xff)] ^ T[1024 + (a >>> 24)] ^
      T[768 + buf[i + 4]] ^ T[512 + buf[i + 5]] ^ T[256 + buf[i + 6]] ^ T[buf[i + 7]];
  }
  for (; i < end; i++) c = T[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * Computes the checksum HDFS would report for the bytes fed to `update`, written with `params` (block size from
 * GETFILESTATUS, bytes per checksum and CRC type from a GETFILECHECKSUM of the cluster).
 */
export class HdfsChecksum {
  private readonly crcs: Buffer;
  private crcCount = 0; // CRCs of the current block
  private chunkFill = 0; // bytes in the current chunk
  private chunkCrc = 0;
  private blockFill = 0; // bytes in the current block
  private readonly blockMd5s: Buffer[] = [];
  private firstBlockCrcs = 0;
  private readonly crc: (b: Uint8Array, s: number, e: number, seed: number) => number;

  constructor(private readonly params: ChecksumParams) {
    if (params.blockSize % params.bytesPerChecksum !== 0) throw new Error(`block size ${params.blockSize} is not a multiple of ${params.bytesPerChecksum}`);
    this.crcs = Buffer.alloc((params.blockSize / params.bytesPerChecksum) * 4);
    this.crc = params.crcType === 'CRC32C' ? crc32c : (b, s, e, seed) => zlibCrc32(b.subarray(s, e), seed);
  }

  update(data: Uint8Array): this {
    const { bytesPerChecksum: bpc, blockSize } = this.params;
    let i = 0;
    while (i < data.length) {
      const n = Math.min(data.length - i, bpc - this.chunkFill, blockSize - this.blockFill);
      this.chunkCrc = this.crc(data, i, i + n, this.chunkCrc);
      i += n;
      this.chunkFill += n;
      this.blockFill += n;
      if (this.chunkFill === bpc) this.endChunk();
      if (this.blockFill === blockSize) this.endBlock();
    }
    return this;
  }

  private endChunk(): void {
    this.crcs.writeUInt32BE(this.chunkCrc, this.crcCount * 4);
    this.crcCount++;
    this.chunkFill = 0;
    this.chunkCrc = 0;
  }

  private endBlock(): void {
    if (this.chunkFill > 0) this.endChunk();
    if (this.blockMd5s.length === 0) this.firstBlockCrcs = this.crcCount;
    this.blockMd5s.push(createHash('md5').update(this.crcs.subarray(0, this.crcCount * 4)).digest());
    this.crcCount = 0;
    this.blockFill = 0;
  }

  digest(): FileChecksum {
    if (this.blockFill > 0) this.endBlock();
    const blocks = this.blockMd5s.length;
    // DataOutputBuffer: 32 bytes to start with; a 16-byte write that would overflow it doubles it.
    let capacity = 32;
    for (let written = 16; written <= blocks * 16; written += 16) if (written > capacity) capacity = Math.max(capacity * 2, written);
    const buf = Buffer.alloc(capacity);
    this.blockMd5s.forEach((m, i) => m.copy(buf, i * 16));
    const md5 = createHash('md5').update(buf).digest('hex');
    // An empty file has no block: HDFS reports 0 bytes per CRC and the plain CRC32 type.
    const bpc = blocks === 0 ? 0 : this.params.bytesPerChecksum;
    const crcPerBlock = blocks > 1 ? this.firstBlockCrcs : 0;
    const head = Buffer.alloc(12);
    head.writeInt32BE(bpc, 0);
    head.writeBigInt64BE(BigInt(crcPerBlock), 4);
    const crcName = blocks === 0 ? 'CRC32' : this.params.crcType;
    return { algorithm: `MD5-of-${crcPerBlock}MD5-of-${bpc}${crcName}`, bytes: `${head.toString('hex')}${md5}00000000`, length: 28 };
  }
}
