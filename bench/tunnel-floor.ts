// Benchmark floor (not tp): the cheapest Node forwarding with tp's shape, to tell what Node itself
// costs per stream open from what tp adds. Two roles, each its own process:
//   exit <target port>  accepts one trunk connection; per OPEN dials 127.0.0.1:<target port>
//   entry <exit port>   connects the trunk; per accepted client sends OPEN and relays
// joined by one TCP connection carrying 9-byte-header frames (type, stream id, length): OPEN,
// DATA, FIN, RESET. No handshake, auth, windows, OPEN-OK, keep-alive or timers; the trunk's writes
// of one event-loop task go out as one writev (cork/uncork), as tp's do. Loopback only, trusted
// peer: lengths are checked but nothing else is. `pipe <target port>` is the one-process floor:
// accept, connect, pipe both ways. Prints {"port": n}.
import net from 'node:net';

const [role, portText] = process.argv.slice(2);
const targetPort = Number(portText);
const OPEN = 0;
const DATA = 1;
const FIN = 2;
const RESET = 3;
const HEADER = 9;
const MAX_PAYLOAD = 1024 * 1024;

type Send = (type: number, id: number, payload?: Buffer) => boolean;

/** One trunk: frames out (corked per task) and frames in (parsed from its data). send says false while the trunk is backed up. */
function trunk(socket: net.Socket, onFrame: (type: number, id: number, payload: Buffer) => void): Send {
  socket.setNoDelay(true);
  let corked = false;
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    let data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (data.length >= HEADER) {
      const length = data.readUInt32BE(5);
      if (length > MAX_PAYLOAD) throw new Error(`frame of ${length} bytes`);
      if (data.length < HEADER + length) break;
      onFrame(data[0], data.readUInt32BE(1), data.subarray(HEADER, HEADER + length));
      data = data.subarray(HEADER + length);
    }
    pending = data;
  });
  return (type, id, payload) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    const header = Buffer.allocUnsafe(HEADER);
    header[0] = type;
    header.writeUInt32BE(id, 1);
    header.writeUInt32BE(payload?.length ?? 0, 5);
    const ok = socket.write(header);
    return payload ? socket.write(payload) : ok;
  };
}

/** Relays one local socket as stream `id` over the trunk; the trunk backs it up (no windows). */
function relay(socket: net.Socket, id: number, send: Send, trunkSocket: net.Socket, streams: Map<number, net.Socket>): void {
  streams.set(id, socket);
  socket.on('data', (chunk: Buffer) => {
    if (send(DATA, id, chunk)) return;
    socket.pause();
    trunkSocket.once('drain', () => socket.resume());
  });
  socket.on('end', () => send(FIN, id));
  socket.on('error', () => send(RESET, id));
  socket.on('close', () => streams.delete(id));
}

/** A frame for a local socket; a socket that cannot take more holds the whole trunk (head-of-line, fine for a floor). */
function deliver(streams: Map<number, net.Socket>, trunkSocket: net.Socket, type: number, id: number, payload: Buffer): void {
  const socket = streams.get(id);
  if (!socket) return;
  if (type === DATA) {
    if (socket.write(payload)) return;
    trunkSocket.pause();
    socket.once('drain', () => trunkSocket.resume());
  } else if (type === FIN) socket.end();
  else if (type === RESET) socket.resetAndDestroy();
}

function listen(server: net.Server): void {
  server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: (server.address() as net.AddressInfo).port }) + '\n'));
}

if (role === 'exit') {
  const streams = new Map<number, net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    server.close();
    const send = trunk(socket, (type, id, payload) => {
      if (type !== OPEN) return deliver(streams, socket, type, id, payload);
      relay(net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true }), id, send, socket, streams);
    });
  });
  listen(server);
} else if (role === 'entry') {
  const streams = new Map<number, net.Socket>();
  let nextId = 1;
  const trunkSocket = net.connect({ host: '127.0.0.1', port: targetPort });
  const send = trunk(trunkSocket, (type, id, payload) => deliver(streams, trunkSocket, type, id, payload));
  trunkSocket.once('connect', () => {
    listen(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        const id = nextId++;
        send(OPEN, id);
        relay(socket, id, send, trunkSocket, streams);
      }),
    );
  });
} else {
  listen(
    net.createServer({ allowHalfOpen: true }, (client) => {
      const target = net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
      client.pipe(target);
      target.pipe(client);
      client.on('error', () => target.resetAndDestroy());
      target.on('error', () => client.resetAndDestroy());
    }),
  );
}
process.on('SIGTERM', () => process.exit(0));
