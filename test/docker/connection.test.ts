// Docker mode's pure parts: connection names, --use patterns, the container's kubeconfig, the engine's gateway.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { checkName, defaultName, hostPath } from '../../src/docker/connection.js';
import { containerKubeconfig } from '../../src/docker/kubeconfig.js';
import { globToRegExp } from '../../src/docker/select.js';
import { gatewayOf } from '../../src/docker/engine.js';

test('the default name is context and namespace, made a valid container name, shortened with a hash when long', (t) => {
  t.is(defaultName('kind-dev', 'team_A'), 'kind-dev-team_a');
  t.is(defaultName('arn:aws:eks:eu-west-1:123:cluster/prod', 'default').length <= 40, true);
  t.regex(defaultName('arn:aws:eks:eu-west-1:123456789012:cluster/production-eu', 'payments'), /^arn-aws-eks-eu-west-1-[a-z0-9-]*-[0-9a-f]{6}$/);
  t.not(defaultName('arn:aws:eks:eu-west-1:123456789012:cluster/production-eu', 'payments'), defaultName('arn:aws:eks:eu-west-1:123456789012:cluster/production-eu', 'orders'));
  t.is(defaultName('@@', '--'), 'cluster');
  for (const name of [defaultName('gke_proj_zone_c', 'x'), defaultName('Ü-ctx', 'ns')]) t.is(checkName(name), name);
});

test('a name that is no valid container name is refused with a clear code', (t) => {
  for (const bad of ['', '-x', 'has space', 'a/b', 'x'.repeat(61)]) t.is(t.throws(() => checkName(bad))?.message.includes('not a valid connection name'), true, bad);
  t.is(t.throws(() => checkName('a b'))!.name, 'TpError');
});

test('--use patterns: * and ? as in the shell, everything else literal', (t) => {
  t.true(globToRegExp('alpha').test('alpha'));
  t.false(globToRegExp('alpha').test('alpha2'));
  t.true(globToRegExp('al*').test('alpha'));
  t.true(globToRegExp('b?ta').test('beta'));
  t.false(globToRegExp('a.b').test('axb'));
});

test('a container path under /tp is the connection folder\'s on the host', (t) => {
  t.is(hostPath('/home/u/.local/state/tp/docker/a', '/tp/cache/tp/logs/daemon-default.log'), '/home/u/.local/state/tp/docker/a/cache/tp/logs/daemon-default.log');
  t.is(hostPath('/d', '/elsewhere/x'), '/elsewhere/x');
});

function kubeconfig(server: string, user: Record<string, unknown>, files: Record<string, string> = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: false, ...files }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u', namespace: 'team' }, { name: 'other', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

test('the container\'s kubeconfig: the current context only, files inlined, the loopback port noted', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-docker-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, name), `contents of ${name}`);
  const kc = kubeconfig('https://127.0.0.1:6443', { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }, { caFile: join(dir, 'ca.pem') });
  const result = containerKubeconfig(kc);
  t.is(result.loopbackPort, 6443);
  t.is(result.context, 'ctx');
  t.is(result.exec, undefined);
  const back = new KubeConfig();
  back.loadFromString(result.text);
  t.deepEqual(back.getContexts().map((c) => c.name), ['ctx']);
  t.is(back.getCurrentCluster()!.server, 'https://127.0.0.1:6443');
  t.is(Buffer.from(back.getCurrentCluster()!.caData!, 'base64').toString(), 'contents of ca.pem');
  t.is(back.getCurrentCluster()!.caFile, undefined);
  t.is(Buffer.from(back.getCurrentUser()!.keyData!, 'base64').toString(), 'contents of key.pem');
  t.is(back.getCurrentUser()!.certFile, undefined);
  t.is(containerKubeconfig(kubeconfig('https://localhost', { token: 't' })).loopbackPort, 443);
  t.is(containerKubeconfig(kubeconfig('https://api.example.com:6443', { token: 't' })).loopbackPort, undefined);
});

test('an exec plugin user gets tp docker credentials in the container, and the plugin is handed to the host', (t) => {
  const plugin = { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'aws', args: ['eks', 'get-token'], env: [{ name: 'AWS_PROFILE', value: 'dev' }] };
  const result = containerKubeconfig(kubeconfig('https://api.example.com', { exec: plugin }));
  t.deepEqual(result.exec, plugin);
  const back = new KubeConfig();
  back.loadFromString(result.text);
  const exec = back.getCurrentUser()!.exec as { command: string; args: string[] };
  t.is(exec.command, '/app/bin/tp');
  t.deepEqual(exec.args, ['docker', 'credentials']);
  t.false(result.text.includes('AWS_PROFILE'));
});

test('the default network\'s gateway from Docker\'s and podman\'s inspect output alike; none from anything else', (t) => {
  const docker = JSON.stringify([{ Name: 'bridge', IPAM: { Config: [{ Subnet: 'fd00::/64', Gateway: 'fd00::1' }, { Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }] } }]);
  const podman = JSON.stringify([{ name: 'podman', subnets: [{ subnet: '10.88.0.0/16', gateway: '10.88.0.1' }] }]);
  t.is(gatewayOf(docker), '172.17.0.1');
  t.is(gatewayOf(podman), '10.88.0.1');
  t.is(gatewayOf(JSON.stringify([{ Name: 'none', IPAM: { Config: null } }])), undefined);
  t.is(gatewayOf(''), undefined);
  t.is(gatewayOf('Error: network bridge not found'), undefined);
});
