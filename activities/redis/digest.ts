// Per-key digests computed on the server by a read-only Lua script: a comparison can ship a key's type, absolute
// expiry and a 40-hex SHA-1 of its canonical value instead of the value itself, so values never cross the
// network and the worker parses ~60 bytes a key. The price is server CPU: ~10 µs a key of ~500 bytes (SHA-1 in
// Lua, string building), about twice what answering the reads costs; compare.ts's `method` chooses.
//
// Canonical value, the same on any two servers holding equal values (encodings, hash seeds and insertion order
// differ; DUMP bytes do too, see REFERENCE.md): every element length-prefixed (`<len>:<bytes>`, so no two
// different values encode alike);
//   string  its bytes;             hash  its field/value pairs, sorted;   set  its members, sorted;
//   zset    ZRANGE WITHSCORES order (score, then member bytes), scores re-printed as %.17g (7.2 prints scores
//           shortest-first, 7.0 with 17 digits: the same double must digest alike);
//   list    in order;              stream  its entries in order, then length, last-generated-id,
//           max-deleted-entry-id, entries-added, and its consumer groups (name, consumers, pending,
//           last-delivered-id, entries-read) sorted by name.
// Expiry is PEXPIRETIME (absolute, 7.0+): a dump and replication both keep the absolute time, so it is equal on
// a faithful copy whenever it is read, where the remaining PTTL moves between two reads. The digest covers the
// key's name, type and expiry too, so equal digests mean an equal key, and digests can be summed over many keys
// (compare.ts's frozen mode) without two keys swapping values going unseen.
//
// The script is `#!lua flags=no-writes` and called with EVALSHA_RO: allowed under `CLIENT PAUSE WRITE` (plain
// EVAL is held by the pause) and on a read-only replica. A server runs one script at a time and serves nobody
// else meanwhile, so every call is bounded: a key bigger than `maxElements`/`maxBytes` is not read (answered
// `big`, compared page by page by the caller), and a call stops after `budget` elements, answering for the keys
// it reached; the caller asks again for the rest.
import { createHash } from 'node:crypto';
import { type Arg, type Reply, RespConnection, RespError } from './resp';

export const DIGEST_SCRIPT = `#!lua flags=no-writes
local maxElements = tonumber(ARGV[1])
local maxBytes = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local call = redis.call
local sha1hex = redis.sha1hex
local out = {}
local spent = 0
-- Each element as "<length>:" then its bytes, two parts, so a value is copied once (by the final concat).
local function add(parts, s)
  local n = #parts
  parts[n + 1] = #s .. ':'
  parts[n + 2] = s
end
local function field(flat, name)
  for i = 1, #flat, 2 do if flat[i] == name then return flat[i + 1] end end
  return nil
end
local function text(v)
  if v == false or v == nil then return '-' end
  return tostring(v)
end
for i = 1, #KEYS do
  if spent >= budget then break end
  local k = KEYS[i]
  local t = call('TYPE', k).ok
  local exp = -2
  local digest = ''
  if t ~= 'none' then
    exp = call('PEXPIRETIME', k)
    local parts = {}
    local n
    if t == 'string' then
      -- One read, never more than maxBytes + 1 bytes: longer is big.
      local v = call('GETRANGE', k, 0, maxBytes)
      if #v > maxBytes then digest = 'big' else parts[1] = v; n = 1 + math.floor(#v / 64) end
    elseif t == 'hash' then
      n = call('HLEN', k)
      if n > maxElements then digest = 'big' else
        local flat = call('HGETALL', k)
        local fields, values = {}, {}
        for j = 1, #flat, 2 do fields[#fields + 1] = flat[j]; values[flat[j]] = flat[j + 1] end
        table.sort(fields)
        for j = 1, #fields do add(parts, fields[j]); add(parts, values[fields[j]]) end
      end
    elseif t == 'set' then
      n = call('SCARD', k)
      if n > maxElements then digest = 'big' else
        local members = call('SMEMBERS', k)
        table.sort(members)
        for j = 1, #members do add(parts, members[j]) end
      end
    elseif t == 'zset' then
      n = call('ZCARD', k)
      if n > maxElements then digest = 'big' else
        local flat = call('ZRANGE', k, 0, -1, 'WITHSCORES')
        for j = 1, #flat, 2 do add(parts, flat[j]); add(parts, string.format('%.17g', tonumber(flat[j + 1]))) end
      end
    elseif t == 'list' then
      n = call('LLEN', k)
      if n > maxElements then digest = 'big' else
        local items = call('LRANGE', k, 0, -1)
        for j = 1, #items do add(parts, items[j]) end
      end
    elseif t == 'stream' then
      n = call('XLEN', k)
      if n > maxElements then digest = 'big' else
        local entries = call('XRANGE', k, '-', '+')
        for j = 1, #entries do
          local e = entries[j]
          add(parts, e[1])
          parts[#parts + 1] = #e[2] .. '#'
          for m = 1, #e[2] do add(parts, e[2][m]) end
        end
        local info = call('XINFO', 'STREAM', k)
        local fs = {'length', 'last-generated-id', 'max-deleted-entry-id', 'entries-added'}
        for j = 1, #fs do add(parts, text(field(info, fs[j]))) end
        local groups = {}
        local gs = {'name', 'consumers', 'pending', 'last-delivered-id', 'entries-read'}
        for _, g in ipairs(call('XINFO', 'GROUPS', k)) do
          local one = {}
          for j = 1, #gs do add(one, text(field(g, gs[j]))) end
          groups[#groups + 1] = table.concat(one)
        end
        table.sort(groups)
        for j = 1, #groups do add(parts, groups[j]) end
      end
    else
      digest = 'other'
      n = 0
    end
    -- The digest binds the key, its type and expiry to the value: a sum of digests over many keys then changes
    -- when two keys swap values, or a TTL changes.
    if digest == '' then digest = sha1hex(#k .. ':' .. k .. t .. ':' .. exp .. ':' .. table.concat(parts)) end
    if digest == 'big' then n = 0 end
    spent = spent + n
  end
  spent = spent + 1
  out[#out + 1] = t
  out[#out + 1] = exp
  out[#out + 1] = digest
end
return out
`;

