// Just enough of Kubernetes' protobuf encoding to read the request bodies that kubectl's typed
// clients send as `application/vnd.kubernetes.protobuf` (kubectl auth can-i / whoami,
// create namespace/serviceaccount/configmap/rolebinding, create token): the `k8s\0` envelope around runtime.Unknown, the protobuf
// wire format, and field tables for those few messages (field numbers from k8s.io/api's
// generated.proto). Replies stay JSON, which client-go accepts. Other kinds sent as protobuf get
// 415 with a hint. Hand-written because no npm package carries the Kubernetes schemas.
// Used by http-util.ts.
import { unsupportedMediaType, badRequest } from './status-errors.js';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
/** Nesting deeper than this is refused (real objects are far shallower). */
const MAX_DEPTH = 32;

type Fields = Map<number, (Buffer | number)[]>;

/** Protobuf wire format: varints (type 0), fixed64 (1), length-delimited (2), fixed32 (5). */
export function parseWire(data: Buffer): Fields {
  const fields: Fields = new Map();
  let offset = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (offset >= data.length) throw badRequest('truncated protobuf varint');
      const byte = data[offset++];
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw badRequest('protobuf varint too long');
    }
  };
  while (offset < data.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    let value: Buffer | number;
    if (wireType === 0) value = varint();
    else if (wireType === 2) {
      const length = varint();
      if (offset + length > data.length) throw badRequest('truncated protobuf field');
      value = data.subarray(offset, offset + length);
      offset += length;
    } else if (wireType === 1) {
      offset += 8;
      continue;
    } else if (wireType === 5) {
      offset += 4;
      continue;
    } else throw badRequest(`unsupported protobuf wire type ${wireType}`);
    const list = fields.get(field) ?? [];
    list.push(value);
    fields.set(field, list);
  }
  return fields;
}

/** A message schema: field number → [json name, type]. */
type FieldType = 'string' | 'int' | 'bool' | 'strings' | 'map' | Schema | { repeated: Schema };
interface Schema { [field: number]: [string, FieldType] }

const OBJECT_META: Schema = { 1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 11: ['labels', 'map'], 12: ['annotations', 'map'], 14: ['finalizers', 'strings'] };
const RESOURCE_ATTRIBUTES: Schema = { 1: ['namespace', 'string'], 2: ['verb', 'string'], 3: ['group', 'string'], 4: ['version', 'string'], 5: ['resource', 'string'], 6: ['subresource', 'string'], 7: ['name', 'string'] };
const NON_RESOURCE_ATTRIBUTES: Schema = { 1: ['path', 'string'], 2: ['verb', 'string'] };
const SUBJECT: Schema = { 1: ['kind', 'string'], 2: ['apiGroup', 'string'], 3: ['name', 'string'], 4: ['namespace', 'string'] };
const ROLE_REF: Schema = { 1: ['apiGroup', 'string'], 2: ['kind', 'string'], 3: ['name', 'string'] };
const BOUND_OBJECT_REF: Schema = { 1: ['kind', 'string'], 2: ['apiVersion', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'] };

const SCHEMAS: Record<string, Schema> = {
  SelfSubjectAccessReview: { 1: ['metadata', OBJECT_META], 2: ['spec', { 1: ['resourceAttributes', RESOURCE_ATTRIBUTES], 2: ['nonResourceAttributes', NON_RESOURCE_ATTRIBUTES] }] },
  SelfSubjectRulesReview: { 1: ['metadata', OBJECT_META], 2: ['spec', { 1: ['namespace', 'string'] }] },
  SelfSubjectReview: { 1: ['metadata', OBJECT_META] },
  TokenRequest: { 1: ['metadata', OBJECT_META], 2: ['spec', { 1: ['audiences', 'strings'], 4: ['expirationSeconds', 'int'], 3: ['boundObjectRef', BOUND_OBJECT_REF] }] },
  Namespace: { 1: ['metadata', OBJECT_META], 2: ['spec', { 1: ['finalizers', 'strings'] }] },
  ServiceAccount: { 1: ['metadata', OBJECT_META], 4: ['automountServiceAccountToken', 'bool'] },
  ConfigMap: { 1: ['metadata', OBJECT_META], 2: ['data', 'map'], 4: ['immutable', 'bool'] },
  RoleBinding: { 1: ['metadata', OBJECT_META], 2: ['subjects', { repeated: SUBJECT }], 3: ['roleRef', ROLE_REF] },
  ClusterRoleBinding: { 1: ['metadata', OBJECT_META], 2: ['subjects', { repeated: SUBJECT }], 3: ['roleRef', ROLE_REF] },
};

function decodeMessage(data: Buffer, schema: Schema, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw badRequest('protobuf message nested too deeply');
  const out: Record<string, unknown> = {};
  for (const [field, values] of parseWire(data)) {
    const entry = schema[field];
    if (!entry) continue;
    const [name, type] = entry;
    const last = values[values.length - 1];
    if (type === 'string') out[name] = Buffer.isBuffer(last) ? last.toString('utf8') : String(last);
    else if (type === 'int') out[name] = typeof last === 'number' ? last : 0;
    else if (type === 'bool') out[name] = last === 1;
    else if (type === 'strings') out[name] = values.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
    else if (type === 'map') {
      const map: Record<string, string> = {};
      for (const v of values) {
        if (!Buffer.isBuffer(v)) continue;
        const kv = parseWire(v);
        const key = kv.get(1)?.[0];
        const value = kv.get(2)?.[0];
        map[Buffer.isBuffer(key) ? key.toString('utf8') : ''] = Buffer.isBuffer(value) ? value.toString('utf8') : '';
      }
      out[name] = map;
    } else if ('repeated' in type) {
      const schemaOf = type.repeated as Schema;
      out[name] = values.filter((v): v is Buffer => Buffer.isBuffer(v)).map((v) => decodeMessage(v, schemaOf, depth + 1));
    } else if (Buffer.isBuffer(last)) out[name] = decodeMessage(last, type, depth + 1);
  }
  return out;
}

/** Decodes a `k8s\0`-framed protobuf object into its JSON form, for the kinds listed above. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw badRequest('protobuf body lacks the k8s envelope');
  const unknown = parseWire(body.subarray(MAGIC.length));
  const typeMetaRaw = unknown.get(1)?.[0];
  const raw = unknown.get(2)?.[0];
  const typeMeta = Buffer.isBuffer(typeMetaRaw) ? parseWire(typeMetaRaw) : new Map();
  const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : '');
  const apiVersion = text(typeMeta.get(1)?.[0]);
  const kind = text(typeMeta.get(2)?.[0]);
  const schema = SCHEMAS[kind];
  if (!schema || !Buffer.isBuffer(raw)) {
    throw unsupportedMediaType(`${PROTOBUF_CONTENT_TYPE} (${kind || 'unknown kind'}; send application/json)`, ['application/json']);
  }
  return { apiVersion, kind, ...decodeMessage(raw, schema, 0) };
}
