// Label and field selectors as list/watch query parameters: parse the string forms
// (`a=b,c!=d,e in (f,g),!h`), match objects, and turn a LabelSelector object into its string
// (for Scale status). Field selectors accept only the fields upstream accepts per kind.
// Leaves out: set-based field selectors (upstream has none). Used by the list/watch handlers.
import { badRequest } from './status-errors.js';
import type { K8sObject } from './store.js';

type Requirement =
  | { op: 'eq' | 'neq'; key: string; values: [string] }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string; values: [] };

export type Selector = Requirement[];

/** Splits on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  terms.push(current);
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

export function parseLabelSelector(text: string | null | undefined): Selector {
  if (!text) return [];
  return splitTerms(text).map((term) => {
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set) return { op: set[2] as 'in' | 'notin', key: set[1], values: set[3].split(',').map((v) => v.trim()).filter((v) => v !== '') };
    const neq = /^([^=!\s]+)\s*!=\s*(\S*)$/.exec(term);
    if (neq) return { op: 'neq', key: neq[1], values: [neq[2]] };
    const eq = /^([^=!\s]+)\s*==?\s*(\S*)$/.exec(term);
    if (eq) return { op: 'eq', key: eq[1], values: [eq[2]] };
    const notExists = /^!\s*([^=!\s]+)$/.exec(term);
    if (notExists) return { op: 'notexists', key: notExists[1], values: [] };
    if (/^[A-Za-z0-9._/-]+$/.test(term)) return { op: 'exists', key: term, values: [] };
    throw badRequest(`unable to parse requirement: invalid label selector term "${term}"`);
  });
}

export function matchesSelector(selector: Selector, lookup: (key: string) => string | undefined): boolean {
  return selector.every((req) => {
    const value = lookup(req.key);
    switch (req.op) {
      case 'eq': return value === req.values[0];
      case 'neq': return value !== req.values[0];
      case 'in': return value !== undefined && req.values.includes(value);
      case 'notin': return value === undefined || !req.values.includes(value);
      case 'exists': return value !== undefined;
      case 'notexists': return value === undefined;
    }
    return false;
  });
}

export function matchesLabels(selector: Selector, object: K8sObject): boolean {
  const labels = object.metadata.labels ?? {};
  return matchesSelector(selector, (key) => (Object.hasOwn(labels, key) ? labels[key] : undefined));
}

/** Field selector: only `=`, `==`, `!=`; fields checked against the kind's supported set. */
export function parseFieldSelector(text: string | null | undefined, kind: string): Selector {
  const selector = parseLabelSelector(text);
  const supported = new Set(['metadata.name', 'metadata.namespace', ...(FIELDS_BY_KIND[kind] ?? [])]);
  for (const req of selector) {
    if (req.op !== 'eq' && req.op !== 'neq') throw badRequest(`invalid field selector: ${text}`);
    if (!supported.has(req.key)) throw badRequest(`field label not supported: ${req.key}`);
  }
  return selector;
}

const FIELDS_BY_KIND: Record<string, string[]> = {
  Pod: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  Event: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  Secret: ['type'],
  Namespace: ['status.phase'],
  Node: ['spec.unschedulable'],
  ReplicaSet: ['status.replicas'],
  Service: ['spec.clusterIP', 'spec.type'],
};

export function fieldValue(object: K8sObject, path: string): string | undefined {
  if (path === 'source' && object.kind === 'Event') {
    const source = object.source as { component?: string } | undefined;
    return source?.component ?? '';
  }
  let current: unknown = object;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return '';
    current = (current as Record<string, unknown>)[part];
  }
  if (current === undefined || current === null) return '';
  return String(current);
}

export function matchesFields(selector: Selector, object: K8sObject): boolean {
  return matchesSelector(selector, (key) => fieldValue(object, key));
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** `{matchLabels: {app: x}}` → `app=x`, as Scale.status.selector carries it. */
export function labelSelectorToString(selector: LabelSelectorObject | undefined): string {
  if (!selector) return '';
  const terms = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const expr of selector.matchExpressions ?? []) {
    const values = [...(expr.values ?? [])].sort().join(',');
    if (expr.operator === 'In') terms.push(`${expr.key} in (${values})`);
    else if (expr.operator === 'NotIn') terms.push(`${expr.key} notin (${values})`);
    else if (expr.operator === 'Exists') terms.push(expr.key);
    else if (expr.operator === 'DoesNotExist') terms.push(`!${expr.key}`);
  }
  return terms.sort().join(',');
}

export function matchesLabelSelectorObject(selector: LabelSelectorObject | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const parsed = parseLabelSelector(labelSelectorToString(selector));
  return matchesSelector(parsed, (key) => (labels && Object.hasOwn(labels, key) ? labels[key] : undefined));
}
