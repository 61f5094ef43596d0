// `npm run sandbox -- <command>`: up, down, status, restart apiserver, exec. Parses arguments, calls lifecycle.ts or
// pod-exec.ts, prints a human summary; a failure prints its message and "Try this:" hints and
// exits 1 (exec exits with the command's own code). Leaves out --json (nothing scripts this yet).
import { sandboxDown, sandboxRestartApiServer, sandboxUp, SandboxError } from './lifecycle.js';
import { clusterSummary, apiReady } from './health.js';
import { execInPod, parseExecArgs } from './pod-exec.js';
import { isAlive, readPid, readStatus, sandboxPaths, sandboxPort } from './state.js';

const USAGE = `usage: npm run sandbox -- <command>
  up                                  start the sandbox cluster (idempotent)
  down                                stop it and remove everything it made
  status                              is it running; nodes and pods
  restart apiserver                   restart the API server as a control-plane restart would:
                                      every watch and port-forward drops, the same API comes
                                      back on the same address with the same objects
  exec <pod> [-n ns] [-c container] -- <cmd> [args…]
                                      run a command inside a pod's network namespace`;

async function up(): Promise<number> {
  const result = await sandboxUp();
  if (result.cleaned.length > 0) console.log(`cleaned stale state: ${result.cleaned.join(', ')}`);
  console.log(result.alreadyRunning ? `sandbox already running (pid ${result.pid})` : `sandbox up in ${(result.readyMs / 1000).toFixed(1)} s (pid ${result.pid})`);
  console.log(`API:        ${result.apiUrl}`);
  console.log(`kubeconfig: ${result.kubeconfig}`);
  console.log(`try:        kubectl --kubeconfig ${result.kubeconfig} get pods -A`);
  return 0;
}

async function down(): Promise<number> {
  const result = await sandboxDown();
  if (result.removed.length === 0) console.log('sandbox was not running; nothing to remove');
  else console.log(`removed: ${result.removed.join(', ')}${result.killed ? ' (had to SIGKILL)' : ''}`);
  return 0;
}

async function status(): Promise<number> {
  const paths = sandboxPaths();
  const port = sandboxPort();
  const pid = readPid(paths);
  const running = pid !== undefined && isAlive(pid);
  if (!running) {
    console.log('sandbox: not running');
    return 0;
  }
  const ready = await apiReady(paths, port);
  const info = readStatus(paths);
  console.log(`sandbox:    running (pid ${pid}), API ${ready ? 'ready' : 'NOT ready'}`);
  console.log(`API:        ${info?.apiUrl ?? `https://127.0.0.1:${port}`}`);
  console.log(`kubeconfig: ${paths.kubeconfig}`);
  if (info) console.log(`started:    ${info.startedAt} (up in ${(info.startupMs / 1000).toFixed(1)} s)`);
  if (!ready) return 0;
  const summary = await clusterSummary(paths);
  for (const node of summary.nodes) console.log(`node:       ${node.name} ${node.ready ? 'Ready' : 'NotReady'}`);
  const readyPods = summary.pods.filter((p) => p.ready).length;
  console.log(`pods:       ${summary.pods.length} (${readyPods} ready)`);
  for (const pod of summary.pods) console.log(`  ${pod.namespace}/${pod.name} ${pod.phase}${pod.ready ? ' ready' : ''}`);
  return 0;
}

async function restart(what: string | undefined): Promise<number> {
  if (what !== 'apiserver') throw new SandboxError('SANDBOX_USAGE', `cannot restart ${JSON.stringify(what ?? '')}: only "apiserver"`, [USAGE]);
  const result = await sandboxRestartApiServer();
  console.log(`API server restarted; ready again after ${(result.readyMs / 1000).toFixed(1)} s (sandbox pid ${result.pid})`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up':
      return up();
    case 'down':
      return down();
    case 'status':
      return status();
    case 'restart':
      return restart(rest[0]);
    case 'exec':
      return execInPod(parseExecArgs(rest));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    default:
      throw new SandboxError('SANDBOX_USAGE', `unknown command ${JSON.stringify(command)}`, [USAGE]);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    if (error instanceof SandboxError && error.hints.length > 0) {
      console.error('Try this:');
      for (const hint of error.hints) console.error(`  ${hint}`);
    }
    process.exitCode = 1;
  },
);
