// `GET pods/<name>/log`: checks the pod and container like upstream (a multi-container pod needs
// `container`), parses follow/tailLines/sinceSeconds/previous/timestamps/limitBytes, and streams
// the Readable that the node's podLogs hook returns as text/plain. A hook error with
// statusCode 404 (or code ENOENT) is a 404; any other is a 400 with its message.
// Used by router.ts.
import { ApiStatusError, badRequest } from './status-errors.js';
import type { ResourceRequest } from './router.js';
import type { PodLogOptions } from './context.js';

type Obj = Record<string, unknown>;

function intParam(url: URL, name: string, min: number): number | undefined {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw badRequest(`${name}: Invalid value: ${JSON.stringify(text)}: must be an integer >= ${min}`);
  return value;
}

const boolParam = (url: URL, name: string): boolean => url.searchParams.get(name) === 'true' || url.searchParams.get(name) === '1';

export async function handlePodLog(r: ResourceRequest): Promise<void> {
  const { ctx, info, url, res } = r;
  if (info.verb !== 'get') throw new ApiStatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  const name = info.name ?? '';
  const pod = ctx.registry.get(r.kind, info.namespace, name);
  const containers = (((pod.spec as Obj | undefined)?.containers as Obj[] | undefined) ?? []).map((c) => String(c.name));
  const init = (((pod.spec as Obj | undefined)?.initContainers as Obj[] | undefined) ?? []).map((c) => String(c.name));
  let container = url.searchParams.get('container') ?? '';
  if (container === '') {
    if (containers.length !== 1) {
      throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]${init.length > 0 ? ` or one of the init containers: [${init.join(' ')}]` : ''}`);
    }
    container = containers[0];
  } else if (!containers.includes(container) && !init.includes(container)) {
    throw badRequest(`container ${container} is not valid for pod ${name}`);
  }
  const options: PodLogOptions = {
    follow: boolParam(url, 'follow'),
    tailLines: intParam(url, 'tailLines', 0),
    sinceSeconds: intParam(url, 'sinceSeconds', 1),
    previous: boolParam(url, 'previous'),
    timestamps: boolParam(url, 'timestamps'),
    limitBytes: intParam(url, 'limitBytes', 1),
  };
  if (!ctx.hooks.podLogs) throw badRequest(`container "${container}" in pod "${name}" is waiting to start: no node serves logs`);
  let stream;
  try {
    stream = await ctx.hooks.podLogs(info.namespace ?? '', name, container, options);
  } catch (error) {
    const e = error as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode === 404 || e.code === 'ENOENT') {
      throw new ApiStatusError(404, 'NotFound', e.message ?? `the container "${container}" in pod "${name}" has no log`);
    }
    throw badRequest(e.message ?? String(error));
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  let sent = 0;
  const limit = options.limitBytes;
  let forget = (): void => {};
  const finish = (): void => {
    forget();
    stream.destroy();
    if (!res.writableEnded) res.end();
  };
  stream.on('data', (chunk: Buffer | string) => {
    let data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    if (limit !== undefined && sent + data.length > limit) data = data.subarray(0, limit - sent);
    sent += data.length;
    if (data.length > 0) res.write(data);
    if (limit !== undefined && sent >= limit) finish();
  });
  stream.on('end', finish);
  stream.on('error', finish);
  r.req.on('close', finish);
  res.on('close', finish);
  forget = ctx.watches.add(finish);
}
