// Answers clients' DNS questions with the manager pod's own resolver, which in a cluster is the
// cluster DNS: so `hello.default.svc.cluster.local` resolves exactly as it would for any pod.
// Names arrive fully qualified from the client (its routing decides what is a cluster name);
// the resolver's search path is not applied. Node's resolver gives no TTLs for every type, so
// answers carry a short fixed TTL: the daemon's cache is meant to be short-lived anyway.
import { Resolver } from 'node:dns/promises';
import type { ResolvedRecord, ResolveResult } from '../api/control-api.js';

const ANSWER_TTL_SECONDS = 5;
const RCODE = { noError: 0, servFail: 2, nxDomain: 3 } as const;

export class ClusterResolver {
  constructor(private readonly resolver: Resolver = new Resolver({ timeout: 2000, tries: 2 })) {}

  async resolve(name: string, type: string): Promise<ResolveResult> {
    const fqdn = name.replace(/\.$/, '');
    try {
      return { rcode: RCODE.noError, answers: await this.lookup(fqdn, type.toUpperCase()) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND') return { rcode: RCODE.nxDomain, answers: [] };
      // The name exists but has no records of this type (e.g. AAAA of an IPv4-only service).
      if (code === 'ENODATA') return { rcode: RCODE.noError, answers: [] };
      return { rcode: RCODE.servFail, answers: [] };
    }
  }

  private async lookup(name: string, type: string): Promise<ResolvedRecord[]> {
    const ttl = ANSWER_TTL_SECONDS;
    switch (type) {
      case 'A':
        return (await this.resolver.resolve4(name, { ttl: true })).map((r) => ({ type: 'A', name, ttl: Math.min(r.ttl, ttl) || ttl, address: r.address }));
      case 'AAAA':
        return (await this.resolver.resolve6(name, { ttl: true })).map((r) => ({ type: 'AAAA', name, ttl: Math.min(r.ttl, ttl) || ttl, address: r.address }));
      case 'CNAME':
        return (await this.resolver.resolveCname(name)).map((target) => ({ type: 'CNAME', name, ttl, target }));
      case 'PTR':
        return (await this.resolver.resolvePtr(name)).map((target) => ({ type: 'PTR', name, ttl, target }));
      case 'TXT':
        return (await this.resolver.resolveTxt(name)).map((text) => ({ type: 'TXT', name, ttl, text }));
      case 'SRV':
        return (await this.resolver.resolveSrv(name)).map((r) => ({ type: 'SRV', name, ttl, priority: r.priority, weight: r.weight, port: r.port, target: r.name }));
      default:
        throw Object.assign(new Error(`unsupported type ${type}`), { code: 'ENOTIMP' });
    }
  }
}