export const DIGEST_SCRIPT_SHA = createHash('sha1').update(DIGEST_SCRIPT).digest('hex');

/** One key as the server saw it: type (`none` if absent), absolute expiry (-1 none, -2 absent), digest. */
export interface KeyDigest {
  type: string;
  expireAt: number;
  /** 40 hex digits; `big` when over the limits (not read), `other` for a module's type, '' when absent. */
  digest: string;
}

export interface DigestLimits {
  maxElements: number;
  maxBytes: number;
  /** Elements (a string counts one per 64 bytes) one call may read before it answers. */
  budget: number;
}

/**
 * Loads the script (idempotent: SCRIPT LOAD of the same text gives the same SHA) and checks the server runs it:
 * false when it cannot (before 7.0: no shebang flags, EVALSHA_RO or PEXPIRETIME), so the caller compares values.
 */
export async function loadDigestScript(conn: RespConnection): Promise<boolean> {
  const [loaded] = await conn.exec([['SCRIPT', 'LOAD', DIGEST_SCRIPT]]);
  if (loaded instanceof RespError) return false;
  const [probe] = await conn.exec([['EVALSHA_RO', DIGEST_SCRIPT_SHA, 1, '\u0000cutover-digest-probe', 1, 1, 1]]);
  return Array.isArray(probe);
}

/** Digests of `keys`, in as many calls as the budget needs (each call bounded); one pipeline per round. */
export async function digestKeys(conn: RespConnection, keys: Buffer[], limits: DigestLimits): Promise<KeyDigest[]> {
  const out: KeyDigest[] = [];
  let from = 0;
  while (from < keys.length) {
    const batch = keys.slice(from);
    const args: Arg[] = ['EVALSHA_RO', DIGEST_SCRIPT_SHA, batch.length, ...batch, limits.maxElements, limits.maxBytes, limits.budget];
    let [r]: Reply[] = await conn.exec([args]);
    if (r instanceof RespError && r.message.startsWith('NOSCRIPT')) {
      // A restart or SCRIPT FLUSH since the load: load again once.
      await conn.exec([['SCRIPT', 'LOAD', DIGEST_SCRIPT]]);
      [r] = await conn.exec([args]);
    }
    if (r instanceof RespError) throw new Error(`${conn.label}: digest script: ${r.message}`);
    const flat = r as Reply[];
    if (flat.length === 0) throw new Error(`${conn.label}: digest script answered for no key`);
    for (let i = 0; i + 2 < flat.length; i += 3) {
      out.push({ type: String(flat[i]), expireAt: flat[i + 1] as number, digest: String(flat[i + 2]) });
    }
    from += flat.length / 3;
  }
  return out;
}
