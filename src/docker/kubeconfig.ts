// The kubeconfig a Docker-mode container gets (read-only): the user's current context only, with
// the files it names (CA, client certificate and key) inlined, since the container cannot see the
// host's paths. The server stays as it is; where it is on the host's loopback, the container's
// entry forwards that address to the host's API relay (entry.ts, api-relay.ts), so TLS names still
// match. A user whose credentials come from an exec plugin gets `tp docker credentials` as its
// plugin instead, which asks the host's companion to run the real one (credentials.ts).
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import type { ExecPlugin } from './credentials.js';

/** Where `tp docker credentials` in the container finds the host's companion and the secret file. */
export const CREDENTIALS_URL_ENV = 'TP_CREDENTIALS_URL';
export const CREDENTIALS_SECRET_ENV = 'TP_CREDENTIALS_SECRET';

export interface ContainerKubeconfig {
  /** The file's text (JSON, which is YAML). */
  text: string;
  /** The server's port when it is on the host's loopback (127.0.0.0/8 or localhost). */
  loopbackPort?: number;
  context: string;
  /** The user's exec plugin, which the host runs for the container. */
  exec?: ExecPlugin;
}

export function containerKubeconfig(kc: KubeConfig): ContainerKubeconfig {
  const context = kc.getContextObject(kc.getCurrentContext())!;
  const cluster = kc.getCurrentCluster()!;
  const user = kc.getCurrentUser();
  const exec = user?.exec as ExecPlugin | undefined;
  const inContainer = exec && { apiVersion: exec.apiVersion ?? 'client.authentication.k8s.io/v1beta1', command: '/app/bin/tp', args: ['docker', 'credentials'], interactiveMode: 'Never' };
  const inline = (data: string | undefined, file: string | undefined): string | undefined => data ?? (file ? readFileSync(file).toString('base64') : undefined);
  const flat = new KubeConfig();
  flat.loadFromOptions({
    clusters: [{ ...cluster, caData: inline(cluster.caData, cluster.caFile), caFile: undefined }],
    users: user ? [{ ...user, exec: inContainer, certData: inline(user.certData, user.certFile), certFile: undefined, keyData: inline(user.keyData, user.keyFile), keyFile: undefined }] : [],
    contexts: [context],
    currentContext: context.name,
  });
  const server = new URL(cluster.server);
  const host = server.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || /^127\./.test(host);
  const port = Number(server.port || (server.protocol === 'http:' ? 80 : 443));
  return { text: flat.exportConfig() + '\n', context: context.name, ...(loopback && { loopbackPort: port }), ...(exec && { exec }) };
}
