// Pod IP allocation in 198.18.0.0/16, persisted in a JSON file under the state dir so a restarted
// sandbox never hands out an address a live pod still holds. Allocation walks forward from the last
// address given (so a freed address is not reused at once, which keeps stale conntrack entries
// harmless). Leaves out IPv6 and multiple ranges. Used by network.ts.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';

export const POD_CIDR_BASE = ipToInt('198.18.0.0');
export const POD_CIDR_PREFIX = 16;
/** .0 is the network, .1 the node's bridge; the last one is broadcast. */
const FIRST_HOST = 2;
const LAST_HOST = (1 << (32 - POD_CIDR_PREFIX)) - 2;

export class IpamExhaustedError extends Error {
  readonly code = 'SANDBOX_IPAM_EXHAUSTED';
  constructor() {
    super('no free pod IP left in 198.18.0.0/16');
  }
}

interface IpamState { last: number; owners: Record<string, string> } // ip → pod uid

export class Ipam {
  private state: IpamState;

  constructor(private readonly file: string) {
    this.state = load(file);
  }

  /** The IP owned by podUid, allocating one if it has none. */
  allocate(podUid: string): string {
    const held = this.ipOf(podUid);
    if (held) return held;
    for (let step = 1; step <= LAST_HOST; step++) {
      const host = ((this.state.last - FIRST_HOST + step) % (LAST_HOST - FIRST_HOST + 1)) + FIRST_HOST;
      const ip = intToIp(POD_CIDR_BASE + host);
      if (this.state.owners[ip] === undefined) {
        this.state.owners[ip] = podUid;
        this.state.last = host;
        this.save();
        return ip;
      }
    }
    throw new IpamExhaustedError();
  }

  release(podUid: string): void {
    const ip = this.ipOf(podUid);
    if (!ip) return;
    delete this.state.owners[ip];
    this.save();
  }

  ipOf(podUid: string): string | undefined {
    return Object.keys(this.state.owners).find((ip) => this.state.owners[ip] === podUid);
  }

  private save(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.file);
  }
}

function load(file: string): IpamState {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<IpamState>;
    return { last: typeof parsed.last === 'number' ? parsed.last : FIRST_HOST - 1, owners: parsed.owners ?? {} };
  } catch {
    return { last: FIRST_HOST - 1, owners: {} };
  }
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
