// Listening on a Unix socket only its user may reach: a stale socket file from a daemon that died
// is removed first, and the new one is made 0600 (it lives in the user's 0700 runtime dir too).
// Used by the name query socket and the capture socket.
import { chmodSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';

export async function listenPrivately(server: Server, socketPath: string): Promise<void> {
  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
}
