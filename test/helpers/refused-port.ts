// A loopback port that refuses connections, for tests of refused dials. A port taken with
// listen(0) and released can be taken again by any other test running in parallel, since every
// listener and outgoing connection in the suite gets its port from the same ephemeral range
// (32768-60999 on Linux); then the "refused" dial connects and the test fails for no reason. A
// port below 1024 is never handed out that way and only root can bind it, and the suite binds
// none, so one found refusing stays refusing.
import { connect } from 'node:net';

const CANDIDATES = [9, 7, 13, 19, 37, 79, 113, 119];

/** The first of a few well-known low ports that refuses a connection on 127.0.0.1 now. */
export async function refusedPort(): Promise<number> {
  for (const port of CANDIDATES) if (await refuses(port)) return port;
  throw new Error(`every one of the ports ${CANDIDATES.join(', ')} accepts connections on 127.0.0.1; refused-dial tests need one that does not`);
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}
