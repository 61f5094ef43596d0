// The write and read semantics of every stored kind, on top of the store: create (names,
// generateName, uid, timestamps, generation, defaults, validation, AlreadyExists), update with
// optimistic concurrency (409 on a stale resourceVersion), main-resource vs status writes, no-op
// updates that write nothing, finalizers, and delete with preconditions and propagation (GC in
// gc.ts), graceful deletion of pods (a DELETE of a running pod only sets deletionTimestamp and
// deletionGracePeriodSeconds; the kubelet removes it with a grace of 0 once its processes have
// exited). Kind-specific side effects (namespaces, services, token secrets) live in lifecycle.ts.
// Leaves out: admission plugins, managedFields. Used by router.ts and the subresource handlers.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { ApiStatusError, alreadyExists, badRequest, conflict, notFound } from '../status-errors.js';
import { apiVersionOf, findKind, storeKey, type KindInfo } from './kinds.js';
import { applyDefaults, foldStringData, initialStatus } from './defaults.js';
import { validateObject } from './validation.js';
import type { K8sObject, Store } from '../store.js';

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

export interface WriteOptions { dryRun?: boolean }
export interface DeleteOptions extends WriteOptions {
  propagationPolicy?: PropagationPolicy;
  preconditions?: { uid?: string; resourceVersion?: string };
  /** Pods only: how long the kubelet has to stop it (default: the pod's terminationGracePeriodSeconds). */
  gracePeriodSeconds?: number;
}

/** Side effects per kind, implemented by lifecycle.ts and gc.ts. */
export interface LifecycleHooks {
  beforeCreate?(kind: KindInfo, object: K8sObject, options: WriteOptions): void;
  afterCreate?(kind: KindInfo, object: K8sObject): void;
  beforeUpdate?(kind: KindInfo, next: K8sObject, previous: K8sObject): void;
  afterDelete?(kind: KindInfo, object: K8sObject, policy: PropagationPolicy): void;
  beforeDelete?(kind: KindInfo, object: K8sObject, policy: PropagationPolicy): void;
}

/** Pod spec.terminationGracePeriodSeconds when not given (defaults.ts sets the same). */
const DEFAULT_POD_GRACE_S = 30;
const GENERATE_NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(): string {
  let suffix = '';
  for (let i = 0; i < 5; i += 1) suffix += GENERATE_NAME_ALPHABET[Math.floor(Math.random() * GENERATE_NAME_ALPHABET.length)];
  return suffix;
}

export function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Everything but metadata and status: a change here bumps metadata.generation. */
function specPart(object: K8sObject): Record<string, unknown> {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = object;
  return rest;
}

export class ObjectRegistry {
  hooks: LifecycleHooks = {};

  constructor(readonly store: Store, private readonly now: () => number = Date.now) {}

  get(kind: KindInfo, namespace: string | undefined, name: string): K8sObject {
    const found = this.store.get(storeKey(kind), kind.namespaced ? namespace : undefined, name);
    if (!found) throw notFound(kind.group, kind.resource, name);
    return found;
  }

  find(kind: KindInfo, namespace: string | undefined, name: string): K8sObject | undefined {
    return this.store.get(storeKey(kind), kind.namespaced ? namespace : undefined, name);
  }

  list(kind: KindInfo, namespace: string | undefined): K8sObject[] {
    return this.store.list(storeKey(kind), kind.namespaced ? namespace : undefined);
  }

