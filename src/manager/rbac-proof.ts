// Proof that a client may change a workload itself, so the manager (which acts with its own
// ServiceAccount) is no ladder past RBAC. The manager hands out a nonce for a client session and
// a list of workloads; the client writes it, with its own kubeconfig credentials (token, client
// certificate or exec plugin alike), as an annotation onto each workload with a PATCH, which the
// API server allows only to whom RBAC gives `patch` on that workload (what `kubectl patch` needs);
// the manager then reads the workload, finds its nonce there, and only then changes it. A nonce
// is single-use, lives PROOF_TTL_MS, and counts only for the session and workloads it was issued
// for. The manager removes the annotation again once checked. Used by intercept-service.ts;
// the client's half is src/intercept/rbac-proof.ts.
import { randomBytes } from 'node:crypto';
import type { ProofWorkload } from '../api/control-api.js';
import { InterceptError } from '../inject/intercept-errors.js';
import type { Workload, WorkloadApi } from '../inject/workload-api.js';

/** Where the client writes the nonce. */
export const PROOF_ANNOTATION = 'tp.dev/rbac-proof';
export const PROOF_TTL_MS = 60_000;
const MAX_OPEN_PROOFS = 1024;

interface Issued {
  sessionId: string;
  workloads: Set<string>;
  expiresAt: number;
}

export class ProofBook {
  private readonly issued = new Map<string, Issued>();

  constructor(private readonly workloads: WorkloadApi, private readonly now: () => number = Date.now) {}

  issue(sessionId: string, workloads: readonly ProofWorkload[]): string {
    this.sweep();
    if (this.issued.size >= MAX_OPEN_PROOFS) throw new InterceptError('TP_ERR_INTERCEPT_FORBIDDEN', 'too many open permission checks; try again in a minute');
    const nonce = randomBytes(18).toString('base64url');
    this.issued.set(nonce, { sessionId, workloads: new Set(workloads.map(keyOf)), expiresAt: this.now() + PROOF_TTL_MS });
    return nonce;
  }

  /**
   * Checks that each workload carries the session's nonce, freshly read from the API server; the
   * nonce is spent either way. Removes the annotation again. Throws naming the first workload
   * the client has not proven it may patch.
   */
  async check(sessionId: string, nonce: unknown, targets: readonly Workload[]): Promise<void> {
    this.sweep();
    const issued = typeof nonce === 'string' ? this.issued.get(nonce) : undefined;
    if (typeof nonce === 'string') this.issued.delete(nonce);
    let refusal: InterceptError | null = null;
    const marked: Workload[] = [];
    for (const target of targets) {
      const what = `${target.kind.toLowerCase()}/${target.name} in namespace "${target.namespace}"`;
      const object = await this.workloads.read(target.kind, target.name, target.namespace);
      const carries = typeof nonce === 'string' && object?.metadata?.annotations?.[PROOF_ANNOTATION] === nonce;
      if (carries) marked.push(target);
      if (refusal) continue;
      if (!issued || issued.sessionId !== sessionId || !issued.workloads.has(keyOf(target))) {
        refusal = new InterceptError('TP_ERR_INTERCEPT_FORBIDDEN', `This client did not prove it may patch ${what} (no valid, unexpired permission check for it${typeof nonce === 'string' ? '' : '; is your tp older than the traffic-manager?'}).`);
      } else if (!carries) {
        refusal = new InterceptError('TP_ERR_INTERCEPT_FORBIDDEN', `This client did not prove it may patch ${what}: the permission check's mark is not on it.`);
      }
    }
    // The mark goes either way: a check leaves no trace on the workloads.
    for (const target of marked) {
      await this.workloads.update(target, (object) => {
        const annotations = object.metadata?.annotations;
        if (!annotations || annotations[PROOF_ANNOTATION] !== nonce) return null;
        delete annotations[PROOF_ANNOTATION];
        return object;
      });
    }
    if (refusal) throw refusal;
  }

  private sweep(): void {
    const now = this.now();
    for (const [nonce, issued] of this.issued) if (issued.expiresAt <= now) this.issued.delete(nonce);
  }
}

function keyOf(w: ProofWorkload): string {
  return `${w.namespace}/${w.kind}/${w.name}`;
}
