// Waiting, after an agent was injected, until the intercepted Service's traffic reaches the
// workload's traffic-agents: every ready endpoint of the Service port that belongs to the
// workload is a pod whose agent has connected to this manager, and connections through the
// Service get through (src/inject/service-path.ts does the waiting and probing; this file is the
// manager's rule for "reaches an agent"). Endpoints of pods outside the workload (a Service
// selecting several) are reported once and not waited for: tp never changes those pods. With
// `agentPort` (a create), the endpoints must also send the traffic to the agent's port: an
// agent's pod whose Service port leads to another port (the app's: its manifest applied again
// gives the app's port its name back) is bypassed, and once that outlasts BYPASS_GRACE_MS the
// create fails rather than answer ACTIVE for an intercept nothing reaches. The injector repairs a
// re-applied workload before this wait, so here that means it was changed again meanwhile, or
// the Service sends the port somewhere tp does not control.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Injector, Prepared } from '../inject/injector.js';
import { InterceptError } from '../inject/intercept-errors.js';
import { waitForServicePath, type ReadyAddress } from '../inject/service-path.js';
import { workloadKey, type InterceptRegistry } from './intercept-registry.js';

/** How long endpoints of agent pods may lead past the agent (the endpoints controller following a Service change) before a create gives up. */
const BYPASS_GRACE_MS = 5_000;

export interface AgentPathContext {
  core: CoreV1Api;
  registry: InterceptRegistry;
  injector: Injector;
}

export async function waitForAgentPath(context: AgentPathContext, prepared: Prepared, changed: boolean, progress: (message: string) => void, timeoutMs: number, agentPort?: number): Promise<void> {
  const { workload, target } = prepared;
  const key = workloadKey(workload);
  const service = target.service.metadata!.name!;
  let warned = false;
  let bypassedSince: number | undefined;
  await waitForServicePath({
    core: context.core, namespace: workload.namespace, service: target.service, servicePort: target.servicePort, changed, progress, timeoutMs,
    check: async (addresses) => {
      const agents = context.registry.agentsOf(key);
      const isAgent = (a: ReadyAddress) => agents.some((agent) => agent.hello.pod === a.targetRef?.name && agent.hello.podIp === a.ip);
      const bypassed = agentPort === undefined ? [] : addresses.filter((a) => isAgent(a) && a.endpointPort !== agentPort);
      if (bypassed.length > 0) {
        const problem = bypassedProblem(service, target.servicePort.port, bypassed, agentPort!, workload);
        bypassedSince ??= Date.now();
        if (Date.now() - bypassedSince > BYPASS_GRACE_MS) throw new InterceptError('TP_ERR_INTERCEPT_NOT_READY', problem);
        return problem;
      }
      bypassedSince = undefined;
      const missing = addresses.filter((a) => !isAgent(a));
      if (missing.length === 0) return null;
      const ours = new Set((await context.injector.podsOf(workload)).map((p) => p.metadata!.name!));
      const waiting = missing.filter((a) => !a.targetRef?.name || ours.has(a.targetRef.name));
      const others = missing.length - waiting.length;
      if (others > 0 && !warned) {
        warned = true;
        progress(`Service ${service} also sends traffic to ${others} ${others === 1 ? 'pod' : 'pods'} outside ${workload.kind}/${workload.name}: that share will not reach you`);
      }
      if (waiting.length === 0) return null;
      return `${waiting.length} of ${addresses.length} endpoints of Service ${service} have no connected traffic-agent yet (${podNames(waiting)})`;
    },
  });
}

/** Up to three endpoints by pod name (or address), "…" for the rest. */
function podNames(addresses: ReadyAddress[]): string {
  return addresses.slice(0, 3).map((a) => a.targetRef?.name ?? a.ip).join(', ') + (addresses.length > 3 ? ', …' : '');
}

function bypassedProblem(service: string, port: number, bypassed: ReadyAddress[], agentPort: number, workload: { kind: string; name: string; namespace: string }): string {
  return `Service ${service} port ${port} sends connections to port ${bypassed[0].endpointPort} of ${podNames(bypassed)}, not to the traffic-agent's port ${agentPort}, so they would not reach you: ${workload.kind}/${workload.name} or the Service changed while tp put the agent in their path (its manifest applied again, which gives the app's port its name back, or another container of the pod with a port of that name). If something keeps applying the manifest (a CI deploy, a GitOps controller), intercept once it stops; otherwise run \`tp uninstall --agent ${workload.name} -n ${workload.namespace}\` and intercept again`;
}
