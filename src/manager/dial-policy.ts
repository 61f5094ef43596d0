// Which destinations the manager dials for clients. An authenticated client may reach what any
// pod may reach, but not the manager pod itself (its loopback holds the port-forward endpoint)
// nor link-local addresses (cloud metadata services hand out node credentials): both refused as
// 'forbidden' before any connection is made. Names are resolved first, so a name that points at
// such an address is refused too.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { findCidr, parseCidr, parseIp, type Cidr } from '../net/cidr.js';

/** Never dialled for clients: the manager pod's own loopback, link-local (metadata services), unspecified. */
export const FORBIDDEN_DESTINATIONS = ['127.0.0.0/8', '::1/128', '169.254.0.0/16', 'fe80::/10', '0.0.0.0/32', '::/128'];
const DEFAULT_FORBIDDEN = FORBIDDEN_DESTINATIONS.map(parseCidr);

export type DialVerdict = { allowed: true; address: string } | { allowed: false; code: 'forbidden' | 'dns'; message: string };

/** Resolves `host` (with the pod's resolver, so cluster names work) and checks the address. */
export async function checkDestination(host: string, forbidden: readonly Cidr[] = DEFAULT_FORBIDDEN, resolve = lookupFirst): Promise<DialVerdict> {
  let address = host;
  if (!isIP(host)) {
    try {
      address = await resolve(host);
    } catch {
      return { allowed: false, code: 'dns', message: `no such host: ${host}` };
    }
  }
  const bytes = parseIp(address);
  const blocked = bytes && findCidr(forbidden, bytes);
  if (blocked) return { allowed: false, code: 'forbidden', message: `the traffic-manager does not dial ${host} (${address} is in ${blocked.text})` };
  return { allowed: true, address };
}

async function lookupFirst(host: string): Promise<string> {
  return (await lookup(host)).address;
}
