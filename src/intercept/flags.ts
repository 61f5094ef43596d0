// Parsing `tp intercept`'s own words: `--port <local>[:<service port name or number>]`,
// `--http-header NAME=VALUE` (several are ANDed; names case-insensitive), `--mount[=DIR|true|false]`
// (a bare `--mount` is `--mount=true`: oclif has no optional values), and splitting argv at
// `--` so the command's flags never reach oclif; and the volume-copy and --netns flag definitions
// that `tp intercept` and `tp ingest` share. Parsing is pure; errors name the bad word.
import { Flags } from '@oclif/core';
import { TpError } from '../errors.js';
import type { NetnsMode } from '../run/netns.js';
import type { MountRequest } from './daemon/volume-copies.js';

/** tp's own words with a bare `--mount` made `--mount=true`. */
export function withMountValue(argv: readonly string[]): string[] {
  return argv.map((word) => (word === '--mount' ? '--mount=true' : word));
}

export function parseMountFlags(flags: { mount?: string; 'mount-exclude'?: string[]; 'mount-max-mb'?: number; 'mount-rw'?: boolean }): MountRequest {
  const value = flags.mount;
  const enabled = value === undefined ? (flags['mount-rw'] ? true : 'auto') : value === 'false' ? false : true;
  const exclude = (flags['mount-exclude'] ?? []).map((path) => {
    const clean = '/' + path.split('/').filter((s) => s !== '' && s !== '.').join('/');
    if (!path.startsWith('/') || clean === '/' || clean.split('/').includes('..')) {
      throw new TpError('TP_ERR_INTERCEPT_BAD_SPEC', `--mount-exclude ${path} is not an absolute mount path in the pod.`, { hints: ['e.g. --mount-exclude /var/cache/app'] });
    }
    return clean;
  });
  const maxMb = flags['mount-max-mb'];
  if (maxMb !== undefined && !(maxMb > 0)) throw new TpError('TP_ERR_INTERCEPT_BAD_SPEC', `--mount-max-mb ${maxMb} is not a positive number.`);
  return {
    enabled,
    ...(value !== undefined && value !== 'true' && value !== 'false' ? { dir: value } : {}),
    exclude,
    ...(maxMb !== undefined ? { maxMb } : {}),
    rw: flags['mount-rw'] === true,
  };
}

export function parsePortFlag(text: string): { laptopPort: number; servicePort?: string } {
  const match = /^(\d{1,5})(?::([A-Za-z0-9-]{1,63}))?$/.exec(text.trim());
  const port = match ? Number(match[1]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new TpError('TP_ERR_INTERCEPT_BAD_PORT', `--port ${text} is not <local port>[:<service port name or number>].`, { hints: ['e.g. --port 8080, or --port 8080:http, or --port 8080:80'] });
  }
  return { laptopPort: port, servicePort: match[2] };
}

export function parseHeaders(words: readonly string[]): Record<string, string> | undefined {
  if (words.length === 0) return undefined;
  const headers: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    const name = eq > 0 ? word.slice(0, eq).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new TpError('TP_ERR_INTERCEPT_BAD_HEADER', `--http-header ${word} is not NAME=VALUE with an HTTP header name.`, { hints: ['e.g. --http-header x-dev=alice'] });
    }
    headers[name.toLowerCase()] = word.slice(eq + 1);
  }
  return headers;
}

/** tp's words before `--`, the command after it. */
export function splitAtDashes(argv: readonly string[]): { tpArgv: string[]; command: string[] } {
  const at = argv.indexOf('--');
  return at === -1 ? { tpArgv: [...argv], command: [] } : { tpArgv: argv.slice(0, at), command: argv.slice(at + 1) };
}

/** The volume-copy flags of `tp intercept` and `tp ingest` (docs/volumes.md). */
export const mountFlags = {
  mount: Flags.string({ description: 'Copy the pod\'s volume mounts here, kept live, and set TP_ROOT (--mount[=DIR]; default on when the container has mounts, in a private dir; --mount=false: off).', helpValue: 'DIR' }),
  'mount-exclude': Flags.string({ description: 'Leave this mount (its path in the pod) out of the copy.', multiple: true }),
  'mount-max-mb': Flags.integer({ description: 'Cap on the copy\'s size in MiB (default 64).' }),
  'mount-rw': Flags.boolean({ description: 'Send writes to read-write mounts (emptyDir, PVC) back to the pod; the last write to reach the pod wins.' }),
};

export function netnsMode(flags: { netns?: boolean; 'try-netns'?: boolean }): NetnsMode {
  return flags.netns ? 'required' : flags['try-netns'] ? 'try' : 'off';
}

/** `-- cmd` in tp's capture namespace, with the pod's files at their original paths too (docs/volumes.md). */
export const netnsFlags = {
  netns: Flags.boolean({ description: 'Run `-- cmd` as `tp run --netns` does (all TCP and DNS through tp), with the pod\'s mounts also at their original paths.', exclusive: ['try-netns'] }),
  'try-netns': Flags.boolean({ description: 'Like --netns where the machine allows it; otherwise says why and runs the command as without it.', exclusive: ['netns'] }),
};
