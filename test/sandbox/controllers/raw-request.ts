// Plain-JSON GETs through a KubeConfig (its server, CA and credentials). Informers list with this
// rather than the typed APIs because typed lists turn timestamps into Dates and drop fields they do
// not know, while watch events arrive as plain JSON; a cache must hold one shape so that, for
// example, a pod template hashes the same whichever way it arrived. Used by watch caches here.
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

const MAX_BODY_BYTES = 64 * 1024 * 1024;

export class RawRequestError extends Error {
  readonly code: number;
  readonly body: string;
  constructor(code: number, body: string, path: string) {
    super(`GET ${path} failed: HTTP ${code}`);
    this.name = 'RawRequestError';
    this.code = code;
    this.body = body;
  }
}

export async function getJson<T>(kc: KubeConfig, path: string): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(path, cluster.server);
  const options: https.RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(options);
  return new Promise<T>((resolve, reject) => {
    const request = https.request(url, options, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          request.destroy(new Error(`GET ${path}: response larger than ${MAX_BODY_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((response.statusCode ?? 0) >= 300) {
          reject(new RawRequestError(response.statusCode ?? 0, text, path));
          return;
        }
        try {
          resolve(JSON.parse(text) as T);
        } catch (error) {
          reject(error);
        }
      });
    });
    request.setTimeout(30_000, () => request.destroy(new Error(`GET ${path}: timed out`)));
    request.on('error', reject);
    request.end();
  });
}
