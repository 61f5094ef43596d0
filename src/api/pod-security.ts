// How tp's containers run in the cluster: the manager's Deployment (src/install/manifests.ts) and
// the injected traffic-agent (src/inject/agent-patch.ts) use the same settings, so both pass the
// Pod Security "restricted" profile (docs/security.md).

/** The uid and gid tp's containers run as: not root, the conventional "nonroot" id of distroless images. */
export const NON_ROOT_ID = 65532;

/**
 * A container securityContext that passes the Pod Security "restricted" profile: not root, no
 * privilege escalation, no capabilities (tp only binds ports >= 1024), the runtime's default
 * seccomp profile. The uid is explicit so any image of tp runs, whatever its USER line says.
 */
export function restrictedSecurityContext(): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: NON_ROOT_ID,
    runAsGroup: NON_ROOT_ID,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
