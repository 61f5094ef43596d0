// Allocation of Service cluster IPs from 198.19.0.0/16 and of node ports from 30000-32767.
// 198.19.0.1 (kubernetes) and 198.19.0.10 (kube-dns) are reserved for the built-in Services.
// Leaves out: dual-stack. Used by registry/services.ts.
import { invalid } from '../status-errors.js';

export const SERVICE_CIDR = '198.19.0.0/16';
export const KUBERNETES_SERVICE_IP = '198.19.0.1';
export const KUBE_DNS_SERVICE_IP = '198.19.0.10';
const BASE = (198 << 24 >>> 0) + (19 << 16);
const SIZE = 1 << 16;
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

function toIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function toNumber(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
}

export class ClusterIpAllocator {
  private readonly used = new Set<string>();
  /** Never handed out automatically; only the built-in Services ask for them by address. */
  private readonly reserved = new Set<string>([KUBERNETES_SERVICE_IP, KUBE_DNS_SERVICE_IP]);
  private readonly usedNodePorts = new Set<number>();
  private next = 11;

  /** Takes a specific IP (validated) or the next free one. */
  allocate(serviceName: string, requested?: string): string {
    if (requested !== undefined && requested !== '') {
      const n = toNumber(requested);
      if (n === undefined || n < BASE || n >= BASE + SIZE) {
        throw invalid('', 'Service', serviceName, [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: `Invalid value: ["${requested}"]: failed to allocate IP ${requested}: the provided IP (${requested}) is not in the valid range. The range of valid IPs is ${SERVICE_CIDR}` }]);
      }
      if (this.used.has(requested)) {
        throw invalid('', 'Service', serviceName, [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: `Invalid value: ["${requested}"]: failed to allocate IP ${requested}: provided IP is already allocated` }]);
      }
      this.used.add(requested);
      return requested;
    }
    for (let i = 0; i < SIZE - 2; i += 1) {
      const offset = ((this.next - 1 + i) % (SIZE - 2)) + 1;
      const ip = toIp(BASE + offset);
      if (!this.used.has(ip) && !this.reserved.has(ip)) {
        this.used.add(ip);
        this.next = offset + 1;
        return ip;
      }
    }
    throw invalid('', 'Service', serviceName, [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: 'range is full' }]);
  }

  release(ip: string | undefined): void {
    if (ip) this.used.delete(ip);
  }

  allocateNodePort(serviceName: string, requested?: number): number {
    if (requested !== undefined && requested !== 0) {
      if (requested < NODE_PORT_MIN || requested > NODE_PORT_MAX || this.usedNodePorts.has(requested)) {
        throw invalid('', 'Service', serviceName, [{ reason: 'FieldValueInvalid', field: 'spec.ports[0].nodePort', message: `Invalid value: ${requested}: provided port is not in the valid range or already allocated` }]);
      }
      this.usedNodePorts.add(requested);
      return requested;
    }
    for (let port = NODE_PORT_MIN; port <= NODE_PORT_MAX; port += 1) {
      if (!this.usedNodePorts.has(port)) {
        this.usedNodePorts.add(port);
        return port;
      }
    }
    throw invalid('', 'Service', serviceName, [{ reason: 'FieldValueInvalid', field: 'spec.ports[0].nodePort', message: 'range is full' }]);
  }

  releaseNodePort(port: number | undefined): void {
    if (port) this.usedNodePorts.delete(port);
  }
}
