// The API forwarder: a TCP listener in the node netns (198.18.0.1:6443, where the `kubernetes`
// Service's ClusterIP is DNAT'd) piping raw bytes to the API server's unix socket. TLS stays end to
// end between the pod and the API server. Leaves out any inspection of the bytes. Used by the node
// agent.
import net from 'node:net';
import debug from 'debug';

const log = debug('tp:sandbox:api-forwarder');

export interface ApiForwarder { close(): Promise<void> }

export async function startApiForwarder(options: { address: string; port: number; apiSocketPath: string }): Promise<ApiForwarder> {
  const sockets = new Set<net.Socket>();
  let nextId = 0;
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    const id = ++nextId;
    track(client);
    const upstream = net.connect(options.apiSocketPath);
    track(upstream);
    log('-> %d from %s', id, client.remoteAddress);
    client.pipe(upstream).pipe(client);
    const fail = (error: Error): void => {
      log('!! %d %s', id, error.message);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail);
    upstream.on('error', fail);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.address, () => resolve());
  });
  let closing: Promise<void> | undefined;
  return {
    close: () => (closing ??= new Promise((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    })),
  };
}
