// The nftables ruleset that does kube-proxy's job inside the node netns, as a pure function of the
// desired services (tests and network.ts share it). ClusterIP:port → a random ready endpoint
// (`numgen random mod N` into an `ip . port` map), masquerade of DNAT'd traffic so replies return
// through the node (pods share one bridge, and a pod may reach itself through its Service),
// reject (TCP reset / ICMP port unreachable) for service ports without endpoints, and a silent drop
// for anything else sent to the service range (a port the Service does not define: the client
// times out, as with kube-proxy in iptables mode, where no rule matches). The whole table is
// deleted and redefined in one `nft -f` transaction. Leaves out NodePorts, session affinity, IPv6.

export type ServiceProtocol = 'TCP' | 'UDP';

export interface ServiceEndpoint { ip: string; port: number }

/** One service port: traffic to clusterIP:port/protocol goes to one of the endpoints (none → reject). */
export interface ServiceRule {
  clusterIP: string;
  port: number;
  protocol: ServiceProtocol;
  endpoints: ServiceEndpoint[];
  /** `<namespace>/<service>:<port name>`, for comments in the ruleset. */
  name?: string;
}

export const SERVICE_CIDR = '198.19.0.0/16';

export class InvalidServiceRuleError extends Error {
  readonly code = 'SANDBOX_INVALID_SERVICE_RULE';
}

/** The nft table name for a prefix (inside the node netns). */
export function serviceTableName(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9_]/g, '_')}_services`;
}

/** A complete `nft -f` script replacing the service table with one that implements `rules`. */
export function renderServiceRuleset(table: string, rules: ServiceRule[]): string {
  const dnat: string[] = [];
  const reject: string[] = [];
  for (const rule of rules) {
    validate(rule);
    const proto = rule.protocol === 'UDP' ? 'udp' : 'tcp';
    const match = `ip daddr ${rule.clusterIP} ${proto} dport ${rule.port}`;
    const comment = rule.name ? ` comment "${rule.name.replace(/["\\]/g, '')}"` : '';
    if (rule.endpoints.length === 0) {
      reject.push(`    ${match} reject with ${proto === 'tcp' ? 'tcp reset' : 'icmp type port-unreachable'}${comment}`);
    } else if (rule.endpoints.length === 1) {
      const [endpoint] = rule.endpoints;
      dnat.push(`    ${match} dnat to ${endpoint.ip}:${endpoint.port}${comment}`);
    } else {
      const entries = rule.endpoints.map((e, i) => `${i} : ${e.ip} . ${e.port}`).join(', ');
      dnat.push(`    ${match} dnat ip to numgen random mod ${rule.endpoints.length} map { ${entries} }${comment}`);
    }
  }
  return [
    `add table ip ${table}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    '  chain services {',
    ...dnat,
    '  }',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    '    jump services',
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    '    jump services',
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    '    ct status dnat masquerade',
    '  }',
    // ClusterIPs are routed `local` in the node netns, so a port with no endpoints ends up here,
    // and so does a port no Service defines (dropped, never answered by the node's own sockets).
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    ...reject,
    `    ip daddr ${SERVICE_CIDR} drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function validate(rule: ServiceRule): void {
  const where = rule.name ?? `${rule.clusterIP}:${rule.port}`;
  if (!IPV4.test(rule.clusterIP)) throw new InvalidServiceRuleError(`${where}: clusterIP ${rule.clusterIP} is not an IPv4 address`);
  if (!validPort(rule.port)) throw new InvalidServiceRuleError(`${where}: port ${rule.port} is out of range`);
  if (rule.protocol !== 'TCP' && rule.protocol !== 'UDP') throw new InvalidServiceRuleError(`${where}: protocol ${String(rule.protocol)} is not TCP or UDP`);
  for (const e of rule.endpoints) {
    if (!IPV4.test(e.ip) || !validPort(e.port)) throw new InvalidServiceRuleError(`${where}: endpoint ${e.ip}:${e.port} is invalid`);
  }
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port < 65536;
}
