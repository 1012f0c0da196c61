// Temporal connection settings the ecosystem's way: @temporalio/envconfig reads TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS variables and TEMPORAL_PROFILE / temporal.toml profiles.
// Without any of those, the sandbox's dev server on 127.0.0.1:7233.
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { ConnectionOptions } from '@temporalio/client';

export interface TemporalSettings {
  connectionOptions: ConnectionOptions;
  namespace: string;
}

export function temporalSettings(): TemporalSettings {
  const config = loadClientConnectConfig();
  const connectionOptions = { ...config.connectionOptions } as ConnectionOptions;
  if (!connectionOptions.address) connectionOptions.address = '127.0.0.1:7233';
  return { connectionOptions, namespace: config.namespace ?? 'default' };
}
