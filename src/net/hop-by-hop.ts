// Removes hop-by-hop headers (RFC 9110 §7.6.1) before an HTTP intermediary forwards a message:
// the standard ones, the ones the Connection header lists, and, for a forward proxy, every
// Proxy-* header (meant for that proxy alone), but never a header that frames or routes the
// message. Used by the HTTP proxy and the traffic-agent's per-request router.
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection']);
/** Never removed because Connection lists them: the message was framed and routed by them, and
 *  without them the next hop would read its body as the next request (request smuggling). */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'host']);

export function stripHopByHop(headers: IncomingHttpHeaders, options: { proxyHeaders?: boolean } = {}): void {
  const listed = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '' && !FRAMING.has(name));
  for (const name of Object.keys(headers)) {
    if (HOP_BY_HOP.has(name) || listed.includes(name) || (options.proxyHeaders && name.startsWith('proxy-'))) delete headers[name];
  }
}
