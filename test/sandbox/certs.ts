// The sandbox's PKI, made with the openssl CLI: a CA, the API server's certificate (names and IPs
// by which hosts and pods reach it: 127.0.0.1, localhost, kubernetes.default.svc…, 198.19.0.1,
// 198.18.0.1) and certificates for demo services, all ECDSA P-256 signed by the CA. Leaves out
// rotation and client certificates (users authenticate with bearer tokens). Used by sandbox.ts.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const CA_DAYS = 3650;
const LEAF_DAYS = 825;

export const API_SERVER_NAMES = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
export const API_SERVER_IPS = ['127.0.0.1', '198.19.0.1', '198.18.0.1'];

export interface KeyPair {
  cert: string;
  key: string;
}

export class CertificateError extends Error {
  readonly code = 'SANDBOX_CERTS';
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { timeout: 30_000 });
  } catch (error) {
    throw new CertificateError(`openssl ${args[0]} failed: ${(error as { stderr?: string }).stderr ?? String(error)}`, { cause: error });
  }
}

/** A self-signed CA for the sandbox. */
export async function createCa(commonName = 'tp-sandbox-ca'): Promise<KeyPair> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tpsbx-ca-'));
  try {
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', String(CA_DAYS),
      '-subj', `/CN=${commonName}`, '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.crt'),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    return { cert: await readFile(path.join(dir, 'ca.crt'), 'utf8'), key: await readFile(path.join(dir, 'ca.key'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A server certificate for `dnsNames` and `ips`, signed by `ca`. */
export async function issueServerCert(ca: KeyPair, commonName: string, dnsNames: string[], ips: string[] = []): Promise<KeyPair> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tpsbx-cert-'));
  try {
    const at = (name: string): string => path.join(dir, name);
    await writeFile(at('ca.crt'), ca.cert);
    await writeFile(at('ca.key'), ca.key, { mode: 0o600 });
    const sans = [...dnsNames.map((n) => `DNS:${n}`), ...ips.map((ip) => `IP:${ip}`)].join(',');
    await writeFile(at('ext.cnf'), [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${sans}`,
      '',
    ].join('\n'));
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${commonName}`,
      '-keyout', at('leaf.key'), '-out', at('leaf.csr')]);
    await openssl(['x509', '-req', '-in', at('leaf.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial',
      '-days', String(LEAF_DAYS), '-extfile', at('ext.cnf'), '-out', at('leaf.crt')]);
    return { cert: await readFile(at('leaf.crt'), 'utf8'), key: await readFile(at('leaf.key'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
