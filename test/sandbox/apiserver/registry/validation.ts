// Validation of objects on create and update, returning upstream-shaped causes for a 422:
// names (DNS subdomain/label), labels, and the structural rules of the kinds the sandbox's parts
// depend on (pod containers, service ports, workload selectors matching their template, RBAC
// refs). Leaves out: most of upstream's hundreds of field rules. Used by rest-write.ts.
import { invalid, type StatusCause } from '../status-errors.js';
import { matchesLabelSelectorObject, type LabelSelectorObject } from '../selectors.js';
import type { K8sObject } from '../store.js';

type Obj = Record<string, unknown>;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kinds whose names must be DNS labels (63 chars, no dots) rather than subdomains. */
const LABEL_NAMED = new Set(['Namespace', 'Service']);
/** RBAC objects may use path-segment names like `system:discovery`. */
const PATH_SEGMENT_NAMED = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

function required(field: string): StatusCause {
  return { reason: 'FieldValueRequired', message: 'Required value', field };
}

function invalidValue(field: string, value: unknown, why: string): StatusCause {
  return { reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field };
}

export function nameCauses(kind: string, name: string): StatusCause[] {
  if (PATH_SEGMENT_NAMED.has(kind)) {
    return name === '.' || name === '..' || /[/%]/.test(name) ? [invalidValue('metadata.name', name, 'may not contain \'/\' or \'%\'')] : [];
  }
  if (LABEL_NAMED.has(kind)) {
    if (name.length > 63 || !DNS1123_LABEL.test(name)) {
      return [invalidValue('metadata.name', name, 'a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character (e.g. \'my-name\',  or \'123-abc\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?\')')];
    }
    return [];
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    return [invalidValue('metadata.name', name, 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')')];
  }
  return [];
}

function labelCauses(labels: unknown, field: string): StatusCause[] {
  if (labels === undefined || labels === null) return [];
  if (typeof labels !== 'object' || Array.isArray(labels)) return [invalidValue(field, labels, 'must be a map of strings')];
  const causes: StatusCause[] = [];
  for (const [key, value] of Object.entries(labels as Obj)) {
    if (!LABEL_NAME.test(key) || key.length > 317) causes.push(invalidValue(field, key, 'name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\''));
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
      causes.push(invalidValue(`${field}`, value, 'a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character'));
    }
  }
  return causes;
}

function podSpecCauses(spec: Obj | undefined, field: string): StatusCause[] {
  if (!spec) return [required(field)];
  const causes: StatusCause[] = [];
  const containers = spec.containers as Obj[] | undefined;
  if (!Array.isArray(containers) || containers.length === 0) {
    causes.push(required(`${field}.containers`));
    return causes;
  }
  const names = new Set<string>();
  for (const [listName, list] of [['containers', containers], ['initContainers', spec.initContainers as Obj[] | undefined]] as const) {
    (list ?? []).forEach((c, i) => {
      const at = `${field}.${listName}[${i}]`;
      if (typeof c.name !== 'string' || c.name === '') causes.push(required(`${at}.name`));
      else if (!DNS1123_LABEL.test(c.name)) causes.push(invalidValue(`${at}.name`, c.name, 'a lowercase RFC 1123 label is required'));
      else if (names.has(c.name)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: "${c.name}"`, field: `${at}.name` });
      else names.add(c.name);
      if (typeof c.image !== 'string' || c.image === '') causes.push(required(`${at}.image`));
      // Port names are unique within a container (not across containers), as a real API server checks.
      const portNames = new Set<string>();
      ((c.ports as Obj[] | undefined) ?? []).forEach((p, j) => {
        const port = p.containerPort;
        if (typeof port !== 'number' || port < 1 || port > 65535) causes.push(invalidValue(`${at}.ports[${j}].containerPort`, port, 'must be between 1 and 65535, inclusive'));
        if (typeof p.name !== 'string' || p.name === '') return;
        if (portNames.has(p.name)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: "${p.name}"`, field: `${at}.ports[${j}].name` });
        portNames.add(p.name);
      });
    });
  }
  return causes;
}

