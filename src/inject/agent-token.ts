// The traffic-agent's credential: `agent.<namespace>.<base64url HMAC-SHA256(clientToken, "agent:" + namespace)>`.
// The manager derives it from the client token, puts it in the Secret `tp-agent-token` of each
// namespace where it injects agents, and accepts it on the tunnel port as an agent bound to that
// namespace. An agent token never grants the client role: a pod that reads its namespace's
// Secret can speak for agents there and nothing more. Used by server.ts, injector.ts,
// agent-patch.ts and manifests.ts.
import { createHmac } from 'node:crypto';
import { tokensEqual, type Authenticate } from '../tunnel/index.js';

const PREFIX = 'agent.';
/** Kubernetes namespace names: RFC 1123 labels. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export type TunnelIdentity = { role: 'client'; via: 'token' | 'port-forward' } | { role: 'agent'; via: 'token'; namespace: string };

export function agentToken(clientToken: string, namespace: string): string {
  const mac = createHmac('sha256', clientToken).update(`agent:${namespace}`, 'utf8').digest('base64url');
  return `${PREFIX}${namespace}.${mac}`;
}

/** Accepts the client token (role client) or a valid agent token (role agent of its namespace). */
export function tunnelAuthenticator(clientToken: string): Authenticate<TunnelIdentity> {
  return (token) => {
    if (token.startsWith(PREFIX)) {
      const namespace = token.slice(PREFIX.length, token.lastIndexOf('.'));
      if (!NAMESPACE.test(namespace)) return null;
      return tokensEqual(token, agentToken(clientToken, namespace)) ? { role: 'agent', via: 'token', namespace } : null;
    }
    return tokensEqual(token, clientToken) ? { role: 'client', via: 'token' } : null;
  };
}
