import test from 'ava';
import type { V1PodTemplateSpec, V1Service } from '@kubernetes/client-node';
import { AGENT_CONTAINER, currentOriginal, FIRST_AGENT_PORT, freePort, INJECTION_ANNOTATION, injectAgent, mappingFor, originalTemplate, patchService, restoreService, type AgentOriginal } from '../../src/inject/agent-patch.js';
import { parseAgentConfig } from '../../src/agent/config.js';
import { violations } from '../sandbox/apiserver/admission/pod-security-checks.js';

const template = (): V1PodTemplateSpec => ({
  metadata: { labels: { app: 'web' } },
  spec: {
    containers: [
      {
        name: 'echo',
        image: 'echo',
        env: [{ name: 'PORT', value: '8080' }, { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cm', key: 'g' } } }],
        envFrom: [{ configMapRef: { name: 'cm' } }],
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/', port: 'http' } },
      },
    ],
  },
});
const settings = { image: 'tp/tp:1', managerNamespace: 'tp', workload: { kind: 'Deployment' as const, name: 'web' } };

test('a named targetPort moves to the agent: the app port and its probe are renamed, the agent takes the name', (t) => {
  const injected = injectAgent(template(), 'echo', [{ name: 'http', agentPort: 9900, appPort: 8080 }], settings);
  const [app, agent] = injected.spec!.containers;
  t.deepEqual(app.ports, [{ name: 'tp-http', containerPort: 8080 }]);
  t.is(app.readinessProbe?.httpGet?.port, 'tp-http');
  t.is(agent.name, AGENT_CONTAINER);
  t.deepEqual(agent.args, ['agent', 'serve']);
  t.deepEqual(agent.ports, [{ name: 'http', containerPort: 9900, protocol: 'TCP' }, { name: 'tpagent-health', containerPort: 9899, protocol: 'TCP' }]);
  t.deepEqual(agent.readinessProbe, { httpGet: { path: '/ready', port: 9899 }, periodSeconds: 1 }, 'probed on its own health port, never on a Service port');
  t.deepEqual(agent.envFrom, [{ configMapRef: { name: 'cm' } }]);
  const env = Object.fromEntries(agent.env!.map((e) => [e.name, e.value ?? e.valueFrom]));
  t.deepEqual(env.GREETING, { configMapKeyRef: { name: 'cm', key: 'g' } });
  t.is(env.TP_AGENT_MANAGER_URL, 'ws://traffic-manager.tp.svc.cluster.local:8081/tunnel');
  t.is(env.TP_AGENT_WORKLOAD, 'Deployment/web');
  t.is(env.TP_AGENT_CONTAINER, 'echo');
  t.deepEqual(JSON.parse(String(env.TP_AGENT_PORTS)), [{ name: 'http', agentPort: 9900, appPort: 8080 }]);
  t.deepEqual(env.TP_AGENT_TOKEN, { secretKeyRef: { name: 'tp-agent-token', key: 'token' } });
  t.is(env.TP_AGENT_HEALTH_PORT, '9899');
});

test('the health port and new agent ports skip the ports a container of the pod declares', (t) => {
  const busy = template();
  busy.spec!.containers[0].ports!.push({ containerPort: 9899 }, { containerPort: 9898, name: 'tpagent-health' }, { containerPort: 9900 });
  const injected = injectAgent(busy, 'echo', [{ name: 'http', agentPort: freePort(busy, FIRST_AGENT_PORT, 1), appPort: 8080 }], settings);
  const agent = injected.spec!.containers[1];
  t.deepEqual(agent.ports, [{ name: 'http', containerPort: 9901, protocol: 'TCP' }, { containerPort: 9897, protocol: 'TCP' }], 'the name is left off when the app uses it');
  t.is(agent.readinessProbe?.httpGet?.port, 9897);
});

/** The agent container's env as the kubelet would give it (fieldRefs and the Secret filled in). */
function agentEnv(injected: V1PodTemplateSpec): Record<string, string> {
  const env: Record<string, string> = { TP_AGENT_TOKEN: 't', TP_AGENT_NAMESPACE: 'ns', TP_AGENT_POD: 'web-1', TP_AGENT_POD_IP: '10.0.0.1' };
  for (const e of injected.spec!.containers.find((c) => c.name === AGENT_CONTAINER)!.env!) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

test('the health port and new agent ports avoid the app ports the agent forwards to, even ports the app does not declare', (t) => {
  // Common: a Service with a numeric targetPort to an app that declares no containerPort.
  const bare: V1PodTemplateSpec = { spec: { containers: [{ name: 'app', image: 'app' }] } };
  const { ports } = mappingFor(bare, [], { appPort: FIRST_AGENT_PORT - 1 });
  t.deepEqual(ports, [{ agentPort: FIRST_AGENT_PORT, appPort: FIRST_AGENT_PORT - 1 }]);
  const env = agentEnv(injectAgent(bare, 'app', ports, settings));
  t.is(env.TP_AGENT_HEALTH_PORT, String(FIRST_AGENT_PORT - 2), 'the health port steps down past the app port');
  t.notThrows(() => parseAgentConfig(env), 'the agent accepts what the injector rendered');

  t.deepEqual(mappingFor(bare, [], { appPort: FIRST_AGENT_PORT }).mapping, { agentPort: FIRST_AGENT_PORT + 1, appPort: FIRST_AGENT_PORT }, 'never the app port itself');
  const recorded = [{ agentPort: FIRST_AGENT_PORT, appPort: FIRST_AGENT_PORT + 1 }];
  t.deepEqual(mappingFor(bare, recorded, { appPort: 8080 }).mapping, { agentPort: FIRST_AGENT_PORT + 2, appPort: 8080 }, 'nor an app port an earlier mapping forwards to');
  t.notThrows(() => parseAgentConfig(agentEnv(injectAgent(bare, 'app', mappingFor(bare, [], { appPort: FIRST_AGENT_PORT }).ports, settings))));
});

test('a re-applied manifest that moved a named port to another number: the agent forwards to the new one, with one port of that name', (t) => {
  const withPorts = (ports: { name: string; containerPort: number }[]): V1PodTemplateSpec => {
    const next = template();
    next.spec!.containers[0].ports = ports;
    return next;
  };
  const before = withPorts([{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }]);
  const ports = [{ name: 'http', agentPort: 9900, appPort: 8080 }, { name: 'metrics', agentPort: 9901, appPort: 9090 }, { agentPort: 9902, appPort: 7070 }];
  const record: AgentOriginal = { managerNamespace: 'tp', container: structuredClone(before.spec!.containers[0]), ports };
  const injected = injectAgent(before, 'echo', ports, settings);
  // Applied again: http now on 8081, metrics gone; `kubectl apply` keeps the agent container it did not write.
  const reapplied = structuredClone(injected);
  reapplied.spec!.containers[0] = withPorts([{ name: 'http', containerPort: 8081 }]).spec!.containers[0];

  const current = currentOriginal(reapplied, record);
  t.is(current.repair, 'app changed');
  t.deepEqual(current.original.ports, [{ name: 'http', agentPort: 9900, appPort: 8081 }, { agentPort: 9902, appPort: 7070 }], 'a named port follows its name, one the app lost is dropped, a numeric one stays');
  // What the injector does next for a Service whose targetPort is `http`.
  const original = originalTemplate(reapplied, current.original);
  const chosen = mappingFor(original, current.original.ports, { name: 'http', appPort: 8081 });
  t.deepEqual(chosen.mapping, { name: 'http', agentPort: 9900, appPort: 8081 });
  const repaired = injectAgent(original, 'echo', chosen.ports, settings);
  const agent = repaired.spec!.containers[1];
  t.deepEqual(agent.ports!.map((p) => p.name).filter(Boolean), ['http', 'tpagent-health'], 'no port name twice (Kubernetes refuses that)');
  const env = agentEnv(repaired);
  t.deepEqual(JSON.parse(env.TP_AGENT_PORTS), [{ name: 'http', agentPort: 9900, appPort: 8081 }, { agentPort: 9902, appPort: 7070 }], 'no mapping to the port the app left');
  t.notThrows(() => parseAgentConfig(env));
  t.deepEqual(repaired.spec!.containers[0].ports, [{ name: 'tp-http', containerPort: 8081 }]);
});

test('each injection marks the pod template, and restoring takes the mark off again', (t) => {
  const ports = [{ name: 'http', agentPort: 9900, appPort: 8080 }];
  const record: AgentOriginal = { managerNamespace: 'tp', container: structuredClone(template().spec!.containers[0]), ports };
  const injected = injectAgent(template(), 'echo', ports, { ...settings, injection: 'abc' });
  t.deepEqual(injected.metadata, { labels: { app: 'web' }, annotations: { [INJECTION_ANNOTATION]: 'abc' } });
  t.deepEqual(originalTemplate(injected, record), template());
});

test('a re-applied manifest (the app port named again, a new image) becomes the original; an untouched injection keeps the record', (t) => {
  const ports = [{ name: 'http', agentPort: 9900, appPort: 8080 }];
  const record: AgentOriginal = { managerNamespace: 'tp', container: structuredClone(template().spec!.containers[0]), ports };
  const injected = injectAgent(template(), 'echo', ports, { ...settings, injection: 'abc' });
  // What went through the API server comes back with its keys in another order.
  const roundTripped = JSON.parse(JSON.stringify(injected, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v))) as V1PodTemplateSpec;
  t.deepEqual(currentOriginal(roundTripped, record), { original: record });

  const reapplied = structuredClone(injected);
  const manifestApp = { ...structuredClone(template().spec!.containers[0]), image: 'echo:2', env: [{ name: 'PORT', value: '8080' }, { name: 'NEW', value: '1' }] };
  reapplied.spec!.containers[0] = manifestApp;
  t.deepEqual(currentOriginal(reapplied, record), { original: { ...record, container: manifestApp }, repair: 'app changed' });

  const setImage = structuredClone(injected);
  setImage.spec!.containers[0].image = 'echo:3';
  const fromSetImage = currentOriginal(setImage, record);
  t.is(fromSetImage.repair, 'app changed');
  t.deepEqual(fromSetImage.original.container, { ...template().spec!.containers[0], image: 'echo:3' }, "tp's renames are undone: the original has the app's own port names");

  const oldAgent = structuredClone(injected);
  oldAgent.spec!.containers[1].env = oldAgent.spec!.containers[1].env!.filter((e) => e.name !== 'TP_AGENT_HEALTH_PORT');
  t.deepEqual(currentOriginal(oldAgent, record), { original: record, repair: 'agent outdated' }, 'an agent from before the health port is rendered again');
  const noAgent = structuredClone(injected);
  noAgent.spec!.containers.pop();
  t.deepEqual(currentOriginal(noAgent, record), { original: record, repair: 'agent missing' });

  const renamed = structuredClone(injected);
  renamed.spec!.containers[0].name = 'other';
  t.deepEqual(currentOriginal(renamed, record), { original: record }, 'a record whose container left the template stays');
});

test('the recorded app container turns an injected template back into the original, field for field', (t) => {
  const original = template();
  const record: AgentOriginal = { managerNamespace: 'tp', container: structuredClone(original.spec!.containers[0]), ports: [{ name: 'http', agentPort: 9900, appPort: 8080 }] };
  const injected = injectAgent(original, 'echo', record.ports, settings);
  t.notDeepEqual(injected, template());
  t.deepEqual(originalTemplate(injected, record), template());
});

test('a numeric targetPort is pointed at the agent and restored from the annotation', (t) => {
  const service: V1Service = { metadata: { name: 'web', labels: { a: 'b' } }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'other', port: 90, targetPort: 'metrics' }] } };
  const patched = patchService(service, [{ agentPort: 9900, appPort: 8080 }])!;
  t.deepEqual(patched.spec!.ports!.map((p) => p.targetPort), [9900, 'metrics']);
  t.is(patchService(patched, [{ agentPort: 9900, appPort: 8080 }]), null, 'patching twice changes nothing');
  t.deepEqual(restoreService(patched), service);
  t.is(restoreService(service), null);
});

