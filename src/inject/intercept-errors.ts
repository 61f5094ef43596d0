// The errors a user meets when creating an intercept, each saying what to do. They cross the
// tunnel as { code, message } only, so the message itself names the way out (the workloads,
// services or ports that do exist, who holds a conflicting intercept); the daemon adds hints by
// code (the hints live next to the codes in src/errors.ts; see src/intercept/remote-error.ts).
// Used by the manager's intercept code: workload-target.ts, workload-api.ts, intercept-spec.ts,
// intercept-registry.ts, intercept-service.ts, injector.ts, service-path.ts and rbac-proof.ts.
import { TpError, type TpErrorOptions } from '../errors.js';

export type InterceptErrorCode =
  | 'TP_ERR_INTERCEPT_NO_WORKLOAD'
  | 'TP_ERR_INTERCEPT_NO_SERVICE'
  | 'TP_ERR_INTERCEPT_SERVICE_AMBIGUOUS'
  | 'TP_ERR_INTERCEPT_NO_PORT'
  | 'TP_ERR_INTERCEPT_NO_CONTAINER'
  | 'TP_ERR_INTERCEPT_CONFLICT'
  | 'TP_ERR_INTERCEPT_BAD_SPEC'
  | 'TP_ERR_INTERCEPT_NOT_FOUND'
  | 'TP_ERR_INTERCEPT_ROLLOUT'
  | 'TP_ERR_INTERCEPT_PODS_REFUSED'
  | 'TP_ERR_INTERCEPT_NOT_READY'
  | 'TP_ERR_INTERCEPT_NO_AGENT'
  | 'TP_ERR_INTERCEPT_FORBIDDEN';

export class InterceptError extends TpError {
  constructor(code: InterceptErrorCode, message: string, options: TpErrorOptions = {}) {
    super(code, message, options);
    this.name = 'InterceptError';
  }
}

/** "a, b and c" (or "none"). */
export function listWords(items: readonly string[]): string {
  if (items.length === 0) return 'none';
  if (items.length === 1) return items[0];
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
