// The laptop's front doors let in only their own user: a connection (or datagram) whose socket
// belongs to another uid on this machine is refused, with one log line, so another account cannot
// ride the developer's cluster access through the proxies and the DNS stub. Who owns a socket comes
// from peer-owner.ts. Where that cannot be known (no /proc/net: not Linux, or
// TP_DOOR_CHECK=credentials, e.g. where connections arrive through a container's published port)
// callers prove themselves instead with the user's secret (door-credentials.ts): the SOCKS5 and
// HTTP doors ask for it, and doors whose protocol carries no credentials (DNS) refuse everyone.
// `allowOtherUsers` (the daemon's TP_ALLOW_OTHER_USERS=1) turns every check off on purpose.
// Leaves out each protocol's own way of refusing: the doors do that.
import type { Socket } from 'node:net';
import { TpError } from '../errors.js';
import { logger } from '../log/logger.js';
import { loadDoorCredentials, type DoorCredentials } from './door-credentials.js';
import { peerOwnerSupported, tcpPeerUid, udpSourceUid, type Endpoint } from './peer-owner.js';

const log = logger('tp:proxy:owner');

/** Set to 1 in the daemon's environment to let every local user through its doors (dangerous). */
export const ALLOW_OTHER_USERS_ENV = 'TP_ALLOW_OTHER_USERS';
/** `owner` (the default where /proc/net/tcp exists) or `credentials` (the default elsewhere). */
export const DOOR_CHECK_ENV = 'TP_DOOR_CHECK';

export interface OwnerGate {
  /**
   * True when the caller of this accepted connection may go on: its peer is the daemon's own
   * user, or (credentials mode) the door asks for credentials itself (`asksCredentials`).
   */
  admitsConnection(socket: Socket, door: string, asksCredentials: boolean): Promise<boolean>;
  /** True when the socket this datagram came from is the daemon's own user's; `local`: where it arrived. */
  admitsDatagram(source: Endpoint, door: string, local?: Endpoint): Promise<boolean>;
  /** Set in credentials mode: what the SOCKS5 and HTTP doors must be shown. */
  readonly credentials?: DoorCredentials;
}

/** Lets everyone in: for doors with the check switched off on purpose. */
export const OPEN_GATE: OwnerGate = { admitsConnection: async () => true, admitsDatagram: async () => true };

export interface GateOptions {
  allowOtherUsers: boolean;
  /** TP_DOOR_CHECK's value: 'owner', 'credentials', or undefined/'' for the platform's default. */
  mode?: string;
  /** Where the credentials secret lives (0600, made on first use). */
  secretFile: string;
}

/** The gate the daemon's doors use, chosen as the module comment says. */
export async function createOwnerGate(options: GateOptions): Promise<OwnerGate> {
  if (options.allowOtherUsers) {
    log.warn('%s=1: every user on this machine may use the proxies and the DNS stub, and with them your cluster access', ALLOW_OTHER_USERS_ENV);
    return OPEN_GATE;
  }
  const mode = options.mode || 'auto';
  if (!['auto', 'owner', 'credentials'].includes(mode)) {
    throw new TpError('TP_ERR_DOOR_CHECK', `${DOOR_CHECK_ENV}=${mode} is not a door check tp knows.`, {
      hints: [`Set ${DOOR_CHECK_ENV} to owner or credentials, or unset it for this platform's default.`],
    });
  }
  const uid = process.getuid?.();
  const ownerKnowable = uid !== undefined && (await peerOwnerSupported());
  if (mode === 'owner' && !ownerKnowable) {
    throw new TpError('TP_ERR_DOOR_CHECK', `${DOOR_CHECK_ENV}=owner, but this system cannot tell which user owns a connection (no /proc/net/tcp).`, {
      hints: [`Unset ${DOOR_CHECK_ENV}: the doors then ask for the per-user credentials that \`tp connect\` prints.`],
    });
  }
  if (mode === 'credentials' || !ownerKnowable) {
    if (mode !== 'credentials') log.warn('cannot tell which user owns a connection here (no /proc/net/tcp): the doors ask for credentials instead');
    return createCredentialsGate(loadDoorCredentials(options.secretFile), ownerKnowable ? uid : undefined);
  }
  return createUidGate(uid);
}

/**
 * The gate where owners cannot be known: doors that ask for credentials let the caller go on to
 * that question; the others (DNS) refuse everyone, logged once, since nothing proves who asks,
 * except sockets known to be `ownUid`'s where owners can be known for some callers (Docker mode:
 * the daemon's own capture listener asks its DNS stub; callers through published ports cannot
 * be known).
 */
export function createCredentialsGate(credentials: DoorCredentials, ownUid?: number): OwnerGate {
  const refusedDoors = new Set<string>();
  const refuse = (door: string): boolean => {
    if (!refusedDoors.has(door)) log.info('!! %s refuses every caller it cannot tell is this user: its protocol carries no credentials (names resolve through the proxies instead)', door);
    refusedDoors.add(door);
    return false;
  };
  return {
    credentials,
    admitsConnection: async (socket, door, asksCredentials) => asksCredentials || (await ownSocket(socket, ownUid)) || refuse(door),
    admitsDatagram: async (source, door, local) => (ownUid !== undefined && (await udpSourceUid(source, local).catch(() => undefined)) === ownUid) || refuse(door),
  };
}

/** True when the socket's peer is known to belong to `ownUid` (the daemon's own user, e.g. its capture listener in Docker mode). */
async function ownSocket(socket: Socket, ownUid: number | undefined): Promise<boolean> {
  if (ownUid === undefined) return false;
  const local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
  const remote = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  return (await tcpPeerUid(local, remote).catch(() => undefined)) === ownUid;
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
    async admitsDatagram(source, door, local) {
      return decide(await udpSourceUid(source, local).catch(() => undefined), door, `${source.address}:${source.port}`);
    },
  };
}

/** The text an HTTP door sends with its 403. */
export const NOT_YOUR_DOOR =
  'tp: this proxy belongs to another user on this machine; only the user who ran `tp connect` may use it. ' +
  'Run your own `tp connect`, or ask its owner to start it with TP_ALLOW_OTHER_USERS=1 to share it (dangerous: it shares their cluster access).\n';
