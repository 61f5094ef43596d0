// The `scale` subresource of Deployments, ReplicaSets and StatefulSets: an autoscaling/v1 Scale
// view (spec.replicas, status.replicas, status.selector as a string) that reads and writes the
// owner's spec.replicas; GET, PUT (with optimistic concurrency) and every patch type, as
// `kubectl scale` uses. Used by router.ts.
import { badRequest, methodNotAllowed } from './status-errors.js';
import { labelSelectorToString, type LabelSelectorObject } from './selectors.js';
import { parseJsonObject, readBody, sendJson } from './http-util.js';
import { applyPatch } from './patch/apply-patch.js';
import { conflict } from './status-errors.js';
import type { ResourceRequest } from './router.js';
import type { K8sObject } from './store.js';

type Obj = Record<string, unknown>;

function toScale(object: K8sObject): Obj {
  const spec = (object.spec as Obj | undefined) ?? {};
  const status = (object.status as Obj | undefined) ?? {};
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: object.metadata.name, namespace: object.metadata.namespace, uid: object.metadata.uid,
      resourceVersion: object.metadata.resourceVersion, creationTimestamp: object.metadata.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: status.replicas ?? 0, selector: labelSelectorToString(spec.selector as LabelSelectorObject | undefined) },
  };
}

export async function handleScale(r: ResourceRequest): Promise<void> {
  const { ctx, info, kind, res } = r;
  const name = info.name ?? '';
  const current = ctx.registry.get(kind, info.namespace, name);
  let wanted: Obj;
  switch (info.verb) {
    case 'get':
      sendJson(res, 200, toScale(current));
      return;
    case 'update':
      wanted = parseJsonObject(await readBody(r.req), r.req.headers['content-type']);
      break;
    case 'patch':
      wanted = applyPatch(r.req.headers['content-type'] ?? '', toScale(current), await readBody(r.req));
      break;
    default:
      throw methodNotAllowed('the server does not allow this method on the requested resource');
  }
  const rv = (wanted.metadata as Obj | undefined)?.resourceVersion;
  if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) throw conflict(kind.group, kind.resource, name);
  const replicas = (wanted.spec as Obj | undefined)?.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw badRequest(`Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
  }
  const next = structuredClone(current);
  next.spec = { ...((next.spec as Obj | undefined) ?? {}), replicas };
  sendJson(res, 200, toScale(ctx.registry.commitUpdate(kind, current, next)));
}
