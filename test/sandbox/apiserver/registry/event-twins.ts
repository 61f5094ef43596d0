// core/v1 Events and events.k8s.io/v1 Events are one resource upstream, stored once and served in
// two shapes. The sandbox keeps one collection per group, so every write of an Event in either
// group is mirrored into the other collection, converted field by field as upstream converts
// (involvedObject <-> regarding, message <-> note, source <-> deprecatedSource, count and
// first/last timestamps <-> deprecated*, reportingComponent <-> reportingController), with the
// same name and uid. Leaves out: one shared resourceVersion for both shapes.
// Used by server.ts, composed with the other lifecycle hooks.
import type { K8sObject, Store } from '../store.js';
import type { KindInfo } from './kinds.js';
import type { LifecycleHooks } from './objects.js';

const CORE_KEY = '/events';
const EVENTS_V1_KEY = 'events.k8s.io/events';

type Fields = Record<string, unknown>;

/** [core/v1 field, events.k8s.io/v1 field] pairs that only change name. */
const RENAMED: [string, string][] = [
  ['involvedObject', 'regarding'], ['message', 'note'], ['source', 'deprecatedSource'], ['count', 'deprecatedCount'],
  ['firstTimestamp', 'deprecatedFirstTimestamp'], ['lastTimestamp', 'deprecatedLastTimestamp'], ['reportingComponent', 'reportingController'],
];
const SHARED = ['metadata', 'type', 'reason', 'action', 'related', 'series', 'eventTime', 'reportingInstance'];

function convert(object: Fields, toV1: boolean): K8sObject {
  const out: Fields = toV1 ? { apiVersion: 'events.k8s.io/v1', kind: 'Event' } : { apiVersion: 'v1', kind: 'Event' };
  for (const field of SHARED) if (object[field] !== undefined) out[field] = structuredClone(object[field]);
  for (const [core, v1] of RENAMED) {
    const [from, to] = toV1 ? [core, v1] : [v1, core];
    if (object[from] !== undefined) out[to] = structuredClone(object[from]);
  }
  const meta = { ...(out.metadata as Fields) };
  delete meta.resourceVersion;
  out.metadata = meta;
  return out as K8sObject;
}

export function toEventsV1(core: Fields): K8sObject {
  return convert(core, true);
}

export function toCoreEvent(v1: Fields): K8sObject {
  return convert(v1, false);
}

function twinOf(kind: KindInfo): { key: string; convert: (o: Fields) => K8sObject } | undefined {
  if (kind.resource !== 'events') return undefined;
  if (kind.group === '') return { key: EVENTS_V1_KEY, convert: toEventsV1 };
  if (kind.group === 'events.k8s.io') return { key: CORE_KEY, convert: toCoreEvent };
  return undefined;
}

/** Keeps the twin of every Event in step: created, updated and deleted with it. */
export function eventTwinHooks(store: Store): LifecycleHooks {
  const write = (kind: KindInfo, object: K8sObject): void => {
    const twin = twinOf(kind);
    if (!twin) return;
    const next = twin.convert(object);
    const { namespace, name = '' } = object.metadata;
    const current = store.get(twin.key, namespace, name);
    if (!current) {
      store.create(twin.key, next);
      return;
    }
    const { resourceVersion: _rv, ...currentMeta } = current.metadata;
    if (JSON.stringify({ ...current, metadata: currentMeta }) === JSON.stringify(next)) return;
    store.update(twin.key, next);
  };
  return {
    afterCreate: write,
    beforeUpdate: (kind, next) => write(kind, next),
    afterDelete: (kind, object) => {
      const twin = twinOf(kind);
      if (twin) store.delete(twin.key, object.metadata.namespace, object.metadata.name ?? '');
    },
  };
}
