// The one workflowsPath: every workflow cutover runs.
export { fileSync } from './file-sync';
export { hdfsDualWrite } from './hdfs-dual-write';
export { postgresFailover } from './postgres-failover';
export { redisMove } from './redis-move';
