// The in-memory object store: one map per resource collection, a single cluster-wide
// resourceVersion counter (like etcd's revision), and a bounded ring of past events so watches can
// resume from a resourceVersion; older ones get 410 Gone. Objects go in and out as deep copies.
// Leaves out: persistence, field managers, admission. Used by the REST handlers, GC and watch.
import { gone } from './status-errors.js';

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

export interface OwnerReference { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }

export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  key: string;             // collection, see registry/kinds.ts storeKey()
  resourceVersion: number;
  object: K8sObject;
  /** The object before a MODIFIED/DELETED, for watches that filter by selector. */
  previous?: K8sObject;
}

export type StoreListener = (event: StoreEvent) => void;

export interface StoreOptions {
  /** Events kept for watch resume; older resourceVersions get 410 Gone. Default 2000. */
  historySize?: number;
}

const DEFAULT_HISTORY_SIZE = 2000;

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class Store {
  private readonly collections = new Map<string, Map<string, K8sObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly historySize: number;
  private readonly listeners = new Set<{ key: string; listener: StoreListener }>();
  private revision = 0;
  /** Highest resourceVersion whose event fell out of the ring; watching from below it is 410. */
  private compactedRevision = 0;

  constructor(options: StoreOptions = {}) {
    this.historySize = Math.max(1, options.historySize ?? DEFAULT_HISTORY_SIZE);
  }

  get currentRevision(): number {
    return this.revision;
  }

  get oldestResumableRevision(): number {
    return this.compactedRevision;
  }

  get(key: string, namespace: string | undefined, name: string): K8sObject | undefined {
    const found = this.collections.get(key)?.get(objectKey(namespace, name));
    return found === undefined ? undefined : structuredClone(found);
  }

  has(key: string, namespace: string | undefined, name: string): boolean {
    return this.collections.get(key)?.has(objectKey(namespace, name)) ?? false;
  }

  /** Objects of a collection (of one namespace when given), sorted by namespace then name. */
  list(key: string, namespace?: string): K8sObject[] {
    const items: K8sObject[] = [];
    for (const obj of this.collections.get(key)?.values() ?? []) {
      if (namespace === undefined || obj.metadata.namespace === namespace) items.push(structuredClone(obj));
    }
    return items.sort((a, b) =>
      (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  }

  /** Every collection key that holds objects (GC and namespace deletion walk these). */
  keys(): string[] {
    return [...this.collections.keys()];
  }

  create(key: string, object: K8sObject): K8sObject {
    const stored = structuredClone(object);
    const name = stored.metadata.name ?? '';
    const collection = this.collectionFor(key);
    collection.set(objectKey(stored.metadata.namespace, name), stored);
    this.stamp(stored);
    this.emit({ type: 'ADDED', key, resourceVersion: this.revision, object: stored });
    return structuredClone(stored);
  }

  update(key: string, object: K8sObject): K8sObject {
    const stored = structuredClone(object);
    const collection = this.collectionFor(key);
    const id = objectKey(stored.metadata.namespace, stored.metadata.name ?? '');
    const previous = collection.get(id);
    collection.set(id, stored);
    this.stamp(stored);
    this.emit({ type: 'MODIFIED', key, resourceVersion: this.revision, object: stored, previous });
    return structuredClone(stored);
  }

  delete(key: string, namespace: string | undefined, name: string): K8sObject | undefined {
    const collection = this.collections.get(key);
    const id = objectKey(namespace, name);
    const previous = collection?.get(id);
    if (collection === undefined || previous === undefined) return undefined;
    collection.delete(id);
    const deleted = structuredClone(previous);
    this.stamp(deleted);
    this.emit({ type: 'DELETED', key, resourceVersion: this.revision, object: deleted, previous });
    return structuredClone(deleted);
  }

  /**
   * Starts a watch on a collection. With `fromRevision`, first replays retained events newer than
   * it; throws 410 Gone when events after it were already dropped from the ring.
   */
  watch(key: string, fromRevision: number | undefined, listener: StoreListener): () => void {
    if (fromRevision !== undefined) {
      if (fromRevision < this.compactedRevision) {
        throw gone(`too old resource version: ${fromRevision} (${this.compactedRevision + 1})`);
      }
      for (const event of this.history) {
        if (event.key === key && event.resourceVersion > fromRevision) listener(event);
      }
    }
    const entry = { key, listener };
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  private collectionFor(key: string): Map<string, K8sObject> {
    let collection = this.collections.get(key);
    if (collection === undefined) {
      collection = new Map();
      this.collections.set(key, collection);
    }
    return collection;
  }

  private stamp(object: K8sObject): void {
    this.revision += 1;
    object.metadata.resourceVersion = String(this.revision);
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    while (this.history.length > this.historySize) {
      const dropped = this.history.shift();
      if (dropped !== undefined) this.compactedRevision = dropped.resourceVersion;
    }
    for (const { key, listener } of [...this.listeners]) {
      if (key === event.key) listener(event);
    }
  }
}
