// The host's side of a Docker-mode connection, a small process of the user's that the
// container reaches at its bridge gateway: a relay to a kubeconfig's API server on the host's
// loopback (kind, minikube, a local cluster), TLS and all (the daemon in the container checks the
// server's certificate as before; the relay sees only ciphertext), and the user's exec credential
// plugin run on request (credentials.ts). It prints its ports as one JSON line for tp connect, and
// ends when the connection's folder is gone (tp quit) or when told to (SIGTERM).
import { existsSync, readFileSync } from 'node:fs';
import { startCredentialsServer, type ExecPlugin } from './credentials.js';
import { startForward } from './forward.js';

const WATCH_MS = 2000;

export interface CompanionOptions {
  listenHost: string;
  /** The API server's host:port on this machine, when it is on loopback. */
  to?: string;
  /** The user's exec plugin and the secret file callers must show. */
  plugin?: ExecPlugin;
  secretFile?: string;
  dir: string;
}

export async function runCompanion(options: CompanionOptions): Promise<void> {
  const ports: { relay?: number; credentials?: number } = {};
  if (options.to) {
    const at = options.to.lastIndexOf(':');
    ports.relay = (await startForward({ listenHost: options.listenHost, listenPort: 0, toHost: options.to.slice(0, at), toPort: Number(options.to.slice(at + 1)) })).port;
  }
  if (options.plugin && options.secretFile) {
    ports.credentials = (await startCredentialsServer(options.listenHost, options.plugin, readFileSync(options.secretFile, 'utf8').trim())).port;
  }
  process.stdout.write(`${JSON.stringify(ports)}\n`);
  setInterval(() => {
    if (!existsSync(options.dir)) process.exit(0);
  }, WATCH_MS);
  await new Promise<never>(() => undefined);
}
