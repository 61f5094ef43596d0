// Removes hop-by-hop headers (RFC 9110 §7.6.1) before an HTTP intermediary forwards a message:
// the standard ones, the ones the Connection header lists, and, for a forward proxy, every
// Proxy-* header (meant for that proxy alone), but never a header that frames or routes the
// message. Used by the HTTP proxy and the traffic-agent's per-request router.
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection']);
/** Never removed because Connection lists them: the message was framed and routed by them, and
 *  without them the next hop would read its body as the next request (request smuggling). */
export const FRAMING_HEADERS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'host']);

/** The tokens of a Connection value (several header lines joined with commas), in lower case. */
function connectionTokens(connection: string | undefined): string[] {
  return String(connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
}

/** The framing or routing header a Connection value lists, which no hop may drop (the HTTP proxy refuses such a message), or undefined. */
export function framingListedIn(connection: string | undefined): string | undefined {
  return connectionTokens(connection).find((name) => FRAMING_HEADERS.has(name));
}

export function stripHopByHop(headers: IncomingHttpHeaders, options: { proxyHeaders?: boolean } = {}): void {
  const listed = connectionTokens(headers.connection).filter((name) => !FRAMING_HEADERS.has(name));
  for (const name of Object.keys(headers)) {
    if (HOP_BY_HOP.has(name) || listed.includes(name) || (options.proxyHeaders && name.startsWith('proxy-'))) delete headers[name];
  }
}
