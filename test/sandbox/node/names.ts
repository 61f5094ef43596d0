// The names the node part gives to what it creates, all derived from one prefix so a crashed
// sandbox (or a test beside a running one) can be found and removed by prefix alone. Link names
// must fit Linux's 15 characters. Used by network.ts, stale-cleanup.ts and the kubelet.
import { createHash } from 'node:crypto';

export const DEFAULT_PREFIX = 'tpsbx';
const PREFIX_SYNTAX = /^[a-z][a-z0-9]{1,5}$/;

export class InvalidPrefixError extends Error {
  readonly code = 'SANDBOX_INVALID_PREFIX';
  constructor(prefix: string) {
    super(`network prefix ${JSON.stringify(prefix)} must be 2-6 lowercase letters/digits starting with a letter`);
  }
}

export function checkPrefix(prefix: string): string {
  if (!PREFIX_SYNTAX.test(prefix)) throw new InvalidPrefixError(prefix);
  return prefix;
}

export const nodeNetnsName = (prefix: string): string => `${prefix}-node`;
export const bridgeName = (prefix: string): string => `${prefix}br0`;

/** 8 hex characters from the pod uid (hashed, so any uid string gives a safe name). */
export function shortPodId(podUid: string): string {
  return createHash('sha256').update(podUid).digest('hex').slice(0, 8);
}

export const podNetnsName = (prefix: string, podUid: string): string => `${prefix}-${shortPodId(podUid)}`;
/** The node-side end of a pod's veth pair (the pod side is always eth0). */
export const podVethName = (prefix: string, podUid: string): string => `${prefix}v${shortPodId(podUid)}`;
