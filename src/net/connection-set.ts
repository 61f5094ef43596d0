// A listener's life: starting it (`listen`), and the open connections of it, so close() can wait
// for them to drain and destroy() can end them. Used by the SOCKS5 server, the HTTP proxy and the
// DNS stub's TCP side. Leaves out accepting connections (the server owns that).
import type { AddressInfo, Server } from 'node:net';

/** Listens on host:port (default 127.0.0.1 and any free port); rejects with the bind error. */
export function listen(server: Server, port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

interface Destroyable {
  destroy(error?: Error): unknown;
  once(event: 'close', listener: () => void): unknown;
}

export class ConnectionSet {
  private readonly open = new Set<Destroyable>();
  private emptyWaiters: (() => void)[] = [];

  get size(): number {
    return this.open.size;
  }

  add(connection: Destroyable): void {
    this.open.add(connection);
    connection.once('close', () => {
      this.open.delete(connection);
      if (this.open.size === 0) {
        const waiters = this.emptyWaiters;
        this.emptyWaiters = [];
        for (const resolve of waiters) resolve();
      }
    });
  }

  /** Resolves when no connection is open. */
  whenEmpty(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  destroyAll(): void {
    for (const connection of this.open) connection.destroy();
  }
}

/**
 * Stops the server accepting, waits up to `timeoutMs` for the connections to finish, then
 * destroys the rest. `onStopAccepting` runs right after the listener closes (the HTTP proxy ends
 * idle keep-alive connections there).
 */
export async function closeGracefully(
  server: Server,
  connections: ConnectionSet,
  timeoutMs: number,
  onStopAccepting?: () => void,
): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    if (!server.listening) resolve();
    else server.close(() => resolve());
  });
  onStopAccepting?.();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([connections.whenEmpty(), timedOut]);
  clearTimeout(timer);
  connections.destroyAll();
  await closed;
}
