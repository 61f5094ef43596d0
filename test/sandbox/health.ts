// Is the sandbox up? Asks the API server's /readyz over TLS checked against the sandbox CA, and
// whether the node `sandbox-node` reports Ready, through the admin kubeconfig. Leaves out deeper
// checks (DNS, pods): the end-to-end tests cover those. Used by lifecycle.ts (up, status).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { NODE_NAME, type SandboxPaths } from './state.js';

const PROBE_TIMEOUT_MS = 2_000;

export function apiReady(paths: SandboxPaths, port: number): Promise<boolean> {
  let ca: string;
  try {
    ca = readFileSync(paths.caCert, 'utf8');
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const request = https.get({ host: '127.0.0.1', port, path: '/readyz', ca, servername: 'localhost', timeout: PROBE_TIMEOUT_MS }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

export function loadKubeConfig(paths: SandboxPaths): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(paths.kubeconfig);
  return kc;
}

export async function nodeReady(paths: SandboxPaths): Promise<boolean> {
  try {
    const core = loadKubeConfig(paths).makeApiClient(CoreV1Api);
    const node = await core.readNode({ name: NODE_NAME });
    return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  } catch {
    return false;
  }
}

export interface ClusterSummary {
  nodes: { name: string; ready: boolean }[];
  pods: { namespace: string; name: string; phase: string; ready: boolean }[];
}

export async function clusterSummary(paths: SandboxPaths): Promise<ClusterSummary> {
  const core = loadKubeConfig(paths).makeApiClient(CoreV1Api);
  const [nodes, pods] = await Promise.all([core.listNode(), core.listPodForAllNamespaces()]);
  return {
    nodes: nodes.items.map((n) => ({ name: n.metadata?.name ?? '', ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false })),
    pods: pods.items.map((p) => ({
      namespace: p.metadata?.namespace ?? '',
      name: p.metadata?.name ?? '',
      phase: p.status?.phase ?? 'Unknown',
      ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    })),
  };
}
