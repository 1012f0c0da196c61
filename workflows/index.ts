// The one workflowsPath: every workflow cutover runs.
export { fileSync } from './file-sync';
