// One of the intercepted path's three tp processes for bench/intercept-local.ts, as a process of
// its own on loopback, running a checkout's own code (the first argument: its root, so the same
// script runs this checkout and a base one side by side):
//   manager <root>                   a tunnel server; each stream an agent session opens is spliced
//                                    to a new stream on the daemon session, as the manager's
//                                    intercept splice does. Prints {"url"}.
//   agent <root> <url>               the traffic-agent's raw forwarding (raw-forwarder.ts) from a
//                                    listener into intercept streams. Prints {"port"}.
//   daemon <root> <url> <echoPort>   the laptop end (local-forwarder.ts) to the echo. Prints {"ready"}.
// Each sets V8's heap growth as the real process does. Leaves out Kubernetes, the port-forward
// hop and TLS (bench:intercept has them): this is tp's own code on the path, for quick A/B runs.
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [role, root, ...rest] = process.argv.slice(2);
const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(root, 'src', file)).href) as Promise<T>;
const AGENT_TOKEN = 'bench-agent';
const DAEMON_TOKEN = 'bench-daemon';
// BENCH_ROLE_MAX_DATA_FRAME (set by intercept-local.ts): the largest DATA payload sent, when given.
const SESSION = { pingIntervalMs: 0, deadPeerTimeoutMs: 0, ...(process.env.BENCH_ROLE_MAX_DATA_FRAME ? { maxDataFrame: Number(process.env.BENCH_ROLE_MAX_DATA_FRAME) } : {}) };

type Tunnel = typeof import('../src/tunnel/index.js');
const tunnel = await load<Tunnel>('tunnel/index.ts');
(await load<typeof import('../src/tunnel/heap-growth.js')>('tunnel/heap-growth.ts')).growHeapForRelaying();
const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');

if (role === 'manager') {
  // The join intercept-service.ts's splice makes (a private method there, so written again here).
  const { pipeBothWays } = await load<typeof import('../src/net/pipe.js')>('net/pipe.ts');
  const server = await tunnel.TunnelServer.listen<'agent' | 'daemon'>({
    authenticate: (token) => (token === AGENT_TOKEN ? 'agent' : token === DAEMON_TOKEN ? 'daemon' : null),
    session: SESSION,
  });
  let daemon: import('../src/tunnel/index.js').Session | null = null;
  server.on('session', (session, who) => {
    if (who === 'daemon') return void (daemon = session);
    session.on('stream', (open) => {
      if (!daemon) return open.reject('unreachable', 'no daemon yet');
      daemon.open({ host: '127.0.0.1', port: 0, metadata: open.metadata }).then(
        (toClient) => (open.settled ? toClient.destroy() : pipeBothWays(open.accept(), toClient, () => undefined)),
        (error: Error) => open.reject('unreachable', error.message),
      );
    });
  });
  print({ url: server.url });
} else if (role === 'agent') {
  const { forwardToIntercept } = await load<typeof import('../src/agent/raw-forwarder.js')>('agent/raw-forwarder.ts');
  const session = await tunnel.connectTunnel(rest[0], { token: AGENT_TOKEN, session: SESSION });
  let next = 0;
  const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
    const id = `c${++next}`;
    socket.on('error', () => undefined);
    forwardToIntercept(socket, () => session.open({ host: 'tp.intercept', port: 0, metadata: { intercept: 'bench', peer: id } }), { host: '127.0.0.1', port: 9 }, id);
  });
  listener.listen(0, '127.0.0.1', () => print({ port: (listener.address() as net.AddressInfo).port }));
} else if (role === 'daemon') {
  const { forwardToLaptop } = await load<typeof import('../src/intercept/daemon/local-forwarder.js')>('intercept/daemon/local-forwarder.ts');
  const session = await tunnel.connectTunnel(rest[0], { token: DAEMON_TOKEN, session: SESSION });
  const target = { name: 'bench', laptopAddress: '127.0.0.1', laptopPort: Number(rest[1]), setWarning: () => undefined };
  session.on('stream', (open) => forwardToLaptop(open, target));
  print({ ready: true });
} else {
  throw new Error(`unknown role ${role}`);
}

// An exit of its own, so that node --cpu-prof writes the profile.
process.on('SIGTERM', () => process.exit(0));
