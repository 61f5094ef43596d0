// Applies a PATCH body to the stored object by its Content-Type: JSON merge patch (RFC 7386),
// strategic merge patch, and JSON patch (RFC 6902, through fast-json-patch). Server-side apply
// (`application/apply-patch+yaml`) is answered with 415 and a hint to use client-side apply.
// Used by rest-write.ts for resources and the scale subresource.
import fastJsonPatch from 'fast-json-patch';
import { ApiStatusError, badRequest, unsupportedMediaType } from '../status-errors.js';
import { strategicMergePatch } from './strategic-merge.js';

export const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];
const APPLY_PATCH = 'application/apply-patch+yaml';

/** RFC 7386: objects merge recursively, null deletes, anything else replaces. */
export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target)
    ? structuredClone(target as Record<string, unknown>) : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete result[key];
    else result[key] = jsonMergePatch(result[key], value);
  }
  return result;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw badRequest(`error decoding patch: ${(error as Error).message}`);
  }
}

export function applyPatch(contentType: string, original: Record<string, unknown>, body: Buffer): Record<string, unknown> {
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (type === APPLY_PATCH) {
    throw new ApiStatusError(415, 'UnsupportedMediaType',
      'server-side apply (application/apply-patch+yaml) is not supported by the sandbox API server; use client-side apply (kubectl apply without --server-side)');
  }
  if (!PATCH_TYPES.includes(type)) throw unsupportedMediaType(contentType, PATCH_TYPES);
  const patch = parseJson(body);
  if (type === 'application/json-patch+json') {
    if (!Array.isArray(patch)) throw badRequest('json patch must be a JSON array of operations');
    try {
      const copy = structuredClone(original);
      const result = fastJsonPatch.applyPatch(copy, patch as fastJsonPatch.Operation[], true, true).newDocument;
      return result as Record<string, unknown>;
    } catch (error) {
      throw new ApiStatusError(422, 'Invalid', `the server rejected our request due to an error in our request: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw badRequest('patch body must be a JSON object');
  if (type === 'application/merge-patch+json') return jsonMergePatch(original, patch) as Record<string, unknown>;
  return (strategicMergePatch(original, patch) ?? {}) as Record<string, unknown>;
}