test('a named targetPort leaves the Service alone', (t) => {
  const service: V1Service = { metadata: { name: 'web' }, spec: { ports: [{ port: 80, targetPort: 'http' }] } };
  t.is(patchService(service, [{ name: 'http', agentPort: 9900, appPort: 8080 }]), null);
});

test('the agent passes Pod Security "restricted" on its own, so a compliant workload stays compliant; restoring removes it whole', (t) => {
  const compliant = template();
  compliant.spec!.securityContext = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
  compliant.spec!.containers[0].securityContext = { runAsUser: 1000, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
  t.deepEqual(violations('restricted', compliant.spec!), []);
  const ports = [{ name: 'http', agentPort: 9900, appPort: 8080 }];
  const injected = injectAgent(compliant, 'echo', ports, settings);
  t.deepEqual(violations('restricted', injected.spec!), []);
  const agent = injected.spec!.containers.find((c) => c.name === AGENT_CONTAINER)!;
  t.deepEqual(violations('restricted', { containers: [agent] }), [], 'without any pod-level setting too');
  t.true((agent.securityContext?.runAsUser ?? 0) > 0);
  t.true(agent.ports!.every((p) => p.containerPort >= 1024), 'no port that would need NET_BIND_SERVICE');
  const record: AgentOriginal = { managerNamespace: 'tp', container: structuredClone(compliant.spec!.containers[0]), ports };
  t.deepEqual(originalTemplate(injected, record), compliant);
});

test('the agent gets the app\'s volume mounts under /tp/volumes: read-only, except writable volumes the app mounts read-write; restoring drops them', (t) => {
  const withVolumes = template();
  withVolumes.spec!.volumes = [{ name: 'config', configMap: { name: 'cm' } }, { name: 'cache', emptyDir: {} }, { name: 'data', persistentVolumeClaim: { claimName: 'd' } }];
  withVolumes.spec!.containers[0].volumeMounts = [
    { name: 'config', mountPath: '/etc/app/' },
    { name: 'cache', mountPath: '/var/cache/app', mountPropagation: 'HostToContainer' },
    { name: 'data', mountPath: '/data', readOnly: true, subPath: 'part' },
  ];
  const injected = injectAgent(withVolumes, 'echo', [{ name: 'http', agentPort: 9900, appPort: 8080 }], settings);
  const agent = injected.spec!.containers.find((c) => c.name === AGENT_CONTAINER)!;
  t.deepEqual(agent.volumeMounts, [
    { name: 'config', mountPath: '/tp/volumes/etc/app', readOnly: true },
    { name: 'cache', mountPath: '/tp/volumes/var/cache/app', readOnly: false },
    { name: 'data', mountPath: '/tp/volumes/data', readOnly: true, subPath: 'part' },
  ]);
  const mounts = agent.env!.find((e) => e.name === 'TP_AGENT_MOUNTS')!.value!;
  t.deepEqual(JSON.parse(mounts), [
    { path: '/etc/app', at: '/tp/volumes/etc/app', rw: false },
    { path: '/var/cache/app', at: '/tp/volumes/var/cache/app', rw: true },
    { path: '/data', at: '/tp/volumes/data', rw: false },
  ]);
  t.deepEqual(injected.spec!.volumes, withVolumes.spec!.volumes, 'the pod\'s volumes are untouched');
  const original: AgentOriginal = { managerNamespace: 'tp', container: withVolumes.spec!.containers[0], ports: [] };
  t.deepEqual(originalTemplate(injected, original), withVolumes);
});

test('an app without mounts gives the agent none', (t) => {
  const agent = injectAgent(template(), 'echo', [{ name: 'http', agentPort: 9900, appPort: 8080 }], settings).spec!.containers[1];
  t.is(agent.volumeMounts, undefined);
  t.false(agent.env!.some((e) => e.name === 'TP_AGENT_MOUNTS'));
});
