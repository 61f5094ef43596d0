// The controllers' event recorder, like client-go's record.EventRecorder: writes core/v1 Events
// about an object (involvedObject, type, reason, message, source component, first/last timestamp)
// named `<object>.<hex time>`, and folds a repeat of the same event on the same object into the
// stored one by raising its count and lastTimestamp. Leaves out rate limiting and events.k8s.io
// series. Recording never fails the caller: an event that cannot be written is only logged.
// Used by the ReplicaSet and StatefulSet controllers (FailedCreate).
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import createDebug from 'debug';

const log = createDebug('tp:sandbox:events');
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** Distinct events remembered for folding repeats; the oldest are forgotten first. */
const MAX_REMEMBERED = 1000;

export interface EventSubject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly seen = new Map<string, { name: string; count: number }>();

  constructor(kc: KubeConfig, private readonly component: string) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async warning(subject: EventSubject, reason: string, message: string): Promise<void> {
    await this.record(subject, 'Warning', reason, message);
  }

  private async record(subject: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = subject.metadata?.namespace ?? 'default';
    const now = new Date();
    const key = `${subject.metadata?.uid}\u0000${type}\u0000${reason}\u0000${message}`;
    const previous = this.seen.get(key);
    try {
      if (previous) {
        previous.count += 1;
        await this.core.patchNamespacedEvent({ namespace, name: previous.name, body: { count: previous.count, lastTimestamp: now } }, MERGE_PATCH);
        return;
      }
      const name = `${subject.metadata?.name}.${(BigInt(now.getTime()) * 1_000_000n).toString(16)}`;
      const event: CoreV1Event = {
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: subject.apiVersion, kind: subject.kind, namespace,
          name: subject.metadata?.name, uid: subject.metadata?.uid, resourceVersion: subject.metadata?.resourceVersion,
        },
        type, reason, message,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: '',
        firstTimestamp: now, lastTimestamp: now, count: 1,
      };
      await this.core.createNamespacedEvent({ namespace, body: event });
      this.seen.set(key, { name, count: 1 });
      if (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value as string);
    } catch (error) {
      if (previous) this.seen.delete(key);
      log('!! could not record %s %s on %s/%s: %s', type, reason, namespace, subject.metadata?.name, (error as Error).message);
    }
  }
}

/** The API server's message of a failed request (its Status `message`), as client-go's err.Error() gives it. */
export function apiErrorMessage(error: unknown): string {
  const body = (error as { body?: unknown } | null)?.body;
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown } | undefined;
    if (typeof status?.message === 'string') return status.message;
  } catch {
    // not a Status body
  }
  return error instanceof Error ? error.message : String(error);
}
