import test from 'ava';
import type { V1PodSpec } from '@kubernetes/client-node';
import { CLIENT_TOKEN_SECRET, MANAGER_PORT_FORWARD_PORT, MANAGER_TUNNEL_PORT } from '../../src/api/names.js';
import { managerManifests } from '../../src/install/manifests.js';
import { violations } from '../sandbox/apiserver/admission/pod-security-checks.js';

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[] }

test('the manifests come in apply order with the namespace first and the workload after its dependencies', (t) => {
  const kinds = managerManifests().map((o) => o.kind);
  t.deepEqual(kinds, ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Secret', 'Deployment', 'Service']);
});

interface RuleWithNames extends Rule { resourceNames?: string[] }

test('the manager reads what clients may reach, writes only what intercepts need, and touches one Secret by name', (t) => {
  const role = managerManifests().find((o) => o.kind === 'ClusterRole') as unknown as { rules: RuleWithNames[] };
  const allowed = (group: string, resource: string) => [...new Set(role.rules.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs))].sort();
  for (const resource of ['endpoints', 'namespaces']) t.deepEqual(allowed('', resource), ['get', 'list', 'watch']);
  t.deepEqual(allowed('', 'services'), ['get', 'list', 'patch', 'update', 'watch']);
  t.deepEqual(allowed('', 'pods'), ['delete', 'get', 'list', 'watch']);
  for (const kind of ['deployments', 'statefulsets', 'replicasets']) t.deepEqual(allowed('apps', kind), ['get', 'list', 'patch', 'update', 'watch']);
  const secretRules = role.rules.filter((r) => r.resources.includes('secrets'));
  t.deepEqual(secretRules.map((r) => [r.verbs.join(','), r.resourceNames ?? []]), [['create', []], ['get,update,delete', ['tp-agent-token']]]);
  t.false(role.rules.some((r) => r.resources.includes('*') || r.verbs.includes('*')));
});

test('the Deployment names its own image for the agents and carries the session TTL when given', (t) => {
  const deployment = managerManifests({ image: 'reg/tp:9', sessionTtlSeconds: 7 }).find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } };
  const env = Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((e) => [e.name, e.value]));
  t.is(env.TP_MANAGER_IMAGE, 'reg/tp:9');
  t.is(env.TP_MANAGER_SESSION_TTL, '7');
});

test('every object lands in the chosen namespace and the binding names its service account there', (t) => {
  const objects = managerManifests({ namespace: 'team-a' });
  for (const o of objects.filter((o) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind!))) t.is(o.metadata?.namespace, 'team-a');
  const binding = objects.find((o) => o.kind === 'ClusterRoleBinding') as unknown as { subjects: { namespace: string }[] };
  t.is(binding.subjects[0].namespace, 'team-a');
});

test('the Service exposes only the token-guarded tunnel port, never the port-forward one', (t) => {
  const service = managerManifests().find((o) => o.kind === 'Service') as unknown as { spec: { ports: { port: number }[] } };
  t.deepEqual(service.spec.ports.map((p) => p.port), [MANAGER_TUNNEL_PORT]);
  t.not(MANAGER_TUNNEL_PORT, MANAGER_PORT_FORWARD_PORT);
});

test('each manifest set gets its own random client token unless one is given', (t) => {
  const token = (objects: ReturnType<typeof managerManifests>) =>
    (objects.find((o) => o.kind === 'Secret' && o.metadata?.name === CLIENT_TOKEN_SECRET) as unknown as { data: { token: string } }).data.token;
  t.not(token(managerManifests()), token(managerManifests()));
  t.is(Buffer.from(token(managerManifests({ clientToken: 'fixed' })), 'base64').toString(), 'fixed');
});

test('the manager\'s pod passes Pod Security "restricted" and runs as a non-root uid', (t) => {
  const deployment = managerManifests().find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: V1PodSpec } } };
  const spec = deployment.spec.template.spec;
  t.deepEqual(violations('restricted', spec), []);
  t.not(spec.containers[0].securityContext?.runAsUser ?? 0, 0);
  t.deepEqual(violations('restricted', { ...spec, securityContext: undefined, containers: spec.containers.map((c) => ({ ...c, securityContext: undefined })) }).map((v) => v.reason),
    ['allowPrivilegeEscalation != false', 'unrestricted capabilities', 'runAsNonRoot != true', 'seccompProfile'], 'the check can fail');
});
