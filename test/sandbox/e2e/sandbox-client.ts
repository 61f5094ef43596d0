// What the sandbox end-to-end tests use to drive the running sandbox: kubectl with the sandbox's
// kubeconfig, commands inside a pod (the same path as `npm run sandbox -- exec`), client-node
// APIs, and polling with a deadline. Leaves out starting the sandbox: run-tests.ts does that.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { loadKubeConfig } from '../health.js';
import { podExecArgv } from '../pod-exec.js';
import { sandboxPaths } from '../state.js';
import { kubectlWith } from '../../helpers/kubectl.js';
import { waitFor as waitForValue } from '../../helpers/wait-for.js';

const execFileAsync = promisify(execFile);
export const paths = sandboxPaths();

export function kubeConfig(): KubeConfig {
  return loadKubeConfig(paths);
}

export function coreApi(): CoreV1Api {
  return kubeConfig().makeApiClient(CoreV1Api);
}

export function appsApi(): AppsV1Api {
  return kubeConfig().makeApiClient(AppsV1Api);
}

export function kubectl(args: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  return kubectlWith(paths.kubeconfig, args, options);
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv inside the pod (its netns, resolv.conf and mounts), never throwing on a non-zero exit. */
export async function execInPod(pod: string, argv: string[], namespace = 'default', timeoutMs = 20_000): Promise<ExecResult> {
  const [file, ...args] = await podExecArgv({ pod, namespace, argv }, paths);
  try {
    const { stdout, stderr } = await execFileAsync(file!, args, { encoding: 'utf8', timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) };
  }
}

export async function readyPods(selector: string, namespace = 'default'): Promise<V1Pod[]> {
  const pods = (await coreApi().listNamespacedPod({ namespace, labelSelector: selector })).items;
  return pods.filter((pod) => !pod.metadata?.deletionTimestamp && pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
}

export function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  return waitForValue(what, probe, timeoutMs, 200);
}
