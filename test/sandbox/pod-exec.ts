// `sandbox exec`: runs a command inside a running pod's network namespace, with the pod's
// resolv.conf, hosts and mounts (node/network.ts execInPodArgv), stdio passed through and the exit
// code propagated. The pod is looked up through the API (its uid names the netns and the pod dir
// the kubelet made). Leaves out per-container filesystems and TTYs: containers of a pod share the
// host's programs, so -c only checks that the container exists. spawnInPod is the same for the
// API server's exec hook (`kubectl exec`). Used by cli.ts and sandbox.ts.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import type { ExecProcess } from './apiserver/context.js';
import { exitCode } from './apiserver/exec-frames.js';
import { loadKubeConfig } from './health.js';
import { SandboxError, requireRoot } from './lifecycle.js';
import { podNetnsName } from './node/names.js';
import { execInPodArgv } from './node/network.js';
import { NETWORK_PREFIX, sandboxPaths, type SandboxPaths } from './state.js';

export interface ExecRequest {
  pod: string;
  namespace: string;
  container?: string;
  argv: string[];
}

export function parseExecArgs(args: string[]): ExecRequest {
  const usage = 'npm run sandbox -- exec <pod> [-n ns] [-c container] -- <cmd> [args…]';
  const dashes = args.indexOf('--');
  const head = dashes === -1 ? args : args.slice(0, dashes);
  const argv = dashes === -1 ? [] : args.slice(dashes + 1);
  let pod: string | undefined;
  let namespace = 'default';
  let container: string | undefined;
  for (let i = 0; i < head.length; i++) {
    const arg = head[i]!;
    if (arg === '-n' || arg === '--namespace') namespace = need(head[++i], arg);
    else if (arg === '-c' || arg === '--container') container = need(head[++i], arg);
    else if (arg.startsWith('-')) throw new SandboxError('SANDBOX_USAGE', `unknown option ${arg}`, [usage]);
    else if (pod === undefined) pod = arg;
    else throw new SandboxError('SANDBOX_USAGE', `unexpected argument ${JSON.stringify(arg)} (put the command after --)`, [usage]);
  }
  if (!pod) throw new SandboxError('SANDBOX_USAGE', 'exec needs a pod name', [usage]);
  if (argv.length === 0) throw new SandboxError('SANDBOX_USAGE', 'exec needs a command after --', [usage]);
  return { pod, namespace, container, argv };

  function need(value: string | undefined, flag: string): string {
    if (!value) throw new SandboxError('SANDBOX_USAGE', `${flag} needs a value`, [usage]);
    return value;
  }
}

/** The argv (run as root) that executes `request.argv` inside the pod. */
export async function podExecArgv(request: ExecRequest, paths: SandboxPaths = sandboxPaths()): Promise<string[]> {
  const core = loadKubeConfig(paths).makeApiClient(CoreV1Api);
  let pod;
  try {
    pod = await core.readNamespacedPod({ name: request.pod, namespace: request.namespace });
  } catch (error) {
    if ((error as { code?: number }).code === 404) {
      throw new SandboxError('SANDBOX_POD_NOT_FOUND', `pod ${request.namespace}/${request.pod} not found`, [`kubectl --kubeconfig ${paths.kubeconfig} get pods -n ${request.namespace}`]);
    }
    throw error;
  }
  if (request.container && !pod.spec?.containers.some((c) => c.name === request.container)) {
    throw new SandboxError('SANDBOX_CONTAINER_NOT_FOUND', `pod ${request.namespace}/${request.pod} has no container ${request.container}`);
  }
  if (pod.status?.phase !== 'Running' || !pod.metadata?.uid) {
    throw new SandboxError('SANDBOX_POD_NOT_RUNNING', `pod ${request.namespace}/${request.pod} is ${pod.status?.phase ?? 'Unknown'}, not Running`);
  }
  return podArgv(pod.metadata.uid, request.argv, paths, request.container);
}

function podArgv(uid: string, argv: string[], paths: SandboxPaths, container?: string): string[] {
  return execInPodArgv(podNetnsName(NETWORK_PREFIX, uid), path.join(paths.pods, uid), argv, container);
}

/** Starts argv in the pod with this uid (with that container's mounts), in a process group of its own (killed as a whole). Run as root. */
export function spawnInPod(uid: string, argv: string[], paths: SandboxPaths = sandboxPaths(), container?: string): ExecProcess {
  const [file, ...args] = podArgv(uid, argv, paths, container);
  return spawnExecProcess(file!, args);
}

/** Starts file with args in a process group of its own, as an ExecProcess. */
export function spawnExecProcess(file: string, args: string[]): ExecProcess {
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(127));
    child.once('close', (code, signal) => resolve(exitCode(code, signal)));
  });
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    kill() {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    },
  };
}

export async function execInPod(request: ExecRequest, paths: SandboxPaths = sandboxPaths()): Promise<number> {
  requireRoot('exec');
  const [file, ...args] = await podExecArgv(request, paths);
  return new Promise<number>((resolve, reject) => {
    const child = spawn(file!, args, { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}
