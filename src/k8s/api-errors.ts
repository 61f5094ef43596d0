// Turns failures of Kubernetes API calls into TpErrors a user can act on: an API server that
// cannot be reached, a token it refuses, an action RBAC forbids. Callers wrap their API calls with
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
    return new TpError('TP_ERR_KUBE_UNAUTHORIZED', `The Kubernetes API refused our credentials while ${what}.`, {
      cause: err,
      category: 'config',
      hints: ['Check that your kubeconfig credentials are current (try `kubectl get ns`).'],
    });
  }
  if (code === 403) {
    return new TpError('TP_ERR_KUBE_FORBIDDEN', `Kubernetes RBAC does not allow ${what}: ${message}`, {
      cause: err,
      category: 'config',
      hints: ['Ask a cluster admin for the permission named above.'],
    });
  }
  if (code !== undefined) {
    return new TpError('TP_ERR_KUBE_API', `The Kubernetes API answered ${code} while ${what}: ${message}`, { cause: err, category: 'config' });
  }
  return new TpError('TP_ERR_KUBE_UNREACHABLE', `Could not reach the Kubernetes API server while ${what}: ${message}`, {
    cause: err,
    category: 'config',
    hints: ['Check the cluster is up and your kubeconfig points at it (try `kubectl get ns`).'],
  });
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
