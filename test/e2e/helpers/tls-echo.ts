// The certificate of the demo's HTTPS service: the Secret `tls-echo-tls` (tls.crt, tls.key and the
// issuing CA as ca.crt) in the default namespace. A cluster that has it already (the sandbox makes
// one at start) keeps it; otherwise the suite issues one with the openssl CLI from a CA of its own.
// Either way the tests verify the service against the Secret's ca.crt, written where the laptop's
// user can read it.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { coreApi, writeForLaptop } from './cluster.js';

const execFileAsync = promisify(execFile);
const SECRET = 'tls-echo-tls';
const NAMES = ['tls-echo', 'tls-echo.default', 'tls-echo.default.svc', 'tls-echo.default.svc.cluster.local'];

/**
 * Makes sure the Secret exists; returns the path of its CA certificate for the laptop, and whether
 * the Secret is new (pods that read an older one must restart to serve it).
 */
export async function ensureTlsEchoSecret(): Promise<{ caFile: string; created: boolean }> {
  let ca = await secretCa();
  const created = ca === undefined;
  if (created) {
    await createSecret();
    ca = await secretCa();
  }
  if (!ca) throw new Error(`Secret default/${SECRET} has no ca.crt: delete it and the suite makes a new one`);
  return { caFile: writeForLaptop('tls-echo-ca.crt', ca), created };
}

async function secretCa(): Promise<string | undefined> {
  try {
    const secret = await coreApi().readNamespacedSecret({ namespace: 'default', name: SECRET });
    return Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString('utf8');
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

async function createSecret(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tp-e2e-tls-'));
  const openssl = (args: string[]) => execFileAsync('openssl', args, { cwd: dir, timeout: 30_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  try {
    await openssl(['req', '-x509', ...ec, '-days', '30', '-subj', '/CN=tp e2e demo CA', '-keyout', 'ca.key', '-out', 'ca.crt']);
    await openssl(['req', '-new', ...ec, '-subj', `/CN=${NAMES.at(-1)}`, '-keyout', 'tls.key', '-out', 'tls.csr']);
    await writeFile(join(dir, 'san.ext'), `subjectAltName=${NAMES.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
    await openssl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', 'san.ext', '-out', 'tls.crt']);
    const data: Record<string, string> = {};
    for (const name of ['tls.crt', 'tls.key', 'ca.crt']) data[name] = (await readFile(join(dir, name))).toString('base64');
    await coreApi().createNamespacedSecret({ namespace: 'default', body: { metadata: { name: SECRET }, type: 'kubernetes.io/tls', data } }).catch((error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error; // made meanwhile by another run: use that one
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
