// Per-user credentials for the laptop's front doors, for where the daemon cannot learn who owns a
// connection (owner-gate.ts says when): a random secret in a 0600 file in the user's own state
// directory, which clients present as SOCKS5 username/password (RFC 1929) or as HTTP
// `Proxy-Authorization: Basic`. Only the user (and root) can read the file, so only they can prove
// themselves. The secret stays the same across reconnects, like the ports, so an exported
// HTTPS_PROXY keeps working. Leaves out each protocol's exchange: the doors do that.
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tokensEqual } from '../tunnel/auth.js';

/** The user name clients send; the secret is the password. */
export const DOOR_USER = 'tp';
const SECRET_BYTES = 24;

export interface DoorCredentials {
  readonly user: string;
  readonly password: string;
}

/**
 * The secret in `file`, made on first use. A file anyone but its owner can read or write is not
 * trusted: it is replaced by a new secret with the right mode.
 */
export function loadDoorCredentials(file: string): DoorCredentials {
  const existing = readPrivate(file);
  if (existing) return { user: DOOR_USER, password: existing };
  const password = randomBytes(SECRET_BYTES).toString('base64url');
  // Removed first: an existing file keeps its mode when rewritten, and readPrivate refused it.
  rmSync(file, { force: true });
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, `${password}\n`);
  } finally {
    closeSync(fd);
  }
  return { user: DOOR_USER, password };
}

function readPrivate(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const stat = fstatSync(fd);
    if ((stat.mode & 0o077) !== 0 || stat.uid !== process.getuid?.() || stat.size > 1024) return undefined;
    const secret = readFileSync(fd, 'latin1').trim();
    return /^[A-Za-z0-9_-]{32}$/.test(secret) ? secret : undefined;
  } finally {
    closeSync(fd);
  }
}

/** Constant-time comparison of what a client sent with the credentials (bytes read as latin1, one char each). */
export function credentialsMatch(expected: DoorCredentials, user: Buffer | string, password: Buffer | string): boolean {
  return tokensEqual(text(user), expected.user) && secretMatches(expected, password);
}

/** Constant-time check of the secret alone (the PAC URL's key). */
export function secretMatches(expected: DoorCredentials, candidate: Buffer | string): boolean {
  return tokensEqual(text(candidate), expected.password);
}

/** True when a `Proxy-Authorization` header value carries the credentials (Basic scheme). */
export function proxyAuthorizationMatches(expected: DoorCredentials, header: string | undefined): boolean {
  const match = /^\s*basic\s+([A-Za-z0-9+/=]{1,1024})\s*$/i.exec(header ?? '');
  if (!match) return false;
  const decoded = Buffer.from(match[1], 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  return colon !== -1 && credentialsMatch(expected, decoded.slice(0, colon), decoded.slice(colon + 1));
}

/** "user:password@" for a proxy URL (the secret is URL-safe base64, so nothing needs escaping). */
export function urlUserInfo(credentials: DoorCredentials | undefined): string {
  return credentials ? `${credentials.user}:${credentials.password}@` : '';
}

function text(value: Buffer | string): string {
  return typeof value === 'string' ? value : value.toString('latin1');
}