function selectorCauses(spec: Obj, field: string): StatusCause[] {
  const selector = spec.selector as LabelSelectorObject | undefined;
  if (!selector || (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0)) {
    return [required(`${field}.selector`)];
  }
  const template = spec.template as Obj | undefined;
  const labels = (template?.metadata as Obj | undefined)?.labels as Record<string, string> | undefined;
  if (!matchesLabelSelectorObject(selector, labels)) {
    return [invalidValue(`${field}.template.metadata.labels`, labels ?? {}, '`selector` does not match template `labels`')];
  }
  return [];
}

function serviceCauses(spec: Obj | undefined): StatusCause[] {
  if (!spec) return [required('spec')];
  const causes: StatusCause[] = [];
  const ports = spec.ports as Obj[] | undefined;
  if (spec.type !== 'ExternalName' && spec.clusterIP !== 'None' && (!Array.isArray(ports) || ports.length === 0)) causes.push(required('spec.ports'));
  const names = new Set<string>();
  (ports ?? []).forEach((p, i) => {
    if (typeof p.port !== 'number' || p.port < 1 || p.port > 65535) causes.push(invalidValue(`spec.ports[${i}].port`, p.port, 'must be between 1 and 65535, inclusive'));
    if ((ports?.length ?? 0) > 1 && (typeof p.name !== 'string' || p.name === '')) causes.push(required(`spec.ports[${i}].name`));
    if (typeof p.name === 'string' && p.name !== '') {
      if (!IANA_SVC_NAME.test(p.name)) causes.push(invalidValue(`spec.ports[${i}].name`, p.name, 'must be a valid port name'));
      if (names.has(p.name)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: "${p.name}"`, field: `spec.ports[${i}].name` });
      names.add(p.name);
    }
    if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(String(p.protocol))) {
      causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: "${String(p.protocol)}": supported values: "SCTP", "TCP", "UDP"`, field: `spec.ports[${i}].protocol` });
    }
  });
  if (spec.type !== undefined && !['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(String(spec.type))) {
    causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: "${String(spec.type)}": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`, field: 'spec.type' });
  }
  return causes;
}

function kindCauses(kind: string, o: Obj): StatusCause[] {
  const spec = o.spec as Obj | undefined;
  switch (kind) {
    case 'Pod': return podSpecCauses(spec, 'spec');
    case 'Service': return serviceCauses(spec);
    case 'Deployment': case 'ReplicaSet': case 'StatefulSet': case 'DaemonSet': {
      if (!spec) return [required('spec')];
      const causes = selectorCauses(spec, 'spec');
      causes.push(...podSpecCauses((spec.template as Obj | undefined)?.spec as Obj | undefined, 'spec.template.spec'));
      if (spec.replicas !== undefined && (typeof spec.replicas !== 'number' || spec.replicas < 0)) {
        causes.push(invalidValue('spec.replicas', spec.replicas, 'must be greater than or equal to 0'));
      }
      return causes;
    }
    case 'RoleBinding': case 'ClusterRoleBinding': {
      const ref = o.roleRef as Obj | undefined;
      if (!ref || !ref.name) return [required('roleRef.name')];
      if (kind === 'ClusterRoleBinding' && ref.kind !== 'ClusterRole') {
        return [{ reason: 'FieldValueNotSupported', message: `Unsupported value: "${String(ref.kind)}": supported values: "ClusterRole"`, field: 'roleRef.kind' }];
      }
      return [];
    }
    case 'ConfigMap': case 'Secret': {
      const causes: StatusCause[] = [];
      for (const field of ['data', 'stringData', 'binaryData']) {
        for (const key of Object.keys((o[field] as Obj | undefined) ?? {})) {
          if (!/^[-._a-zA-Z0-9]+$/.test(key)) causes.push(invalidValue(`${field}[${key}]`, key, 'a valid config key must consist of alphanumeric characters, \'-\', \'_\' or \'.\''));
        }
      }
      return causes;
    }
    default: return [];
  }
}

/** Throws 422 Invalid when the object breaks a rule. */
export function validateObject(group: string, kind: string, object: K8sObject): void {
  const name = object.metadata.name ?? '';
  const causes: StatusCause[] = [];
  if (name === '') causes.push({ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' });
  else causes.push(...nameCauses(kind, name));
  causes.push(...labelCauses(object.metadata.labels, 'metadata.labels'));
  causes.push(...kindCauses(kind, object as Obj));
  if (causes.length > 0) throw invalid(group, kind, name, causes);
}
