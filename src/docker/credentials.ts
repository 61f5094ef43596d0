// Exec credential plugins (cloud IAM: aws, gke-gcloud-auth-plugin, kubelogin…) live on the host,
// with the user's login state, and cannot run in the Docker-mode container. The host's companion
// (api-relay.ts) runs the user's plugin on request and hands its ExecCredential to the container,
// whose kubeconfig names `tp docker credentials` as its plugin instead. The request must carry the
// connection's secret (a 0600 file in the connection's folder, which only the user and the
// container see), since the companion listens where every container on the bridge can reach it.
import { spawn } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { logger } from '../log/logger.js';

const log = logger('tp:docker:credentials');
const PLUGIN_TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 1 << 20;
export const CREDENTIALS_PATH = '/credentials';

/** The user's exec plugin, as the kubeconfig names it. */
export interface ExecPlugin {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  apiVersion?: string;
}

export function newSecret(file: string): string {
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

/** Serves the plugin's output to callers that show `secret`; one plugin run at a time. */
export async function startCredentialsServer(listenHost: string, plugin: ExecPlugin, secret: string): Promise<{ server: Server; port: number }> {
  let running: Promise<{ status: number; body: string }> | undefined;
  const server = createServer((request, response) => {
    const shown = Buffer.from((request.headers.authorization ?? '').replace(/^Bearer /, ''));
    const expected = Buffer.from(secret);
    if (request.url !== CREDENTIALS_PATH || shown.length !== expected.length || !timingSafeEqual(shown, expected)) {
      response.writeHead(403).end();
      return;
    }
    running ??= runPlugin(plugin).finally(() => (running = undefined));
    void running.then(({ status, body }) => response.writeHead(status, { 'content-type': 'application/json' }).end(body));
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = PLUGIN_TIMEOUT_MS + 10_000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, listenHost, () => resolve()));
  return { server, port: (server.address() as { port: number }).port };
}

function runPlugin(plugin: ExecPlugin): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...Object.fromEntries((plugin.env ?? []).map(({ name, value }) => [name, value])) };
    env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion: plugin.apiVersion ?? 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', spec: { interactive: false } });
    const child = spawn(plugin.command, plugin.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: PLUGIN_TIMEOUT_MS });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.length > MAX_OUTPUT) child.kill();
    });
    child.stderr.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-2000)));
    child.once('error', (error) => resolve({ status: 502, body: JSON.stringify({ error: `cannot run ${plugin.command}: ${error.message}` }) }));
    child.once('close', (code) => {
      if (code === 0) return resolve({ status: 200, body: out });
      log.info('!! the exec plugin %s exited %s: %s', plugin.command, code, err.trim());
      resolve({ status: 502, body: JSON.stringify({ error: `${plugin.command} exited ${code}: ${err.trim()}` }) });
    });
  });
}

/** The container's side (`tp docker credentials`): asks the host's companion, prints the ExecCredential. */
export async function fetchCredentials(url: string, secretFile: string): Promise<string> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${readFileSync(secretFile, 'utf8').trim()}` }, signal: AbortSignal.timeout(PLUGIN_TIMEOUT_MS + 5000) });
  const body = await response.text();
  if (!response.ok) throw new Error(`the host's credentials relay answered ${response.status}: ${body.slice(0, 500)}`);
  return body;
}
