// A minimal OpenAPI v3 surface so kubectl's `--validate=strict` (its default) works: the
// /openapi/v3 root lists one document per group/version, and each document has, per kind, a
// PATCH operation tagged with x-kubernetes-group-version-kind and a `fieldValidation` query
// parameter. kubectl then leaves validation to the server (fieldValidation=Strict) instead of
// downloading schemas. No schemas are served, so kubectl builds strategic merge patches from its
// compiled-in types, as it does for built-in kinds. Leaves out: /openapi/v2 (404; kubectl copes).
// Used by server.ts.
import { KINDS, apiVersionOf } from './registry/kinds.js';

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

const HASH = 'sandbox-v1';

export function openApiV3Root(): Record<string, unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const k of KINDS) {
    const path = gvPath(k.group, k.version);
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${HASH}` };
  }
  return { paths };
}

/** The document for `api/v1` or `apis/<group>/<version>`, or undefined. */
export function openApiV3Document(relative: string): Record<string, unknown> | undefined {
  const kinds = KINDS.filter((k) => gvPath(k.group, k.version) === relative && !k.virtual);
  if (kinds.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const k of kinds) {
    const path = `/${relative}${k.namespaced ? '/namespaces/{namespace}' : ''}/${k.resource}/{name}`;
    paths[path] = {
      patch: {
        operationId: `patch${k.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: k.group, version: k.version, kind: k.kind },
        parameters: [
          { name: 'dryRun', in: 'query', schema: { type: 'string' } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string' } },
          { name: 'fieldValidation', in: 'query', schema: { type: 'string' } },
        ],
        responses: { 200: { description: 'OK' } },
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0', 'x-sandbox-group-version': apiVersionOf(kinds[0]) }, paths };
}
