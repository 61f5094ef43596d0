// The Kubernetes objects that make up the traffic-manager, built as plain objects so that
// `tp manager install` applies them through the API and `tp manager manifest` prints the very same
// objects for `kubectl apply -f -`. Nothing here talks to a cluster.
//
// Security model, in short: the manager listens on two ports. The tunnel port (Service port,
// reachable in-cluster and through an ingress for `--manager-url`) requires the client token
// kept in a Secret of the manager's namespace, so only users whom RBAC lets read that Secret get
// in. The port-forward port listens on the pod's loopback only: the Kubernetes API's
// port-forward reaches it, so RBAC on `pods/portforward` in the manager's namespace guards it.
import { randomBytes } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { TpError } from '../errors.js';
import { TP_VERSION } from '../version.js';
import { AGENT_TOKEN_SECRET, CLIENT_TOKEN_KEY, CLIENT_TOKEN_SECRET, DEFAULT_MANAGER_NAMESPACE, MANAGER_NAME, MANAGER_PORT_FORWARD_PORT, MANAGER_SELECTOR, MANAGER_TUNNEL_PORT } from '../api/names.js';
import { restrictedSecurityContext } from '../api/pod-security.js';

export const DEFAULT_IMAGE_REPOSITORY = 'tp/tp';
/** The environment variable that names the manager's image when `--image` is not given. */
export const IMAGE_ENV = 'TP_IMAGE';
/** `--image`'s help text, the same for `tp manager install` and `tp manager manifest`. */
export const IMAGE_FLAG_DESCRIPTION = `Container image of the manager and of the traffic-agents it injects (default: $${IMAGE_ENV}, else ${DEFAULT_IMAGE_REPOSITORY}:${TP_VERSION}; build it from the Containerfile).`;

// An image reference as the container runtimes parse it: [host[:port]/]path[:tag][@digest], the
// path in lower case. Checked here so a typo fails at install, not as ErrImagePull in a pod.
const IMAGE_REFERENCE = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::\w[\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$/;

/** The image to deploy: `requested` (from --image or $TP_IMAGE; empty means not given) or the default. */
export function chooseImage(requested: string | undefined): string {
  if (requested === undefined || requested === '') return defaultImage();
  if (requested.length > 255 || !IMAGE_REFERENCE.test(requested)) {
    throw new TpError('TP_ERR_INSTALL_BAD_IMAGE', `"${requested.slice(0, 100)}" is not a container image reference.`, {
      hints: [`Name it as [registry[:port]/]repository[:tag][@sha256:digest] with the repository in lower case, e.g. registry.example.com/tp:${TP_VERSION}.`, `Check --image and $${IMAGE_ENV}.`],
    });
  }
  return requested;
}
export const VERSION_ANNOTATION = 'tp.dev/version';

export interface ManagerManifestOptions {
  namespace?: string;
  image?: string;
  /** The client token to put in the Secret; a fresh random one when not given. */
  clientToken?: string;
  /** Seconds a client without a tunnel keeps its session (and its intercepts); the manager's default when not given. */
  sessionTtlSeconds?: number;
}

export function defaultImage(): string {
  return `${DEFAULT_IMAGE_REPOSITORY}:${TP_VERSION}`;
}

export function newClientToken(): string {
  return randomBytes(32).toString('base64url');
}

/** All objects, in the order they must be applied (namespace first, workload last). */
export function managerManifests(options: ManagerManifestOptions = {}): KubernetesObject[] {
  const namespace = options.namespace ?? DEFAULT_MANAGER_NAMESPACE;
  const image = options.image ?? defaultImage();
  const labels = { ...MANAGER_SELECTOR, 'app.kubernetes.io/part-of': 'tp', 'app.kubernetes.io/version': TP_VERSION };
  const clusterScopedName = `tp-${MANAGER_NAME}-${namespace}`;
  const metadata = (name: string, withNamespace = true) => ({
    name,
    ...(withNamespace ? { namespace } : {}),
    labels,
    annotations: { [VERSION_ANNOTATION]: TP_VERSION },
  });

  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: metadata(namespace, false) },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(MANAGER_NAME) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: metadata(clusterScopedName, false),
      // Read-only view of what clients may reach: services and their endpoints (routing, DNS),
      // pods (pod names and IPs), namespaces (so `svc.ns` names are recognised).
      rules: [
        { apiGroups: [''], resources: ['services', 'endpoints', 'pods', 'namespaces'], verbs: ['get', 'list', 'watch'] },
        // Intercepts: the pod template of an intercepted workload gets the traffic-agent (and
        // loses it on uninstall), so the manager updates these workload kinds.
        { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'replicasets'], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
        // A Service whose targetPort is a number is pointed at the agent's port, and back.
        { apiGroups: [''], resources: ['services'], verbs: ['update', 'patch'] },
        // Bare ReplicaSets do not roll on a template change: their old pods are deleted.
        { apiGroups: [''], resources: ['pods'], verbs: ['delete'] },
        // The agents' token Secret in each namespace with agents; only that one name may be read,
        // changed or deleted (create cannot be limited by name in RBAC).
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
        { apiGroups: [''], resources: ['secrets'], resourceNames: [AGENT_TOKEN_SECRET], verbs: ['get', 'update', 'delete'] },
      ],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: metadata(clusterScopedName, false),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterScopedName },
      subjects: [{ kind: 'ServiceAccount', name: MANAGER_NAME, namespace }],
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: metadata(CLIENT_TOKEN_SECRET),
      type: 'Opaque',
      data: { [CLIENT_TOKEN_KEY]: Buffer.from(options.clientToken ?? newClientToken()).toString('base64') },
    } as KubernetesObject,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(MANAGER_NAME),
      spec: {
        replicas: 1,
        selector: { matchLabels: MANAGER_SELECTOR },
        template: {
          metadata: { labels, annotations: { [VERSION_ANNOTATION]: TP_VERSION } },
          spec: {
            serviceAccountName: MANAGER_NAME,
            // Passes Pod Security "restricted", so the manager installs into namespaces that enforce it.
            securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'manager',
                image,
                args: ['manager', 'serve'],
                ports: [{ name: 'tunnel', containerPort: MANAGER_TUNNEL_PORT, protocol: 'TCP' }],
                env: [
                  { name: 'TP_MANAGER_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'TP_MANAGER_PORT', value: String(MANAGER_TUNNEL_PORT) },
                  { name: 'TP_MANAGER_PORT_FORWARD_PORT', value: String(MANAGER_PORT_FORWARD_PORT) },
                  { name: 'TP_MANAGER_CLIENT_TOKEN', valueFrom: { secretKeyRef: { name: CLIENT_TOKEN_SECRET, key: CLIENT_TOKEN_KEY } } },
                  // The traffic-agents the manager injects run this same image.
                  { name: 'TP_MANAGER_IMAGE', value: image },
                  ...(options.sessionTtlSeconds ? [{ name: 'TP_MANAGER_SESSION_TTL', value: String(options.sessionTtlSeconds) }] : []),
                ],
                readinessProbe: { httpGet: { path: '/readyz', port: 'tunnel' }, periodSeconds: 2 },
                livenessProbe: { httpGet: { path: '/healthz', port: 'tunnel' }, periodSeconds: 10, failureThreshold: 3 },
                securityContext: restrictedSecurityContext(),
              },
            ],
          },
        },
      },
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(MANAGER_NAME),
      spec: {
        selector: MANAGER_SELECTOR,
        ports: [{ name: 'tunnel', port: MANAGER_TUNNEL_PORT, targetPort: 'tunnel', protocol: 'TCP' }],
      },
    } as KubernetesObject,
  ];
}
