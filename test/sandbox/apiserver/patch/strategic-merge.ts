// Strategic merge patch (the kubectl default for built-in kinds): like a JSON merge patch, except
// that lists with a patch merge key (containers by name, env by name, container ports by
// containerPort, Service ports by port, …) merge element by element, and the directives
// `$patch: replace|delete|merge`, `$retainKeys`, `$setElementOrder/<f>` and
// `$deleteFromPrimitiveList/<f>` that kubectl apply sends are honoured. The merge keys are a table
// by field name and parent, standing in for upstream's Go struct tags; written by hand because no
// npm library implements the Kubernetes flavour. Leaves out: schema-less kinds (not served).
// Used by patch/apply-patch.ts.

type Obj = Record<string, unknown>;
type ListStrategy = { kind: 'replace' } | { kind: 'merge'; key: string } | { kind: 'primitive-merge' };

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);
const BY_NAME = new Set(['containers', 'initContainers', 'ephemeralContainers', 'env', 'volumes', 'imagePullSecrets', 'secrets', 'resourceClaims']);
const BY_OTHER: Record<string, string> = {
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ownerReferences: 'uid',
  conditions: 'type',
  hostAliases: 'ip',
  readinessGates: 'conditionType',
  topologySpreadConstraints: 'topologyKey',
  addresses: 'type',
};
const PRIMITIVE_MERGE = new Set(['finalizers']);

/** How the list at `parentPath.field` merges; `parentPath` holds field names only (no indexes). */
export function listStrategy(parentPath: string[], field: string): ListStrategy {
  const parent = parentPath[parentPath.length - 1];
  if (field === 'ports') {
    if (parent !== undefined && CONTAINER_LISTS.has(parent)) return { kind: 'merge', key: 'containerPort' };
    if (parentPath.length === 1 && parent === 'spec') return { kind: 'merge', key: 'port' };
    return { kind: 'replace' };
  }
  if (field === 'addresses' && parent !== 'status') return { kind: 'replace' };
  if (BY_NAME.has(field)) return { kind: 'merge', key: 'name' };
  if (Object.hasOwn(BY_OTHER, field)) return { kind: 'merge', key: BY_OTHER[field] };
  if (PRIMITIVE_MERGE.has(field)) return { kind: 'primitive-merge' };
  return { kind: 'replace' };
}

function isObj(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const SET_ORDER = '$setElementOrder/';
const DELETE_FROM_PRIMITIVE = '$deleteFromPrimitiveList/';

/** Applies a strategic merge patch to a copy of `original`; returns undefined for `$patch: delete`. */
export function strategicMergePatch(original: unknown, patch: unknown, path: string[] = []): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  return mergeMap(isObj(original) ? original : {}, patch, path);
}

function mergeMap(original: Obj, patch: Obj, path: string[]): Obj | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  if (directive === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return mergeMap({}, rest, path) ?? {};
  }
  const result: Obj = structuredClone(original);
  const orders: [string, unknown[]][] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys') continue;
    if (key.startsWith(SET_ORDER)) {
      if (Array.isArray(value)) orders.push([key.slice(SET_ORDER.length), value]);
      continue;
    }
    if (key.startsWith(DELETE_FROM_PRIMITIVE)) {
      const field = key.slice(DELETE_FROM_PRIMITIVE.length);
      const current = result[field];
      if (Array.isArray(current) && Array.isArray(value)) result[field] = current.filter((v) => !value.includes(v));
      continue;
    }
    if (value === null) {
      delete result[key];
    } else if (isObj(value)) {
      const merged = mergeMap(isObj(result[key]) ? (result[key] as Obj) : {}, value, [...path, key]);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(value)) {
      result[key] = mergeList(Array.isArray(result[key]) ? (result[key] as unknown[]) : [], value, path, key);
    } else {
      result[key] = value;
    }
  }
  for (const [field, order] of orders) {
    const list = result[field];
    if (Array.isArray(list)) result[field] = applyOrder(list, order, listStrategy(path, field));
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }
  return result;
}

function mergeList(original: unknown[], patch: unknown[], path: string[], field: string): unknown[] {
  const strategy = listStrategy(path, field);
  const childPath = [...path, field];
  const clean = (items: unknown[]): unknown[] =>
    items.map((item) => (isObj(item) ? mergeMap({}, item, childPath) : item)).filter((item) => item !== undefined);
  if (strategy.kind === 'replace') return clean(patch.filter((item) => !(isObj(item) && item.$patch !== undefined && Object.keys(item).length === 1)));
  if (patch.some((item) => isObj(item) && item.$patch === 'replace')) {
    return clean(patch.filter((item) => !(isObj(item) && item.$patch === 'replace')));
  }
  if (strategy.kind === 'primitive-merge') {
    const result = [...original];
    for (const item of patch) if (!result.includes(item)) result.push(item);
    return result;
  }
  const result: unknown[] = structuredClone(original);
  for (const item of patch) {
    if (!isObj(item)) {
      if (!result.includes(item)) result.push(item);
      continue;
    }
    const keyValue = item[strategy.key];
    const index = result.findIndex((existing) => isObj(existing) && existing[strategy.key] === keyValue);
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const merged = mergeMap(result[index] as Obj, item, childPath);
      if (merged === undefined) result.splice(index, 1);
      else result[index] = merged;
    } else {
      const added = mergeMap({}, item, childPath);
      if (added !== undefined) result.push(added);
    }
  }
  return result;
}

/** `$setElementOrder`: listed elements take the listed order; unlisted ones keep their place after. */
function applyOrder(list: unknown[], order: unknown[], strategy: ListStrategy): unknown[] {
  const keyOf = (item: unknown): unknown => (strategy.kind === 'merge' && isObj(item) ? item[strategy.key] : item);
  const wanted = order.map(keyOf);
  const rank = (item: unknown): number => {
    const i = wanted.indexOf(keyOf(item));
    return i < 0 ? wanted.length : i;
  };
  return list.map((item, i) => ({ item, i })).sort((a, b) => rank(a.item) - rank(b.item) || a.i - b.i).map((e) => e.item);
}
