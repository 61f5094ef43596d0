// Per-kind defaulting on create and update, as upstream's defaulters do: pod and pod-template
// fields, Service ports, Deployment/ReplicaSet/StatefulSet/DaemonSet spec fields, Secret type,
// Namespace finalizers, and the status a new object starts with. Leaves out: cluster IP
// allocation (registry/services.ts) and validation (registry/validation.ts). Used by rest-write.ts.
import type { K8sObject } from '../store.js';

type Obj = Record<string, unknown>;

function obj(parent: Obj, key: string): Obj {
  const value = parent[key];
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Obj;
  const created: Obj = {};
  parent[key] = created;
  return created;
}

function setDefault(target: Obj, key: string, value: unknown): void {
  if (target[key] === undefined || target[key] === null) target[key] = value;
}

function defaultContainer(container: Obj): void {
  const image = typeof container.image === 'string' ? container.image : '';
  const tag = image.includes('@') ? '' : image.slice(image.lastIndexOf('/') + 1).split(':')[1] ?? 'latest';
  setDefault(container, 'imagePullPolicy', tag === 'latest' || tag === '' && !image.includes('@') ? 'Always' : 'IfNotPresent');
  setDefault(container, 'terminationMessagePath', '/dev/termination-log');
  setDefault(container, 'terminationMessagePolicy', 'File');
  setDefault(container, 'resources', {});
  for (const port of (container.ports as Obj[] | undefined) ?? []) setDefault(port, 'protocol', 'TCP');
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const p = container[probe] as Obj | undefined;
    if (p) {
      setDefault(p, 'timeoutSeconds', 1);
      setDefault(p, 'periodSeconds', 10);
      setDefault(p, 'successThreshold', 1);
      setDefault(p, 'failureThreshold', 3);
      const http = p.httpGet as Obj | undefined;
      if (http) {
        setDefault(http, 'path', '/');
        setDefault(http, 'scheme', 'HTTP');
      }
    }
  }
}

export function defaultPodSpec(spec: Obj): void {
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'schedulerName', 'default-scheduler');
  setDefault(spec, 'enableServiceLinks', true);
  if (spec.serviceAccount !== undefined && spec.serviceAccountName === undefined) spec.serviceAccountName = spec.serviceAccount;
  for (const key of ['containers', 'initContainers', 'ephemeralContainers']) {
    for (const c of (spec[key] as Obj[] | undefined) ?? []) defaultContainer(c);
  }
  for (const volume of (spec.volumes as Obj[] | undefined) ?? []) {
    for (const source of ['configMap', 'secret']) {
      const v = volume[source] as Obj | undefined;
      if (v) setDefault(v, 'defaultMode', 420);
    }
    const projected = volume.projected as Obj | undefined;
    if (projected) setDefault(projected, 'defaultMode', 420);
  }
}

function defaultPodTemplate(template: Obj): void {
  obj(template, 'metadata');
  defaultPodSpec(obj(template, 'spec'));
}

function defaultServiceSpec(spec: Obj): void {
  setDefault(spec, 'type', 'ClusterIP');
  setDefault(spec, 'sessionAffinity', 'None');
  if (spec.type !== 'ExternalName') {
    setDefault(spec, 'internalTrafficPolicy', 'Cluster');
    setDefault(spec, 'ipFamilies', ['IPv4']);
    setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
  }
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') setDefault(spec, 'externalTrafficPolicy', 'Cluster');
  for (const port of (spec.ports as Obj[] | undefined) ?? []) {
    setDefault(port, 'protocol', 'TCP');
    setDefault(port, 'targetPort', port.port);
  }
}

export function applyDefaults(kind: string, object: K8sObject): void {
  const o = object as Obj;
  switch (kind) {
    case 'Pod':
      defaultPodSpec(obj(o, 'spec'));
      {
        const spec = o.spec as Obj;
        setDefault(spec, 'serviceAccountName', 'default');
        setDefault(spec, 'serviceAccount', spec.serviceAccountName);
        setDefault(spec, 'priority', 0);
      }
      break;
    case 'Service':
      defaultServiceSpec(obj(o, 'spec'));
      break;
    case 'Deployment': {
      const spec = obj(o, 'spec');
      setDefault(spec, 'replicas', 1);
      setDefault(spec, 'revisionHistoryLimit', 10);
      setDefault(spec, 'progressDeadlineSeconds', 600);
      const strategy = obj(spec, 'strategy');
      setDefault(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') {
        const rolling = obj(strategy, 'rollingUpdate');
        setDefault(rolling, 'maxUnavailable', '25%');
        setDefault(rolling, 'maxSurge', '25%');
      }
      defaultPodTemplate(obj(spec, 'template'));
      break;
    }
    case 'ReplicaSet': {
      const spec = obj(o, 'spec');
      setDefault(spec, 'replicas', 1);
      defaultPodTemplate(obj(spec, 'template'));
      break;
    }
    case 'StatefulSet': {
      const spec = obj(o, 'spec');
      setDefault(spec, 'replicas', 1);
      setDefault(spec, 'podManagementPolicy', 'OrderedReady');
      setDefault(spec, 'revisionHistoryLimit', 10);
      setDefault(spec, 'persistentVolumeClaimRetentionPolicy', { whenDeleted: 'Retain', whenScaled: 'Retain' });
      const strategy = obj(spec, 'updateStrategy');
      setDefault(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') setDefault(obj(strategy, 'rollingUpdate'), 'partition', 0);
      defaultPodTemplate(obj(spec, 'template'));
      break;
    }
    case 'DaemonSet': {
      const spec = obj(o, 'spec');
      setDefault(spec, 'revisionHistoryLimit', 10);
      const strategy = obj(spec, 'updateStrategy');
      setDefault(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') {
        const rolling = obj(strategy, 'rollingUpdate');
        setDefault(rolling, 'maxUnavailable', 1);
        setDefault(rolling, 'maxSurge', 0);
      }
      defaultPodTemplate(obj(spec, 'template'));
      break;
    }
    case 'Secret':
      setDefault(o, 'type', 'Opaque');
      foldStringData(object);
      break;
    case 'Namespace':
      setDefault(obj(o, 'spec'), 'finalizers', ['kubernetes']);
      obj(o.metadata as Obj, 'labels')['kubernetes.io/metadata.name'] = object.metadata.name ?? '';
      break;
    default:
      break;
  }
}

/**
 * A Secret's write-only `stringData` is merged into `data` (base64), its values winning, and never
 * stored, as the real API server does on every write.
 */
export function foldStringData(object: K8sObject): void {
  const o = object as unknown as Obj;
  const strings = o.stringData as Record<string, string> | undefined;
  if (!strings) return;
  const data = obj(o, 'data') as Record<string, string>;
  for (const [key, value] of Object.entries(strings)) data[key] = Buffer.from(String(value), 'utf8').toString('base64');
  delete o.stringData;
}

/** The status an object gets on create (the status written by clients is dropped). */
export function initialStatus(kind: string, given: unknown): Obj | undefined {
  switch (kind) {
    case 'Pod': return { phase: 'Pending', qosClass: 'BestEffort' };
    case 'Namespace': return { phase: 'Active' };
    case 'Service': return { loadBalancer: {} };
    case 'Deployment': case 'ReplicaSet': case 'StatefulSet': case 'DaemonSet': return {};
    case 'Node': return (given as Obj | undefined) ?? {};
    default: return undefined;
  }
}
