// `npm run bench -- redis-move` (filled in below, in a later commit).
import type { Benchmark } from './main';

export const redisMoveBenchmark: Benchmark = {
  summary: 'redis-move in dump and replicate mode against a raw BGSAVE/copy/restart/DEBUG DIGEST baseline',
  async run() {
    throw new Error('not yet');
  },
};
