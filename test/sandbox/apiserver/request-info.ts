// Turns a request's method and path into what it asks for (upstream's RequestInfo): resource or
// non-resource request, verb (get/list/watch/create/update/patch/delete/deletecollection), API
// group/version, namespace, resource, name and subresource. Handles `/watch/` legacy paths and
// `namespaces/<ns>/status|finalize`. Leaves out: proxy paths. Used by server.ts and router.ts.

export interface RequestInfo {
  resourceRequest: boolean;
  path: string;
  verb: string;
  apiPrefix?: 'api' | 'apis';
  apiGroup: string;
  apiVersion: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  /** The path had `/watch/` after the version (legacy watch). */
  legacyWatch: boolean;
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function parseRequestInfo(method: string, url: URL): RequestInfo {
  const path = url.pathname;
  const parts = path.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
  const info: RequestInfo = { resourceRequest: false, path, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', legacyWatch: false };
  if (parts[0] !== 'api' && parts[0] !== 'apis') return info;
  let rest: string[];
  if (parts[0] === 'api') {
    if (parts.length < 3) return info;
    info.apiVersion = parts[1];
    rest = parts.slice(2);
  } else {
    if (parts.length < 4) return info;
    info.apiGroup = parts[1];
    info.apiVersion = parts[2];
    rest = parts.slice(3);
  }
  info.apiPrefix = parts[0];
  info.resourceRequest = true;
  if (rest[0] === 'watch') {
    info.legacyWatch = true;
    rest = rest.slice(1);
  }
  if (rest[0] === 'namespaces' && rest.length > 1) {
    info.namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2])) {
      rest = rest.slice(2);
    }
  }
  info.resource = rest[0];
  if (info.resource === 'namespaces' && rest.length > 1) info.name = rest[1];
  else if (rest.length > 1) info.name = rest[1];
  if (rest.length > 2) info.subresource = rest.slice(2).join('/');
  if (info.resource === 'namespaces' && info.name !== undefined) {
    // `/api/v1/namespaces/x` names the namespace object itself; it is cluster-scoped.
    info.namespace = undefined;
  }
  const watchParam = url.searchParams.get('watch');
  const watching = info.legacyWatch || watchParam === 'true' || watchParam === '1';
  switch (method) {
    case 'GET':
    case 'HEAD':
      info.verb = watching ? 'watch' : info.name === undefined ? 'list' : 'get';
      break;
    case 'POST': info.verb = 'create'; break;
    case 'PUT': info.verb = 'update'; break;
    case 'PATCH': info.verb = 'patch'; break;
    case 'DELETE': info.verb = info.name === undefined ? 'deletecollection' : 'delete'; break;
    default: info.verb = method.toLowerCase();
  }
  if (info.resource === 'namespaces' && info.name !== undefined) {
    // RBAC for namespace objects: the namespace attribute is the namespace's own name.
    info.namespace = info.name;
  }
  return info;
}
