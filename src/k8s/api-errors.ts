// Turns failures of Kubernetes API calls into TpErrors a user can act on: an API server that
// cannot be reached, credentials it refuses (401), a request that carried none (403 for
// system:anonymous), an action RBAC forbids a named user (403, with the permission to ask for). Callers wrap their API calls with
// `kubeCall(what, fn)` so every command reports these the same way.
import { ApiException } from '@kubernetes/client-node';
import { TpError } from '../errors.js';

/** Runs an API call; maps its failure to a TpError that says what was being done. */
export async function kubeCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw kubeError(what, err);
  }
}

export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown; statusCode?: unknown })?.statusCode ?? (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusCode(err) === 404;
}

export function kubeError(what: string, err: unknown): TpError {
  if (err instanceof TpError) return err;
  const code = statusCode(err);
  const message = apiMessage(err);
  if (code === 401) {
    return new TpError('TP_ERR_KUBE_UNAUTHORIZED', `The Kubernetes API refused our credentials while ${what}: the token or certificate in your kubeconfig is not valid for this cluster (expired, revoked or meant for another cluster).`, {
      cause: err,
      hints: [
        'Log in to the cluster again to get fresh credentials (for cloud clusters, the provider\'s login or get-credentials command).',
        'Check with the same kubeconfig: kubectl get ns',
      ],
    });
  }
  if (code === 403) return forbiddenError(what, message, err);
  if (code !== undefined) {
    return new TpError('TP_ERR_KUBE_API', `The Kubernetes API answered ${code} while ${what}: ${message}`, { cause: err });
  }
  return new TpError('TP_ERR_KUBE_UNREACHABLE', `Could not reach the Kubernetes API server while ${what}: ${message}`, {
    cause: err,
    hints: ['Check the cluster is up and your kubeconfig points at it (try `kubectl get ns`).'],
  });
}

/** The parts of the API server's RBAC message: `… is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "ns"`. */
const RBAC_DENIAL = /User "([^"]*)" cannot (\S+) (?:resource "([^"]*)" in API group "([^"]*)"(?: in the namespace "([^"]*)"| at the cluster scope)|path "([^"]*)")/;
const ANONYMOUS_USER = 'system:anonymous';

/**
 * A 403. For system:anonymous it means no credentials reached the server (a default API server
 * treats such a request as anonymous and RBAC refuses it); for a named user it is RBAC saying no,
 * and the hints name the exact permission to ask for and the `kubectl auth can-i` that checks it.
 */
function forbiddenError(what: string, message: string, err: unknown): TpError {
  const denial = RBAC_DENIAL.exec(message);
  if (denial?.[1] === ANONYMOUS_USER) {
    return new TpError('TP_ERR_KUBE_NO_CREDENTIALS', `The Kubernetes API saw no credentials while ${what}: your kubeconfig's user sends no token, client certificate or exec plugin, so the server treated the request as "system:anonymous" and refused it.`, {
      cause: err,
      hints: [
        'See which user your context uses and what it holds: kubectl config view --minify',
        'Log in to the cluster (or ask its admin for a kubeconfig with credentials), then check with: kubectl get ns',
      ],
    });
  }
  const hints: string[] = [];
  if (denial) {
    const [, user, verb, resource, group, namespace, path] = denial;
    if (path !== undefined) {
      hints.push(`Ask a cluster admin to allow User "${user}" to ${verb} the path ${path} (a ClusterRole with nonResourceURLs).`);
    } else {
      const [main, subresource] = resource.split('/');
      const qualified = group ? `${main}.${group}` : main;
      const where = namespace ? `in namespace "${namespace}" (a Role and RoleBinding there)` : 'cluster-wide (a ClusterRole and ClusterRoleBinding)';
      hints.push(`Ask a cluster admin to allow User "${user}" to ${verb} ${group ? `${resource}.${group}` : resource} ${where}.`);
      hints.push(`Check with: kubectl auth can-i ${verb} ${qualified}${subresource ? ` --subresource=${subresource}` : ''}${namespace ? ` -n ${namespace}` : ''}`);
    }
  } else {
    hints.push('Ask a cluster admin for the permission named above.');
  }
  return new TpError('TP_ERR_KUBE_FORBIDDEN', `Kubernetes RBAC does not allow ${what}: ${message}`, { cause: err, hints });
}

function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    try {
      const body = typeof err.body === 'string' ? (JSON.parse(err.body) as { message?: string }) : (err.body as { message?: string });
      if (body?.message) return body.message;
    } catch {
      // not a Status body: fall through to the exception's own message
    }
  }
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}
