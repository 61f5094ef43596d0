// The cluster tp's end-to-end tests run against, taken from the environment: the kubeconfig in
// $TP_E2E_KUBECONFIG and its current context (or $TP_E2E_CONTEXT). The suite drives it as any
// client would: kubectl, @kubernetes/client-node, and commands in pods through the API's
// pods/exec (client-node's Exec, the same WebSocket path `kubectl exec` takes), so the same code
// serves the sandbox and a real cluster. The laptop (tp as the test user) gets a copy of the
// kubeconfig holding just that context, with file references inlined, readable by that user.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { AppsV1Api, CoreV1Api, Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import { kubectlWith } from '../../helpers/kubectl.js';
import { RUNNING_AS_ROOT, TEST_USER } from '../../helpers/unprivileged.js';

function sourceKubeconfig(): string {
  const file = process.env.TP_E2E_KUBECONFIG;
  if (!file) {
    throw new Error('TP_E2E_KUBECONFIG is not set: the e2e suite needs a cluster. Run `npm run test:e2e -- --kubeconfig FILE` (any cluster; see test/e2e/README.md) or `npm run test:sandbox` (the sandbox)');
  }
  return file;
}

const source = new KubeConfig();
source.loadFromFile(sourceKubeconfig());
if (process.env.TP_E2E_CONTEXT) source.setCurrentContext(process.env.TP_E2E_CONTEXT);

/** The context the suite runs against (what `tp status` reports as its context). */
export const CONTEXT = source.getCurrentContext();
if (!source.getContextObject(CONTEXT)) throw new Error(`TP_E2E_KUBECONFIG has no context ${JSON.stringify(CONTEXT)}`);

/** A directory of this test process that the laptop's user can read (removed on exit). */
const LAPTOP_DIR = laptopDir();

/** Writes a file into LAPTOP_DIR, owned by the laptop's user; returns its path. */
export function writeForLaptop(name: string, content: string): string {
  const file = join(LAPTOP_DIR, name);
  writeFileSync(file, content, { mode: 0o600 });
  if (RUNNING_AS_ROOT) chownSync(file, ...testUserIds());
  return file;
}

/** The laptop's kubeconfig: the one context, with CA and client certificate files inlined. */
export const KUBECONFIG = writeLaptopKubeconfig();

function inline(file: string | undefined): string | undefined {
  return file ? readFileSync(file).toString('base64') : undefined;
}

function writeLaptopKubeconfig(): string {
  const context = source.getContextObject(CONTEXT)!;
  const cluster = source.getCluster(context.cluster);
  if (!cluster) throw new Error(`context ${CONTEXT} names cluster ${context.cluster}, which TP_E2E_KUBECONFIG does not have`);
  const user = context.user ? source.getUser(context.user) : undefined;
  const minified = new KubeConfig();
  minified.loadFromOptions({
    clusters: [{ ...cluster, caFile: undefined, caData: cluster.caData ?? inline(cluster.caFile) }],
    users: user ? [{ ...user, certFile: undefined, keyFile: undefined, certData: user.certData ?? inline(user.certFile), keyData: user.keyData ?? inline(user.keyFile) }] : [],
    contexts: [context],
    currentContext: CONTEXT,
  });
  return writeForLaptop('kubeconfig', minified.exportConfig());
}

function testUserIds(): [number, number] {
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, TEST_USER], { encoding: 'utf8' }).trim()));
  return [uid!, gid!];
}

function laptopDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tp-e2e-cluster-'));
  if (RUNNING_AS_ROOT) chownSync(dir, ...testUserIds());
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  return kc;
}

export function coreApi(): CoreV1Api {
  return kubeConfig().makeApiClient(CoreV1Api);
}

export function appsApi(): AppsV1Api {
  return kubeConfig().makeApiClient(AppsV1Api);
}

export function kubectl(args: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  return kubectlWith(KUBECONFIG, args, options);
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The exit code a pods/exec Status reports (Success, or NonZeroExitCode with cause ExitCode). */
export function exitCodeOf(status: V1Status): number | undefined {
  if (status.status === 'Success') return 0;
  if (status.reason !== 'NonZeroExitCode') return undefined;
  const code = Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message);
  return Number.isInteger(code) ? code : undefined;
}

/**
 * Runs argv in the pod's (only or default-named) container through pods/exec, never rejecting on a
 * non-zero exit; rejects when the exec itself fails (no such pod, forbidden, no status, timeout).
 */
export async function execInPod(pod: string, argv: string[], namespace = 'default', timeoutMs = 20_000, container?: string): Promise<ExecResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');
  const sink = (into: Buffer[]) => new Writable({ write(chunk: Buffer, _encoding, done) { into.push(chunk); done(); } });
  let status: V1Status | undefined;
  const ws = await new Exec(kubeConfig()).exec(namespace, pod, container ?? (await defaultContainer(namespace, pod)), argv, sink(out), sink(err), null, false, (s) => (status = s));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`exec in ${namespace}/${pod} of ${JSON.stringify(argv).slice(0, 200)} did not end within ${timeoutMs} ms; stdout so far: ${text(out).slice(-500)}`));
    }, timeoutMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const code = status ? exitCodeOf(status) : undefined;
  if (code === undefined) throw new Error(`exec in ${namespace}/${pod} failed: ${status ? `${status.reason ?? ''} ${status.message ?? ''}` : 'the connection closed without a status'}; stderr: ${text(err).slice(-500)}`);
  return { code, stdout: text(out), stderr: text(err) };
}

/** What kubectl picks: the kubectl.kubernetes.io/default-container annotation, else the first container. */
async function defaultContainer(namespace: string, name: string): Promise<string> {
  const pod = await coreApi().readNamespacedPod({ namespace, name });
  return pod.metadata?.annotations?.['kubectl.kubernetes.io/default-container'] ?? pod.spec!.containers[0]!.name;
}
