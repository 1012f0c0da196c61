// The redis-move move: a Redis server and the job system on it, to a new server: the job system paused, then
// either a dump (BGSAVE, copied over SSH with checksums, archived, loaded) or live replication with a short final
// write pause; integrity compared key by key, DNS switched, jobs resumed; the way back replicates back.
import { redisMoveInput, redisMovePlanSchema, redisReferenceProblems, sandboxRedisMovePlan } from '../plans/redis-move';
import { defineMove } from './move';

export const redisMoveMove = defineMove({
  kind: 'redis-move',
  summary: 'a Redis server and its job system: pause jobs, dump + copy + load (or replicate), compare every key, DNS switch, resume',
  system: 'redis',
  workflowType: 'redisMove',
  planSchema: redisMovePlanSchema,
  referenceProblems: redisReferenceProblems,
  toInput: redisMoveInput,
  sampleName: 'redis-demo',
  // The sandbox's pair (dc1 → dc2, port 6379) switching redis.sandbox.internal, the demo job system's hooks.
  samplePlan: (sb, name) => sandboxRedisMovePlan(sb, { name, dnsName: `redis.${sb.dns.zone}`, jobsUrl: 'http://127.0.0.1:7390', complete: true }),
  bench: async () => (await import('../bench/redis-move')).redisMoveBenchmark,
  demo: { title: 'Redis (redis-move), the sandbox pair dc1 → dc2 with a live job queue', run: async () => (await import('../demo/redis-move')).redisMoveDemo },
});
