// `cutover setup`: what a namespace needs before the first migration: the Keyword search attributes CutoverPhase,
// CutoverKind and CutoverName, and the Int CutoverCleanCycles (hdfs-dual-write). Every run upserts them at each phase boundary (`cutover list` and the Web UI show
// and filter on them), and a workflow task that upserts an unknown one fails. The sandbox's dev server creates
// them at start; a real namespace needs this once.
import { Connection, isGrpcServiceError, type OperatorService } from '@temporalio/client';
import { temporalSettings } from '../../workers/connection';
import { searchAttributeNames, searchAttributeTypes } from '../../workflows/shared';
import { UserError } from './errors';

type IndexedValueType = NonNullable<Parameters<OperatorService['addSearchAttributes']>[0]['searchAttributes']>[string];
/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (the proto package is not ours to import). */
const KEYWORD = 2 as IndexedValueType;
/** INDEXED_VALUE_TYPE_INT. */
const INT = 3 as IndexedValueType;
const typeOf = (name: string) => searchAttributeTypes[name as keyof typeof searchAttributeTypes] ?? 'Keyword';
const indexedType = (name: string) => (typeOf(name) === 'Int' ? INT : KEYWORD);

/** gRPC status codes that mean "not with these rights / not through this API" (Temporal Cloud without admin). */
const NOT_ALLOWED = new Map([
  [7, 'PERMISSION_DENIED'],
  [12, 'UNIMPLEMENTED'],
  [16, 'UNAUTHENTICATED'],
]);
const ALREADY_EXISTS = 6;
const NOT_FOUND = 5;

/** What `cutover setup` says about the worker's secret store: plans name secrets, the worker's operator stores them. */
export const SECRET_STORE_HELP = [
  "secrets: plans name them ({ secret: NAME }); each worker resolves names in its own store, set up by whoever runs it:",
  '  CUTOVER_SECRETS_DIR=/etc/cutover/secrets   one file per NAME (a-z 0-9 . _ -), mode 0600, directory 0700;',
  '                                            a file group or others may read is refused',
  '  CUTOVER_SECRET_ENV=pg-replication=PGREPL_PASSWORD,...   allow-listed environment variables, name=VARIABLE',
  '  passwords, SSH identities (identity), TSIG keys (tsigKey), the PostgreSQL CA (postgres.tls.ca), tokens and',
  '  webhook URLs all go through it; a name the store lacks is reported by preflight before anything changes',
].join('\n');

export const SEARCH_ATTRIBUTES: readonly string[] = Object.values(searchAttributeNames);

export interface SetupResult {
  namespace: string;
  created: string[];
  existing: string[];
}

/** The commands someone with the rights runs instead (`temporal` CLI, same for self-hosted and Temporal Cloud). */
export function searchAttributeCommands(namespace: string, names: readonly string[] = SEARCH_ATTRIBUTES): string[] {
  return names.map((name) => `temporal operator search-attribute create --namespace ${namespace} --name ${name} --type ${typeOf(name)}`);
}

/** The operator calls setup needs: the real `connection.operatorService`, or a fake in unit tests. */
export type SearchAttributeOperator = Pick<OperatorService, 'listSearchAttributes' | 'addSearchAttributes'>;

/** Connects with the usual settings (TEMPORAL_*, profiles) and sets up `namespace` (default: the configured one). */
export async function setupNamespace(namespaceOverride?: string): Promise<SetupResult> {
  const { connectionOptions, namespace: configured } = temporalSettings();
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' });
  } catch (err) {
    throw new UserError(`cannot reach Temporal at ${connectionOptions.address}: ${(err as Error).message}\nset TEMPORAL_ADDRESS / TEMPORAL_PROFILE`);
  }
  try {
    return await setupSearchAttributes(connection.operatorService, namespaceOverride ?? configured);
  } finally {
    await connection.close();
  }
}

/**
 * Creates the missing search attributes through the operator service; existing Keyword ones are left alone. When
 * this identity may not (PERMISSION_DENIED, or an API that is not offered), a user error carries the exact
 * commands to hand to someone who may.
 */
export async function setupSearchAttributes(operator: SearchAttributeOperator, namespace: string): Promise<SetupResult> {
  const userError = (names: readonly string[], err: unknown): Error | undefined => {
    if (!isGrpcServiceError(err)) return undefined;
    if (err.code === NOT_FOUND) return new UserError(`namespace ${namespace} not found: create it, or pass --namespace / set TEMPORAL_NAMESPACE`);
    if (!NOT_ALLOWED.has(err.code)) return undefined;
    return new UserError(
      `cannot create search attributes on namespace ${namespace} (${NOT_ALLOWED.get(err.code)}: ${err.details});\n` +
        `ask someone with admin rights on it to run:\n${searchAttributeCommands(namespace, names).map((c) => `  ${c}`).join('\n')}`,
    );
  };
  let known: Record<string, IndexedValueType>;
  try {
    const listed = await operator.listSearchAttributes({ namespace });
    known = { ...listed.systemAttributes, ...listed.customAttributes };
  } catch (err) {
    throw userError(SEARCH_ATTRIBUTES, err) ?? err;
  }
  const existing = SEARCH_ATTRIBUTES.filter((name) => name in known);
  const wrongType = existing.filter((name) => known[name] !== indexedType(name));
  if (wrongType.length) {
    throw new UserError(
      `namespace ${namespace} already has ${wrongType.map((n) => `${n} with a type other than ${typeOf(n)}`).join(', ')}; cutover needs those types ` +
        '(a search attribute cannot change type: remove it with `temporal operator search-attribute remove` first)',
    );
  }
  const missing = SEARCH_ATTRIBUTES.filter((name) => !(name in known));
  if (missing.length) {
    try {
      await operator.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((name) => [name, indexedType(name)])) });
    } catch (err) {
      // Another `setup` got there first: what we wanted exists.
      if (!(isGrpcServiceError(err) && err.code === ALREADY_EXISTS)) throw userError(missing, err) ?? err;
    }
  }
  return { namespace, created: missing, existing };
}
