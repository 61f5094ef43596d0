// Server-side printing: the meta.k8s.io/v1 Table kubectl asks for with
// `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`, with upstream-like columns for the
// common kinds and events (wide-only columns at priority 1) and Name/Age for the rest; `includeObject`
// chooses full objects, PartialObjectMetadata (the default) or none per row.
// Leaves out: CRD additionalPrinterColumns. Used by router.ts and watch.ts.
import type { K8sObject } from './store.js';
import { labelSelectorToString } from './selectors.js';

type Obj = Record<string, unknown>;
type Cell = string | number;

interface Column { name: string; type: string; format?: string; priority?: number; description?: string }

interface Printer { columns: Column[]; cells(o: Obj, age: string, now: number): Cell[] }

const NAME: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.' };
const AGE: Column = { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' };

/** Upstream's short human durations: 45s, 5m10s, 3h, 2d5h, 400d. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  return d < 365 * 2 ? `${d}d` : `${Math.floor(d / 365)}y`;
}

const get = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o);
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const orNone = (s: string): string => (s === '' ? '<none>' : s);

function podStatus(o: Obj): string {
  if (get(o, 'metadata', 'deletionTimestamp')) return 'Terminating';
  let reason = String(get(o, 'status', 'reason') ?? get(o, 'status', 'phase') ?? 'Unknown');
  for (const cs of list(get(o, 'status', 'containerStatuses'))) {
    const waiting = get(cs, 'state', 'waiting', 'reason');
    const terminated = get(cs, 'state', 'terminated', 'reason');
    if (typeof waiting === 'string' && waiting !== '') reason = waiting;
    else if (typeof terminated === 'string' && terminated !== '') reason = terminated;
  }
  return reason;
}

function containersOf(template: unknown): { names: string; images: string } {
  const containers = list(get(template, 'spec', 'containers'));
  return { names: containers.map((c) => String(c.name)).join(','), images: containers.map((c) => String(c.image)).join(',') };
}

function servicePorts(o: Obj): string {
  return orNone(list(get(o, 'spec', 'ports')).map((p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${String(p.protocol ?? 'TCP')}`).join(','));
}

function endpointsText(o: Obj): string {
  const parts: string[] = [];
  for (const subset of list(o.subsets)) {
    for (const address of list(subset.addresses)) {
      const ports = list(subset.ports);
      if (ports.length === 0) parts.push(String(address.ip));
      for (const port of ports) parts.push(`${String(address.ip)}:${String(port.port)}`);
    }
  }
  if (parts.length > 3) return `${parts.slice(0, 3).join(',')} + ${parts.length - 3} more...`;
  return orNone(parts.join(','));
}

const PRINTERS: Record<string, Printer> = {
  Pod: {
    columns: [NAME, { name: 'Ready', type: 'string' }, { name: 'Status', type: 'string' }, { name: 'Restarts', type: 'string' }, AGE,
      { name: 'IP', type: 'string', priority: 1 }, { name: 'Node', type: 'string', priority: 1 }, { name: 'Nominated Node', type: 'string', priority: 1 }, { name: 'Readiness Gates', type: 'string', priority: 1 }],
    cells(o, age) {
      const statuses = list(get(o, 'status', 'containerStatuses'));
      const total = list(get(o, 'spec', 'containers')).length;
      const ready = statuses.filter((s) => s.ready === true).length;
      const restarts = statuses.reduce((sum, s) => sum + num(s.restartCount), 0);
      return [String(get(o, 'metadata', 'name')), `${ready}/${total}`, podStatus(o), String(restarts), age,
        orNone(String(get(o, 'status', 'podIP') ?? '')), orNone(String(get(o, 'spec', 'nodeName') ?? '')), '<none>', '<none>'];
    },
  },
  Service: {
    columns: [NAME, { name: 'Type', type: 'string' }, { name: 'Cluster-IP', type: 'string' }, { name: 'External-IP', type: 'string' }, { name: 'Port(s)', type: 'string' }, AGE, { name: 'Selector', type: 'string', priority: 1 }],
    cells(o, age) {
      const selector = Object.entries((get(o, 'spec', 'selector') as Record<string, string> | undefined) ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
      const external = String(get(o, 'spec', 'externalName') ?? '') || list(get(o, 'status', 'loadBalancer', 'ingress')).map((i) => String(i.ip ?? i.hostname)).join(',');
      return [String(get(o, 'metadata', 'name')), String(get(o, 'spec', 'type') ?? 'ClusterIP'), String(get(o, 'spec', 'clusterIP') ?? '<none>'), orNone(external), servicePorts(o), age, orNone(selector)];
    },
  },
  Deployment: {
    columns: [NAME, { name: 'Ready', type: 'string' }, { name: 'Up-to-date', type: 'integer' }, { name: 'Available', type: 'integer' }, AGE,
      { name: 'Containers', type: 'string', priority: 1 }, { name: 'Images', type: 'string', priority: 1 }, { name: 'Selector', type: 'string', priority: 1 }],
    cells(o, age) {
      const c = containersOf(get(o, 'spec', 'template'));
      return [String(get(o, 'metadata', 'name')), `${num(get(o, 'status', 'readyReplicas'))}/${num(get(o, 'spec', 'replicas'))}`, num(get(o, 'status', 'updatedReplicas')), num(get(o, 'status', 'availableReplicas')), age,
        c.names, c.images, labelSelectorToString(get(o, 'spec', 'selector') as never)];
    },
  },
  ReplicaSet: {
    columns: [NAME, { name: 'Desired', type: 'integer' }, { name: 'Current', type: 'integer' }, { name: 'Ready', type: 'integer' }, AGE,
      { name: 'Containers', type: 'string', priority: 1 }, { name: 'Images', type: 'string', priority: 1 }, { name: 'Selector', type: 'string', priority: 1 }],
    cells(o, age) {
      const c = containersOf(get(o, 'spec', 'template'));
      return [String(get(o, 'metadata', 'name')), num(get(o, 'spec', 'replicas')), num(get(o, 'status', 'replicas')), num(get(o, 'status', 'readyReplicas')), age,
        c.names, c.images, labelSelectorToString(get(o, 'spec', 'selector') as never)];
    },
  },
  StatefulSet: {
    columns: [NAME, { name: 'Ready', type: 'string' }, AGE, { name: 'Containers', type: 'string', priority: 1 }, { name: 'Images', type: 'string', priority: 1 }],
    cells(o, age) {
      const c = containersOf(get(o, 'spec', 'template'));
      return [String(get(o, 'metadata', 'name')), `${num(get(o, 'status', 'readyReplicas'))}/${num(get(o, 'spec', 'replicas'))}`, age, c.names, c.images];
    },
  },
  Endpoints: {
    columns: [NAME, { name: 'Endpoints', type: 'string' }, AGE],
    cells: (o, age) => [String(get(o, 'metadata', 'name')), endpointsText(o), age],
  },
  Namespace: {
    columns: [NAME, { name: 'Status', type: 'string' }, AGE],
    cells: (o, age) => [String(get(o, 'metadata', 'name')), String(get(o, 'status', 'phase') ?? 'Active'), age],
  },
  ConfigMap: {
    columns: [NAME, { name: 'Data', type: 'integer' }, AGE],
    cells: (o, age) => [String(get(o, 'metadata', 'name')), Object.keys((o.data as Obj | undefined) ?? {}).length + Object.keys((o.binaryData as Obj | undefined) ?? {}).length, age],
  },
  Secret: {
    columns: [NAME, { name: 'Type', type: 'string' }, { name: 'Data', type: 'integer' }, AGE],
    cells: (o, age) => [String(get(o, 'metadata', 'name')), String(o.type ?? 'Opaque'), Object.keys((o.data as Obj | undefined) ?? {}).length, age],
  },
  ServiceAccount: {
    columns: [NAME, { name: 'Secrets', type: 'integer' }, AGE],
    cells: (o, age) => [String(get(o, 'metadata', 'name')), list(o.secrets).length, age],
  },
  Node: {
    columns: [NAME, { name: 'Status', type: 'string' }, { name: 'Roles', type: 'string' }, AGE, { name: 'Version', type: 'string' },
      { name: 'Internal-IP', type: 'string', priority: 1 }, { name: 'External-IP', type: 'string', priority: 1 }, { name: 'OS-Image', type: 'string', priority: 1 },
      { name: 'Kernel-Version', type: 'string', priority: 1 }, { name: 'Container-Runtime', type: 'string', priority: 1 }],
    cells(o, age) {
      const ready = list(get(o, 'status', 'conditions')).find((c) => c.type === 'Ready');
      const roles = Object.keys((get(o, 'metadata', 'labels') as Obj | undefined) ?? {}).filter((l) => l.startsWith('node-role.kubernetes.io/')).map((l) => l.slice('node-role.kubernetes.io/'.length));
      const address = (type: string): string => String(list(get(o, 'status', 'addresses')).find((a) => a.type === type)?.address ?? '<none>');
      const info = (key: string): string => String(get(o, 'status', 'nodeInfo', key) ?? '');
      return [String(get(o, 'metadata', 'name')), ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown', orNone(roles.join(',')), age, info('kubeletVersion'),
        address('InternalIP'), address('ExternalIP'), info('osImage'), info('kernelVersion'), info('containerRuntimeVersion')];
    },
  },
};

/** `5m` since a timestamp, as the event printer shows Last Seen and First Seen. */
function since(value: unknown, now: number): string {
  const at = Date.parse(String(value ?? ''));
  return Number.isNaN(at) ? '<unknown>' : humanDuration(now - at);
}

PRINTERS.Event = {
  columns: [{ name: 'Last Seen', type: 'string' }, { name: 'Type', type: 'string' }, { name: 'Reason', type: 'string' }, { name: 'Object', type: 'string' },
    { name: 'Subobject', type: 'string', priority: 1 }, { name: 'Source', type: 'string', priority: 1 }, { name: 'Message', type: 'string' },
    { name: 'First Seen', type: 'string', priority: 1 }, { name: 'Count', type: 'string', priority: 1 }, { ...NAME, priority: 1 }],
  cells(o, _age, now) {
    const involved = (o.involvedObject as Obj | undefined) ?? {};
    const source = (o.source as Obj | undefined) ?? {};
    const last = o.lastTimestamp ?? o.eventTime ?? get(o, 'metadata', 'creationTimestamp');
    return [since(last, now), String(o.type ?? ''), String(o.reason ?? ''), `${String(involved.kind ?? '').toLowerCase()}/${String(involved.name ?? '')}`,
      String(involved.fieldPath ?? ''), [source.component, source.host].filter(Boolean).join(', '), String(o.message ?? ''),
      since(o.firstTimestamp ?? last, now), String(o.count ?? 1), String(get(o, 'metadata', 'name'))];
  },
};

const GENERIC: Printer = { columns: [NAME, AGE], cells: (o, age) => [String(get(o, 'metadata', 'name')), age] };

export type IncludeObject = 'Object' | 'Metadata' | 'None';

export function wantsTable(accept: string | undefined): boolean {
  return /as=Table/.test(accept ?? '') && /g=meta\.k8s\.io/.test(accept ?? '');
}

export function partialObjectMetadata(object: K8sObject): Obj {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata };
}

export function toTable(kind: string, objects: K8sObject[], includeObject: IncludeObject, now: number, listMeta: Obj = {}): Obj {
  const printer = PRINTERS[kind] ?? GENERIC;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: printer.columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 })),
    rows: objects.map((object) => {
      const created = Date.parse(object.metadata.creationTimestamp ?? '');
      const age = Number.isNaN(created) ? '<unknown>' : humanDuration(now - created);
      const row: Obj = { cells: printer.cells(object as Obj, age, now) };
      if (includeObject === 'Object') row.object = object;
      else if (includeObject === 'Metadata') row.object = partialObjectMetadata(object);
      return row;
    }),
  };
}
