// The laptop's front doors let in only their own user: a connection (or datagram) whose socket
// belongs to another uid on this machine is refused, with one log line, so another account cannot
// ride the developer's cluster access through the proxies and the DNS stub. Who owns a socket comes
// from peer-owner.ts. Where that cannot be known (no /proc/net: not Linux) the check is skipped
// with one warning; `allowOtherUsers` (the daemon's TP_ALLOW_OTHER_USERS=1) turns it off on purpose.
// Leaves out each protocol's own way of refusing: the doors do that.
import type { Socket } from 'node:net';
import { logger } from '../log/logger.js';
import { peerOwnerSupported, tcpPeerUid, udpSourceUid, type Endpoint } from './peer-owner.js';

const log = logger('tp:proxy:owner');

/** Set to 1 in the daemon's environment to let every local user through its doors (dangerous). */
export const ALLOW_OTHER_USERS_ENV = 'TP_ALLOW_OTHER_USERS';

export interface OwnerGate {
  /** True when the peer of this accepted connection is the daemon's own user. */
  admitsConnection(socket: Socket, door: string): Promise<boolean>;
  /** True when the socket this datagram came from is the daemon's own user's. */
  admitsDatagram(source: Endpoint, door: string): Promise<boolean>;
}

/** Lets everyone in: for doors with the check switched off or impossible. */
export const OPEN_GATE: OwnerGate = { admitsConnection: async () => true, admitsDatagram: async () => true };

/** The gate for this process's own uid, or OPEN_GATE (with one warning) where it is off or unsupported. */
export async function createOwnerGate(options: { allowOtherUsers: boolean }): Promise<OwnerGate> {
  if (options.allowOtherUsers) {
    log.warn('%s=1: every user on this machine may use the proxies and the DNS stub, and with them your cluster access', ALLOW_OTHER_USERS_ENV);
    return OPEN_GATE;
  }
  const uid = process.getuid?.();
  if (uid === undefined || !(await peerOwnerSupported())) {
    log.warn('cannot tell which user owns a connection on this platform (no /proc/net/tcp): the local doors do not check who is calling');
    return OPEN_GATE;
  }
  return createUidGate(uid);
}

/** A gate that admits only `uid`. */
export function createUidGate(uid: number): OwnerGate {
  const decide = (owner: number | undefined, door: string, client: string): boolean => {
    if (owner === uid) return true;
    const who = owner === undefined ? 'an unknown user (its socket is gone)' : `uid ${owner}`;
    log.info('!! %s refused %s: it belongs to %s, and only uid %d (the user running tp) may use it', door, client, who, uid);
    return false;
  };
  return {
    async admitsConnection(socket, door) {
      const local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
      const remote = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
      return decide(await tcpPeerUid(local, remote).catch(() => undefined), door, `${remote.address}:${remote.port}`);
    },
    async admitsDatagram(source, door) {
      return decide(await udpSourceUid(source).catch(() => undefined), door, `${source.address}:${source.port}`);
    },
  };
}

/** The text an HTTP door sends with its 403. */
export const NOT_YOUR_DOOR =
  'tp: this proxy belongs to another user on this machine; only the user who ran `tp connect` may use it. ' +
  'Run your own `tp connect`, or ask its owner to start it with TP_ALLOW_OTHER_USERS=1 to share it (dangerous: it shares their cluster access).\n';
