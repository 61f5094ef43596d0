import test from 'ava';
import { CLIENT_TOKEN_SECRET, MANAGER_PORT_FORWARD_PORT, MANAGER_TUNNEL_PORT, managerManifests } from '../../src/manager/manifests.js';

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[] }

test('the manifests come in apply order with the namespace first and the workload after its dependencies', (t) => {
  const kinds = managerManifests().map((o) => o.kind);
  t.deepEqual(kinds, ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Secret', 'Deployment', 'Service']);
});

test('the manager may only read services, endpoints, pods and namespaces', (t) => {
  const role = managerManifests().find((o) => o.kind === 'ClusterRole') as unknown as { rules: Rule[] };
  const verbs = new Set(role.rules.flatMap((r) => r.verbs));
  t.deepEqual([...verbs].sort(), ['get', 'list', 'watch']);
  t.deepEqual(role.rules.flatMap((r) => r.resources).sort(), ['endpoints', 'namespaces', 'pods', 'services']);
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
