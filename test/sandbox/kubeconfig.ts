// The admin kubeconfig the sandbox publishes (context `sandbox`, cluster `sandbox` with the CA
// inline, user `sandbox-admin` with its bearer token) and the same access as an in-process
// KubeConfig for the controllers and the kubelet. Leaves out client certificates. Used by
// sandbox.ts and the controller tests.
import { KubeConfig } from '@kubernetes/client-node';
import { CONTEXT_NAME } from './state.js';

export const ADMIN_USER = 'sandbox-admin';

export interface ApiAccess {
  server: string;
  caCert: string;
  token: string;
}

export function kubeconfigYaml(access: ApiAccess): string {
  const caData = Buffer.from(access.caCert).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `  - name: ${CONTEXT_NAME}`,
    '    cluster:',
    `      server: ${access.server}`,
    `      certificate-authority-data: ${caData}`,
    'users:',
    `  - name: ${ADMIN_USER}`,
    '    user:',
    `      token: ${access.token}`,
    'contexts:',
    `  - name: ${CONTEXT_NAME}`,
    '    context:',
    `      cluster: ${CONTEXT_NAME}`,
    `      user: ${ADMIN_USER}`,
    '      namespace: default',
    `current-context: ${CONTEXT_NAME}`,
    '',
  ].join('\n');
}

export function adminKubeConfig(access: ApiAccess): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: CONTEXT_NAME, server: access.server, caData: Buffer.from(access.caCert).toString('base64'), skipTLSVerify: false }],
    users: [{ name: ADMIN_USER, token: access.token }],
    contexts: [{ name: CONTEXT_NAME, cluster: CONTEXT_NAME, user: ADMIN_USER, namespace: 'default' }],
    currentContext: CONTEXT_NAME,
  });
  return kc;
}
