// Test fixtures for the API server's tests: a throwaway CA and server certificate made with the
// openssl CLI (SANs 127.0.0.1, localhost, kubernetes.default.svc, 198.19.0.1), a started server
// on port 0, a client-node KubeConfig and a kubeconfig file for kubectl, all cleaned up after.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../server.js';

const execFileAsync = promisify(execFile);

export interface TestCerts { dir: string; caCert: string; cert: string; key: string }

let certsPromise: Promise<TestCerts> | undefined;

/** One CA + server cert per test process (openssl is slow-ish on 2 cores). */
export function testCerts(): Promise<TestCerts> {
  certsPromise ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tp-apiserver-certs-'));
    const run = (args: string[]): Promise<unknown> => execFileAsync('openssl', args, { cwd: dir });
    await run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tp-sandbox-test-ca']);
    await run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver']);
    await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:198.19.0.1\nextendedKeyUsage=serverAuth\n');
    await run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf']);
    const [caCert, cert, key] = await Promise.all(['ca.crt', 'server.crt', 'server.key'].map((f) => readFile(join(dir, f), 'utf8')));
    process.once('exit', () => void rm(dir, { recursive: true, force: true }));
    return { dir, caCert, cert, key };
  })();
  return certsPromise;
}

export interface TestCluster {
  server: ApiServer;
  adminToken: string;
  caCert: string;
  kubeConfig(token?: string): k8s.KubeConfig;
  /** Writes a kubeconfig for kubectl; returns its path. */
  kubeconfigFile(token?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startTestCluster(extra: Partial<ApiServerOptions> = {}): Promise<TestCluster> {
  const certs = await testCerts();
  const adminToken = randomBytes(24).toString('hex');
  const server = await startApiServer({
    port: 0, tls: { cert: certs.cert, key: certs.key }, caCert: certs.caCert,
    adminToken, signingKey: randomBytes(32), ...extra,
  });
  const dir = await mkdtemp(join(tmpdir(), 'tp-apiserver-kubeconfig-'));
  let files = 0;
  const kubeConfig = (token = adminToken): k8s.KubeConfig => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'sandbox', server: server.url, caData: Buffer.from(certs.caCert).toString('base64') }],
      users: [{ name: 'user', token }],
      contexts: [{ name: 'sandbox', cluster: 'sandbox', user: 'user', namespace: 'default' }],
      currentContext: 'sandbox',
    });
    return kc;
  };
  return {
    server, adminToken, caCert: certs.caCert, kubeConfig,
    async kubeconfigFile(token = adminToken) {
      files += 1;
      const path = join(dir, `kubeconfig-${files}`);
      await writeFile(path, kubeConfig(token).exportConfig(), { mode: 0o600 });
      return path;
    },
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The Status body of a failed client-node call (ApiException.body is the raw JSON text). */
export function statusOf(error: unknown): { code: number; reason?: string; message?: string; details?: { causes?: { field?: string; reason?: string }[]; name?: string; kind?: string } } {
  const e = error as { code?: number; body?: unknown };
  const body = typeof e.body === 'string' ? (JSON.parse(e.body) as Record<string, unknown>) : (e.body as Record<string, unknown> | undefined) ?? {};
  return { code: e.code ?? 0, ...(body as object) } as ReturnType<typeof statusOf>;
}

export function podManifest(name: string, extra: Record<string, unknown> = {}): k8s.V1Pod {
  return {
    metadata: { name, labels: { app: name } },
    spec: { containers: [{ name: 'main', image: 'tp/echo-server:1', ports: [{ containerPort: 8080 }] }] },
    ...extra,
  } as k8s.V1Pod;
}

export function deploymentManifest(name: string, replicas = 1): k8s.V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'tp/echo-server:1' }] } },
    },
  };
}
