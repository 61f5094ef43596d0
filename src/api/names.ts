// The names and ports that tp's programs agree on inside the cluster: what `tp manager install`
// creates, what the manager and its agents run under, and what the laptop daemon looks up to reach
// the manager. Only names and numbers; the objects themselves are built by src/install/manifests.ts
// (the laptop side of install) and src/inject/agent-patch.ts (the agent sidecar).
// Compatibility: these are part of an installed cluster. Changing one strands managers installed
// by an earlier release, so a change needs API_VERSION (control-api.ts) bumped and a note in the
// release; adding a name needs nothing.

export const MANAGER_NAME = 'traffic-manager';
export const DEFAULT_MANAGER_NAMESPACE = 'tp';
/** Port of the token-guarded tunnel endpoint; the Service exposes it. */
export const MANAGER_TUNNEL_PORT = 8081;
/** Port of the loopback-only endpoint that the API's port-forward reaches. */
export const MANAGER_PORT_FORWARD_PORT = 8082;
export const CLIENT_TOKEN_SECRET = 'traffic-manager-client-token';
export const CLIENT_TOKEN_KEY = 'token';
export const MANAGER_SELECTOR = { 'app.kubernetes.io/name': MANAGER_NAME };
/** The Secret, in each namespace with injected agents, holding that namespace's agent token (src/inject/agent-token.ts). */
export const AGENT_TOKEN_SECRET = 'tp-agent-token';
export const AGENT_TOKEN_KEY = 'token';