  /** Checks apiVersion/kind/namespace/name of a request body against the URL. */
  private checkIdentity(kind: KindInfo, namespace: string | undefined, body: Record<string, unknown>, urlName?: string): K8sObject {
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(kind)) {
      throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersionOf(kind)})`);
    }
    if (body.kind !== undefined && body.kind !== kind.kind) {
      throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${kind.kind})`);
    }
    const metadata = body.metadata;
    if (metadata !== undefined && (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))) throw badRequest('metadata must be an object');
    const object = { ...structuredClone(body), apiVersion: apiVersionOf(kind), kind: kind.kind, metadata: { ...((metadata as Record<string, unknown>) ?? {}) } } as K8sObject;
    if (kind.namespaced) {
      if (object.metadata.namespace && object.metadata.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      if (!namespace) throw badRequest(`${kind.resource} must be created in a namespace`);
      object.metadata.namespace = namespace;
    } else {
      delete object.metadata.namespace;
    }
    if (urlName !== undefined && object.metadata.name !== undefined && object.metadata.name !== urlName) {
      throw badRequest(`the name of the object (${object.metadata.name}) does not match the name on the URL (${urlName})`);
    }
    return object;
  }

  private requireNamespace(kind: KindInfo, namespace: string | undefined, name: string): void {
    if (!kind.namespaced || namespace === undefined) return;
    const ns = this.store.get('/namespaces', undefined, namespace);
    if (!ns) throw notFound('', 'namespaces', namespace);
    if (ns.metadata.deletionTimestamp) {
      throw new ApiStatusError(403, 'Forbidden', `${kind.resource} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  create(kind: KindInfo, namespace: string | undefined, body: Record<string, unknown>, options: WriteOptions = {}): K8sObject {
    const object = this.checkIdentity(kind, namespace, body);
    const meta = object.metadata;
    if (meta.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`;
    for (const field of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'managedFields', 'selfLink']) delete meta[field];
    this.requireNamespace(kind, namespace, meta.name ?? '');
    applyDefaults(kind.kind, object);
    if (kind.hasStatus) {
      const status = initialStatus(kind.kind, object.status);
      if (status === undefined) delete object.status;
      else object.status = status;
    }
    validateObject(kind.group, kind.kind, object);
    if (this.store.has(storeKey(kind), meta.namespace, meta.name ?? '')) throw alreadyExists(kind.group, kind.resource, meta.name ?? '');
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp(this.now());
    if (kind.generation) meta.generation = 1;
    this.hooks.beforeCreate?.(kind, object, options);
    if (options.dryRun) return object;
    const created = this.store.create(storeKey(kind), object);
    this.hooks.afterCreate?.(kind, created);
    return created;
  }

  /**
   * PUT of the main resource (status kept from storage) or of the status subresource (everything
   * but status and metadata labels/annotations kept from storage).
   */
  update(kind: KindInfo, namespace: string | undefined, name: string, body: Record<string, unknown>,
    options: WriteOptions & { subresource?: 'status' } = {}): K8sObject {
    const previous = this.get(kind, namespace, name);
    const given = this.checkIdentity(kind, namespace, body, name);
    given.metadata.name = name;
    if (given.metadata.resourceVersion && given.metadata.resourceVersion !== previous.metadata.resourceVersion) {
      throw conflict(kind.group, kind.resource, name);
    }
    let next: K8sObject;
    if (options.subresource === 'status') {
      next = { ...previous, status: given.status };
    } else {
      next = { ...given };
      if (kind.hasStatus) next.status = previous.status;
      else if (given.status !== undefined) next.status = given.status;
      applyDefaults(kind.kind, next);
    }
    return this.commitUpdate(kind, previous, next, options);
  }

  /** Stores `next` in place of `previous` after the checks every write shares. */
  commitUpdate(kind: KindInfo, previous: K8sObject, next: K8sObject, options: WriteOptions = {}): K8sObject {
    if (kind.kind === 'Secret') foldStringData(next);
    const meta = next.metadata;
    for (const field of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'namespace', 'name']) {
      if (previous.metadata[field] === undefined) delete meta[field];
      else meta[field] = previous.metadata[field];
    }
    delete meta.managedFields;
    meta.resourceVersion = previous.metadata.resourceVersion;
    if (kind.generation) {
      const changed = !isDeepStrictEqual(specPart(previous), specPart(next));
      meta.generation = (previous.metadata.generation ?? 1) + (changed ? 1 : 0);
    } else {
      delete meta.generation;
    }
    validateObject(kind.group, kind.kind, next);
    this.hooks.beforeUpdate?.(kind, next, previous);
    if (meta.deletionTimestamp && (meta.finalizers ?? []).length === 0 && !meta.deletionGracePeriodSeconds) {
      if (options.dryRun) return next;
      this.store.delete(storeKey(kind), meta.namespace, meta.name ?? '');
      this.hooks.afterDelete?.(kind, next, 'Background');
      return next;
    }
    if (isDeepStrictEqual(previous, next) || options.dryRun) return next;
    return this.store.update(storeKey(kind), next);
  }

  delete(kind: KindInfo, namespace: string | undefined, name: string, options: DeleteOptions = {}): K8sObject {
    const existing = this.get(kind, namespace, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== existing.metadata.uid) {
      throw new ApiStatusError(409, 'Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${existing.metadata.uid}`, { name, kind: kind.resource });
    }
    if (pre?.resourceVersion && pre.resourceVersion !== existing.metadata.resourceVersion) {
      throw new ApiStatusError(409, 'Conflict', `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${existing.metadata.resourceVersion}`, { name, kind: kind.resource });
    }
    const policy = options.propagationPolicy ?? 'Background';
    if (options.dryRun) return existing;
    const grace = gracePeriodOf(kind, existing, options.gracePeriodSeconds);
    if (grace > 0) return this.markTerminating(kind, existing, grace);
    this.hooks.beforeDelete?.(kind, existing, policy);
    if ((existing.metadata.finalizers ?? []).length > 0) {
      if (existing.metadata.deletionTimestamp) return existing;
      const marked = structuredClone(existing);
      marked.metadata.deletionTimestamp = timestamp(this.now());
      marked.metadata.deletionGracePeriodSeconds = 0;
      return this.store.update(storeKey(kind), marked);
    }
    const deleted = this.store.delete(storeKey(kind), existing.metadata.namespace, name) ?? existing;
    this.hooks.afterDelete?.(kind, deleted, policy);
    return deleted;
  }

  /** Graceful deletion: the object stays, terminating, until a delete with grace 0; a later delete may only shorten the grace. */
  private markTerminating(kind: KindInfo, existing: K8sObject, grace: number): K8sObject {
    const meta = existing.metadata;
    if (meta.deletionTimestamp && (meta.deletionGracePeriodSeconds ?? 0) <= grace) return existing;
    const marked = structuredClone(existing);
    marked.metadata.deletionTimestamp = timestamp(this.now() + grace * 1000);
    marked.metadata.deletionGracePeriodSeconds = grace;
    return this.store.update(storeKey(kind), marked);
  }

  /** Every stored object of every kind (GC and namespace deletion scan these). */
  *allObjects(): Generator<{ kind: KindInfo; object: K8sObject }> {
    for (const key of this.store.keys()) {
      const [group, resource] = key.split('/');
      const kind = findKind(group, group === '' ? 'v1' : 'v1', resource);
      if (!kind) continue;
      for (const object of this.store.list(key)) yield { kind, object };
    }
  }
}

/**
 * The grace period a delete gets, as the pod strategy upstream decides it: only pods have one; a
 * pod no node runs (unscheduled, or finished) goes at once; otherwise the request's value, else the
 * pod's terminationGracePeriodSeconds (default 30).
 */
function gracePeriodOf(kind: KindInfo, object: K8sObject, requested: number | undefined): number {
  if (kind.group !== '' || kind.resource !== 'pods') return 0;
  const spec = (object.spec ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
  const phase = (object.status as { phase?: string } | undefined)?.phase;
  if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
  const grace = requested ?? spec.terminationGracePeriodSeconds ?? DEFAULT_POD_GRACE_S;
  return Math.max(0, Math.floor(grace));
}
