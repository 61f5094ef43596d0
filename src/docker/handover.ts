// The host's way into a Docker-mode daemon for connections it cannot publish: the daemon's capture
// socket (src/run/daemon/capture-listener.ts), a 0600 Unix socket in the connection's 0700 folder,
// which the container mounts, so only the user (and root) reaches it. A hand-over is one header
// line, "tp-capture 1 <ipv4> <port>" or "tp-capture 1 dns 53" (the daemon's DNS stub over TCP);
// the daemon routes and dials the target from the container's network as for a joined container,
// says 'O' (connected) or 'R' (refused), and then both directions travel in frames
// (src/capture/frames.ts), which keep a FIN and a reset apart. Used by the companion's DNS stub
// (dns-door.ts) and its redirect listener for `tp run` (host-shims.ts).
// Leaves out IPv6 and names as targets: the header carries IPv4 addresses only (the shims resolve
// names first, through the daemon's name socket).
import { createConnection, isIPv4 } from 'node:net';
import { FramedStream } from '../capture/frames.js';
import type { DialTarget } from '../proxy/dial.js';

/** The daemon dials the target before it answers; its own dial deadlines come first. */
export const HANDOVER_TIMEOUT_MS = 30_000;
const OPENED = 0x4f; // 'O'

/** Opens a connection to `target` through the daemon's capture socket; resolves with it once the daemon connected it. */
export function handOver(captureSocket: string, target: DialTarget | 'dns', timeoutMs = HANDOVER_TIMEOUT_MS): Promise<FramedStream> {
  if (target !== 'dns' && !isIPv4(target.host)) return Promise.reject(new Error(`the Docker-mode daemon takes IPv4 addresses only, not ${target.host}`));
  const header = target === 'dns' ? 'tp-capture 1 dns 53\n' : `tp-capture 1 ${target.host} ${target.port}\n`;
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: captureSocket, allowHalfOpen: true });
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`the daemon did not take the connection within ${timeoutMs} ms`)), timeoutMs);
    const onError = (error: Error): void => fail(new Error(`cannot reach the daemon's capture socket: ${error.message}`));
    socket.once('error', onError);
    socket.once('connect', () => socket.write(header));
    socket.once('data', (first: Buffer) => {
      if (first[0] !== OPENED) return fail(Object.assign(new Error('the daemon refused the connection'), { code: 'ECONNREFUSED' }));
      clearTimeout(timer);
      socket.off('error', onError);
      const framed = new FramedStream(socket);
      if (first.length > 1) socket.unshift(first.subarray(1));
      resolve(framed);
    });
  });
}
