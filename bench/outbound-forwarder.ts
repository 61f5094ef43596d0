// The `ssh -D` comparison's hop to the cluster, a separate process run as the laptop user: a TCP
// listener on 127.0.0.1 that opens one Kubernetes API port-forward per accepted connection to a
// pod's port (tp's own src/k8s/port-forward.ts, i.e. client-node's PortForward, the same path the
// tp daemon takes to the manager) and joins the two. It is what `kubectl port-forward` does, in
// the same runtime as tp, so the comparison isolates tp's proxies and tunnel from the API hop.
//   tsx bench/outbound-forwarder.ts <namespace> <pod> <port>
// Prints {"port": n} on stdout when listening; exits on SIGTERM or when stdin closes.
// Leaves out reconnecting and several ports. Used by bench/outbound-ssh.ts.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { loadKubeConfig } from '../src/k8s/kubeconfig.js';
import { openPortForward } from '../src/k8s/port-forward.js';
import { pipeBothWays } from '../src/net/pipe.js';

const [namespace, pod, portText] = process.argv.slice(2);
const podPort = Number(portText);
if (!namespace || !pod || !Number.isInteger(podPort) || podPort < 1 || podPort > 65_535) {
  console.error('usage: tsx bench/outbound-forwarder.ts <namespace> <pod> <port>');
  process.exit(2);
}

const kc = loadKubeConfig();
const open = new Set<Socket>();

const server = createServer((laptopSocket) => {
  open.add(laptopSocket);
  laptopSocket.once('close', () => open.delete(laptopSocket));
  laptopSocket.setNoDelay(true);
  laptopSocket.pause();
  openPortForward(kc, namespace, pod, podPort).then(
    (toPod: Duplex) => {
      if (laptopSocket.destroyed) return void toPod.destroy();
      pipeBothWays(laptopSocket, toPod, (error) => {
        if (error) console.error(`forwarder: connection ended: ${error.message}`);
      });
      laptopSocket.resume();
    },
    (error: unknown) => {
      console.error(`forwarder: ${(error as Error).message}`);
      laptopSocket.destroy();
    },
  );
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});

function stop(): void {
  server.close();
  for (const socket of open) socket.destroy();
  setTimeout(() => process.exit(0), 200).unref();
}
process.once('SIGTERM', stop);
process.stdin.once('end', stop);
process.stdin.resume();
