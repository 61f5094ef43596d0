// Bearer-token checks for the tunnel's WebSocket upgrade: parse `Authorization: Bearer <token>`,
// and compare a presented token with the expected one in constant time (SHA-256 digests compared
// with crypto.timingSafeEqual, so neither content nor length leaks through timing). The server
// takes any `authenticate(token)` hook; tokenAuthenticator is the default for a shared secret.
// Tokens are never logged or put into error messages.
import { createHash, timingSafeEqual } from 'node:crypto';
import { TunnelError } from './errors.js';

/** Returns who the token belongs to, or null to refuse it. May be async. */
export type Authenticate<Identity> = (token: string) => Identity | null | Promise<Identity | null>;

const BEARER = /^Bearer[ ]+([^\s]+)\s*$/i;

/** The token in an Authorization header value, or null when there is none. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = BEARER.exec(header);
  return match ? match[1] : null;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export function tokensEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** An authenticate hook accepting exactly `expected`, naming the peer `identity`. */
export function tokenAuthenticator<Identity = string>(expected: string, identity: Identity): Authenticate<Identity> {
  if (expected.length === 0) throw new TunnelError('TP_ERR_TUNNEL_INVALID_ARGUMENT', 'the expected tunnel token is empty');
  const expectedDigest = digest(expected);
  return (token) => (timingSafeEqual(digest(token), expectedDigest) ? identity : null);
}
