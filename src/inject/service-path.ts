// Waits until traffic sent to a Service port reaches what tp put behind it — after an agent was
// injected, or after it was taken out again. A rollout being "done" is not enough: kube-proxy on
// every node follows the Endpoints with a lag (its --min-sync-period is 1 s by default, plus the
// watch delivery), so for a moment connections still go to pods that have left. The checks:
// 1. every ready address of the port in the Service's Endpoints, with the port its traffic goes to,
//    passes `check` (for an intercept: it is a pod of the workload whose agent has connected, and
//    the port is the agent's; the caller's rule);
// 2. that set has stood still for PROPAGATION_ALLOWANCE_MS, so every node's kube-proxy had its
//    period to catch up (skipped when the set was already in place before anything changed);
// 3. PROBES connections in a row to the ClusterIP:port from the manager's pod all connect, each
//    within PROBE_TIMEOUT_MS: this node's rules point at live listeners only. A probe sends no
//    byte and closes at once, so it is run before the intercept is handed to the agents (then the
//    agent pipes it to the app, not to the laptop). A probe that never gets through (a
//    NetworkPolicy may keep the manager out) is reported and then not waited for: checks 1 and 2
//    stand alone. Headless Services have no ClusterIP and skip check 3.
// The caller has already waited for the old pods to be gone (not merely terminating), since a
// terminating pod is out of the Endpoints and yet may still take connections.
// Used by intercept-service.ts (intercept create) and injector.ts (uninstall).
import { connect } from 'node:net';
import type { CoreV1Api, V1EndpointAddress, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { logger } from '../log/logger.js';
import { isNotFound, kubeCall } from '../k8s/api-errors.js';
import { InterceptError } from './intercept-errors.js';

const log = logger('tp:manager:service-path');

/** kube-proxy's default min-sync-period (1 s) once more for watch delivery and rule writing on busy nodes. */
export const PROPAGATION_ALLOWANCE_MS = 2_000;
/** Connections in a row that must get through; with a stale endpoint among N, each misses it with (1 - 1/N). */
const PROBES = 8;
const PROBE_TIMEOUT_MS = 1_000;
/** After this long without a clean round of probes, go on with the Endpoints check alone. */
const PROBE_BUDGET_MS = 20_000;
const POLL_MS = 300;

/** A ready address of the Service port, with the pod port kube-proxy sends its connections to. */
export type ReadyAddress = V1EndpointAddress & { endpointPort: number };

export interface ServicePathOptions {
  core: CoreV1Api;
  namespace: string;
  service: V1Service;
  servicePort: V1ServicePort;
  /** What is still wrong with these ready addresses (null: traffic to them is what we want). */
  check(addresses: ReadyAddress[]): Promise<string | null>;
  /** False when nothing was changed, so a set of endpoints found good at once was good before. */
  changed: boolean;
  progress(message: string): void;
  timeoutMs: number;
  /** Dials the probes (tests may replace it). */
  dial?: (host: string, port: number, timeoutMs: number) => Promise<void>;
}

export async function waitForServicePath(options: ServicePathOptions): Promise<void> {
  const { service, servicePort, namespace } = options;
  const name = service.metadata!.name!;
  const deadline = Date.now() + options.timeoutMs;
  const clusterIP = service.spec?.clusterIP && service.spec.clusterIP !== 'None' ? service.spec.clusterIP : undefined;
  let lastSet: string | undefined;
  let stableSince = options.changed ? Date.now() : -Infinity;
  let probeStarted: number | undefined;
  let shown = '';
  const say = (message: string): void => {
    if (message !== shown) options.progress(message);
    shown = message;
  };
  for (;;) {
    const ready = await readyAddresses(options.core, namespace, name, servicePort);
    const set = ready.map((a) => a.ip).sort().join(',');
    if (lastSet !== undefined && set !== lastSet) stableSince = Date.now();
    lastSet = set;
    const problem = ready.length === 0 ? `Service ${name} has no ready endpoint for port ${servicePort.port} yet` : await options.check(ready);
    let waitingFor = problem;
    if (!waitingFor) {
      const settle = stableSince + PROPAGATION_ALLOWANCE_MS - Date.now();
      if (settle > 0) {
        say(`Service ${name}: endpoints are in place; giving kube-proxy ${Math.ceil(settle / 1000)} s to apply them on every node`);
        await sleep(Math.min(settle, deadline - Date.now()));
        continue;
      }
      if (!clusterIP) return;
      probeStarted ??= Date.now();
      const failure = await probeRound(options.dial ?? dialOnce, clusterIP, servicePort.port);
      if (!failure) {
        log('-> %s/%s:%d: %d probes through %s got through', namespace, name, servicePort.port, PROBES, clusterIP);
        return;
      }
      if (Date.now() - probeStarted > PROBE_BUDGET_MS) {
        options.progress(`could not confirm the path through Service ${name} (${clusterIP}:${servicePort.port}) from the traffic-manager: ${failure}; going on, as its endpoints are right`);
        return;
      }
      waitingFor = `connections to Service ${name} (${clusterIP}:${servicePort.port}) do not all get through yet (${failure}): kube-proxy has not caught up`;
    }
    say(waitingFor);
    if (Date.now() > deadline) {
      throw new InterceptError('TP_ERR_INTERCEPT_NOT_READY', `Traffic to Service ${namespace}/${name} port ${servicePort.port} does not reach the traffic-agents within ${Math.round(options.timeoutMs / 1000)} s: ${waitingFor}. See where it goes: kubectl -n ${namespace} get endpoints ${name} -o wide`);
    }
    await sleep(POLL_MS);
  }
}

/** The ready addresses the Service's Endpoints list for this port (by port name, as kube-proxy matches them), each with its endpoint port. */
async function readyAddresses(core: CoreV1Api, namespace: string, name: string, servicePort: V1ServicePort): Promise<ReadyAddress[]> {
  let endpoints;
  try {
    endpoints = await core.readNamespacedEndpoints({ namespace, name });
  } catch (err) {
    if (isNotFound(err)) return [];
    return kubeCall(`reading Endpoints ${namespace}/${name}`, () => Promise.reject(err));
  }
  const portName = servicePort.name ?? '';
  return (endpoints.subsets ?? []).flatMap((s) => {
    const port = (s.ports ?? []).find((p) => (p.name ?? '') === portName);
    return port ? (s.addresses ?? []).map((a) => ({ ...a, endpointPort: port.port })) : [];
  });
}

/** Null when PROBES connections in a row connect; else what went wrong with the first that did not. */
async function probeRound(dial: NonNullable<ServicePathOptions['dial']>, host: string, port: number): Promise<string | null> {
  for (let i = 0; i < PROBES; i++) {
    try {
      await dial(host, port, PROBE_TIMEOUT_MS);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return null;
}

function dialOnce(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      socket.resume();
      setTimeout(() => socket.destroy(), timeoutMs).unref();
      resolve();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(err.code ?? err.message));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
