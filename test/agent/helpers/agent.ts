// Starts a real TrafficAgent in-process against a FakeManager: loopback listeners on free ports,
// short reconnect delays and keepalives so fail-open tests run in well under a second.
import type { ExecutionContext } from 'ava';
import { TrafficAgent } from '../../../src/agent/agent.js';
import { appEnvironment, type AgentConfig } from '../../../src/agent/config.js';
import { AGENT_TOKEN, FakeManager } from './fake-manager.js';

export interface AgentRig {
  agent: TrafficAgent;
  manager: FakeManager;
  /** The agent's bound port for each app port, in config order. */
  agentPorts: number[];
}

export async function startAgentRig(t: ExecutionContext, appPorts: number[], overrides: Partial<AgentConfig> = {}): Promise<AgentRig> {
  const manager = await FakeManager.start();
  t.teardown(() => manager.stop());
  const config: AgentConfig = {
    managerUrl: manager.url,
    token: AGENT_TOKEN,
    workload: { kind: 'Deployment', name: 'hello', namespace: 'default' },
    container: 'app',
    pod: 'hello-abc12',
    podIp: '10.1.0.7',
    ports: appPorts.map((appPort, index) => ({ name: index === 0 ? 'http' : `p${index}`, agentPort: 0, appPort })),
    environment: appEnvironment({ GREETING: 'hi' }),
    ...overrides,
  };
  const agent = new TrafficAgent(config, {
    listenHost: '127.0.0.1',
    closeTimeoutMs: 500,
    backoff: { initialMs: 20, maxMs: 200 },
    session: { pingIntervalMs: 200, deadPeerTimeoutMs: 1000 },
  });
  const hello = manager.waitFor('hello');
  const listeners = await agent.start();
  t.teardown(() => agent.destroy());
  await hello;
  return { agent, manager, agentPorts: listeners.map((l) => l.boundPort) };
}
