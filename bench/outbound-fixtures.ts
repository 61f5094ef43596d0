// The outbound benchmark's cluster side: a namespace `tp-bench` in the sandbox with the HTTP bulk
// server (bench/fixtures/bulk-server.mjs) behind the Service `bulk`, an OpenSSH server pod for the
// `ssh -D` comparison (a host key and an authorized key generated per run, in a directory only
// this run uses), and an idle client pod from which the direct in-cluster figures are taken.
// The sandbox's debian* images run their command with the host's programs, so the pods run this
// checkout's files and /usr/sbin/sshd directly. Leaves out starting the sandbox and tp: see
// outbound.ts. Used by bench/outbound.ts.
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { podExecArgv } from '../test/sandbox/pod-exec.js';
import { coreApi, kubectl, paths as sandboxPaths } from '../test/sandbox/e2e/sandbox-client.js';

const execFileAsync = promisify(execFile);

export const BENCH_NAMESPACE = 'tp-bench';
export const BULK_SERVICE = 'bulk';
export const BULK_SERVICE_PORT = 80;
export const BULK_CONTAINER_PORT = 8080;
export const SSHD_POD = 'sshd';
export const SSHD_PORT = 22;
export const CLIENT_POD = 'client';
const BULK_POD = 'bulk';
const BULK_SERVER = fileURLToPath(new URL('fixtures/bulk-server.mjs', import.meta.url));
const READY_TIMEOUT = '60s';

export interface Fixtures {
  /** The bulk Service's ClusterIP: every path targets http://<this>:80 so no DNS is measured. */
  bulkClusterIP: string;
  /** Private key the ssh client logs in with, owned by `clientUser`. */
  sshKey: string;
}

export class FixtureError extends Error {
  readonly code = 'TP_BENCH_FIXTURES';
}

/**
 * Generates the ssh keys into `keyDir` (the caller's to remove), (re)creates the namespace with
 * its pods and Service, and waits until they are ready.
 */
export async function deployFixtures(keyDir: string, clientUser: { uid: number; gid: number }): Promise<Fixtures> {
  await removeFixtures();
  chmodSync(keyDir, 0o755);
  const hostKey = join(keyDir, 'host_key');
  const clientKeyRoot = join(keyDir, 'client_key_source');
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tp-bench-host', '-f', hostKey]);
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tp-bench-client', '-f', clientKeyRoot]);
  copyFileSync(`${clientKeyRoot}.pub`, join(keyDir, 'authorized_keys'));
  // ssh refuses a private key its user does not own or others can read.
  const sshKey = join(keyDir, 'client_key');
  copyFileSync(clientKeyRoot, sshKey);
  chownSync(sshKey, clientUser.uid, clientUser.gid);
  chmodSync(sshKey, 0o600);

  await kubectl(['apply', '-f', '-'], { input: manifests(keyDir).map((object) => JSON.stringify(object)).join('\n') });
  for (const pod of [BULK_POD, SSHD_POD, CLIENT_POD]) {
    await kubectl(['wait', '-n', BENCH_NAMESPACE, '--for=condition=Ready', `pod/${pod}`, `--timeout=${READY_TIMEOUT}`], { timeoutMs: 70_000 });
  }
  const service = await coreApi().readNamespacedService({ name: BULK_SERVICE, namespace: BENCH_NAMESPACE });
  const bulkClusterIP = service.spec?.clusterIP;
  if (!bulkClusterIP) throw new FixtureError(`Service ${BENCH_NAMESPACE}/${BULK_SERVICE} has no cluster IP`);
  return { bulkClusterIP, sshKey };
}

/** argv (run as root) that executes `argv` inside the client pod's network namespace. */
export function inClientPod(argv: string[]): Promise<string[]> {
  return podExecArgv({ pod: CLIENT_POD, namespace: BENCH_NAMESPACE, argv }, sandboxPaths);
}

/** Deletes the namespace and so every fixture; nothing to do when it is absent. */
export async function removeFixtures(): Promise<void> {
  await kubectl(['delete', 'namespace', BENCH_NAMESPACE, '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
}

/** The fixtures, namespace first, applied as a stream of JSON objects. */
function manifests(keyDir: string): object[] {
  const debianPod = (name: string, command: string[], extra: Record<string, unknown>) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: BENCH_NAMESPACE, labels: { app: `tp-bench-${name}` } },
    spec: { restartPolicy: 'Always', containers: [{ name, image: 'debian:bookworm', command, ...extra }] },
  });
  const sshd = [
    '/usr/sbin/sshd', '-D', '-e', '-f', '/dev/null', '-p', String(SSHD_PORT),
    '-o', `HostKey=${join(keyDir, 'host_key')}`,
    '-o', `AuthorizedKeysFile=${join(keyDir, 'authorized_keys')}`,
    '-o', 'StrictModes=no', '-o', 'PermitRootLogin=prohibit-password', '-o', 'UsePAM=no',
    '-o', 'PidFile=none', '-o', 'AllowTcpForwarding=yes', '-o', 'LogLevel=ERROR',
  ];
  return [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: BENCH_NAMESPACE } },
      debianPod(BULK_POD, [process.execPath, BULK_SERVER], {
        env: [{ name: 'PORT', value: String(BULK_CONTAINER_PORT) }],
        ports: [{ name: 'http', containerPort: BULK_CONTAINER_PORT }],
        readinessProbe: { httpGet: { path: '/small', port: 'http' }, periodSeconds: 1 },
      }),
      // sshd wants its privilege-separation directory; the pod sees the host's /run.
      debianPod(SSHD_POD, ['sh', '-c', 'mkdir -p /run/sshd && exec "$@"', 'sshd', ...sshd], {
        ports: [{ name: 'ssh', containerPort: SSHD_PORT }],
        readinessProbe: { tcpSocket: { port: 'ssh' }, periodSeconds: 1 },
      }),
      debianPod(CLIENT_POD, ['sleep', 'infinity'], {}),
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: BULK_SERVICE, namespace: BENCH_NAMESPACE },
        spec: { selector: { app: `tp-bench-${BULK_POD}` }, ports: [{ name: 'http', port: BULK_SERVICE_PORT, targetPort: 'http' }] },
      },
  ];
}
