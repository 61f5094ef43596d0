// The pod-template-hash: a short stable name for a pod template, so that a Deployment finds the
// ReplicaSet of its current template and a StatefulSet names its revisions. Like Kubernetes it
// hashes the template and spells the result with letters that never form words; unlike it, the hash
// is SHA-256 over JSON with sorted keys rather than FNV over Go's struct dump (only stability
// within this sandbox matters). Used by the Deployment and StatefulSet controllers.
import { createHash } from 'node:crypto';

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const HASH_LENGTH = 10;

export function templateHash(template: unknown, collisionCount = 0): string {
  const digest = createHash('sha256').update(canonicalJson(template)).update(String(collisionCount)).digest();
  let out = '';
  for (let i = 0; i < HASH_LENGTH; i++) out += SAFE_ALPHABET[digest[i]! % SAFE_ALPHABET.length];
  return out;
}

/** JSON with object keys sorted and Dates as ISO strings, so equal objects give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && v !== null)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
