// `npm run sandbox:worker`: `npm run worker` with the sandbox's settings (its Temporal server, its GCS emulator
// for artifacts) passed explicitly; the worker itself never looks for the sandbox. Settings already in the
// environment win.
import { main } from '../../workers/main';
import { loadSandbox, useSandboxWorkerEnv } from './endpoints';

useSandboxWorkerEnv(loadSandbox());
main(process.argv.slice(2));
