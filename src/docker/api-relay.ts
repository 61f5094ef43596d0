// The host's side of a kubeconfig whose API server is on the host's loopback (kind, minikube, a
// local cluster): a small process of the user's that relays the containers' gateway address to
// the server, TLS and all (the daemon in the container checks the server's certificate as
// before; the relay sees only ciphertext). It prints its port on stdout for tp connect, and ends
// when the connection's folder is gone (tp quit) or when told to (SIGTERM).
import { existsSync } from 'node:fs';
import { startForward } from './forward.js';

const WATCH_MS = 2000;

export async function runApiRelay(listen: string, to: string, dir: string): Promise<void> {
  const [toHost, toPort] = splitHostPort(to);
  const [listenHost, listenPort] = splitHostPort(listen);
  const { port } = await startForward({ listenHost, listenPort, toHost, toPort });
  process.stdout.write(`${port}\n`);
  setInterval(() => {
    if (!existsSync(dir)) process.exit(0);
  }, WATCH_MS);
  await new Promise<never>(() => undefined);
}

function splitHostPort(value: string): [string, number] {
  const at = value.lastIndexOf(':');
  return [value.slice(0, at).replace(/^\[|\]$/g, ''), Number(value.slice(at + 1))];
}
