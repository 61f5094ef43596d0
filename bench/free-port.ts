// A TCP port on 127.0.0.1 that was free a moment ago, for a benchmark's helper process (sshd, ssh,
// socat) that must be told its port before it starts. Racy by nature (another process may take it
// in between), which a benchmark on its own machine accepts.
import { createServer, type AddressInfo } from 'node:net';

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
