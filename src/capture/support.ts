// Whether this machine lets an unprivileged user capture a command's traffic in a namespace of
// its own, and if not, why, as a TpError that says what to do: user namespaces switched off
// (kernel.unprivileged_userns_clone, user.max_user_namespaces), Ubuntu's AppArmor restriction
// (kernel.apparmor_restrict_unprivileged_userns), a missing tool (unshare, nft, ip) or relay, and
// at last a real try (a user + network namespace, loopback up, one nftables table), because only
// the kernel knows for sure. Leaves out setting up the namespace for a command (namespace.ts).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { TpError } from '../errors.js';
import { nativeTool } from '../run/shim-files.js';

/** Built or shipped beside tp run's library (run/shim-files.ts); the build path where neither is. */
export const RELAY_BINARY = nativeTool('tp-relay') ?? new URL('../../shims/build/tp-relay', import.meta.url).pathname;
const TOOLS = { unshare: 'util-linux', nft: 'nftables', ip: 'iproute2' } as const;
const PROBE_TIMEOUT_MS = 10_000;

export interface CaptureTools {
  unshare: string;
  nft: string;
  ip: string;
  relay: string;
}

export type CaptureSupport = { ok: true; tools: CaptureTools } | { ok: false; error: TpError };

/** Reads a sysctl as a number; undefined when this kernel has no such knob. */
export function readSysctl(name: string, root = '/proc/sys'): number | undefined {
  try {
    const value = Number(readFileSync(join(root, ...name.split('.')), 'utf8').trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The refusal the kernel's knobs already explain, if any. */
export function kernelRefusal(sysctl: (name: string) => number | undefined = readSysctl): TpError | undefined {
  if (sysctl('kernel.unprivileged_userns_clone') === 0) {
    return new TpError('TP_ERR_NETNS_USERNS_DISABLED', 'This kernel does not let unprivileged users create user namespaces (kernel.unprivileged_userns_clone = 0).', {
      hints: ['Ask an administrator to run `sysctl -w kernel.unprivileged_userns_clone=1` (and make it stick in /etc/sysctl.d/).', 'Or run without --netns: tp run then uses proxy settings and its preload libraries.'],
    });
  }
  if (sysctl('user.max_user_namespaces') === 0) {
    return new TpError('TP_ERR_NETNS_USERNS_DISABLED', 'User namespaces are switched off on this machine (user.max_user_namespaces = 0).', {
      hints: ['Ask an administrator to raise it, e.g. `sysctl -w user.max_user_namespaces=10000` (and make it stick in /etc/sysctl.d/).', 'Or run without --netns.'],
    });
  }
  if (sysctl('kernel.apparmor_restrict_unprivileged_userns') === 1) {
    return new TpError('TP_ERR_NETNS_APPARMOR', 'AppArmor keeps unprivileged user namespaces from holding capabilities here (kernel.apparmor_restrict_unprivileged_userns = 1), so tp cannot write network rules inside one.', {
      hints: [
        'Ask an administrator for an AppArmor profile that allows `userns` for unshare (see Ubuntu\'s "unprivileged user namespace restrictions"), or to set kernel.apparmor_restrict_unprivileged_userns=0.',
        'Or run without --netns.',
      ],
    });
  }
  return undefined;
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  // The system's directories first: nft and ip often live in /usr/sbin, which an ordinary user's
  // PATH may leave out, and a project's node_modules/.bin on PATH can hold an unrelated `nft`.
  const dirs = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', ...(env.PATH ?? '').split(delimiter)].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Checks knobs, tools and finally the kernel itself; the tools' paths when all is well. */
export function captureSupport(env: NodeJS.ProcessEnv = process.env): CaptureSupport {
  const refusal = kernelRefusal();
  if (refusal) return { ok: false, error: refusal };
  const found: Partial<CaptureTools> = {};
  for (const [tool, pkg] of Object.entries(TOOLS) as [keyof typeof TOOLS, string][]) {
    const path = findOnPath(tool, env);
    if (!path) {
      return { ok: false, error: new TpError('TP_ERR_NETNS_TOOL_MISSING', `\`${tool}\` is not installed; tp run --netns needs it to set up the namespace.`, { hints: [`Install the ${pkg} package (e.g. \`sudo apt-get install ${pkg}\`).`, 'Or run without --netns.'] }) };
    }
    found[tool] = path;
  }
  if (!existsSync(RELAY_BINARY)) {
    return { ok: false, error: new TpError('TP_ERR_NETNS_RELAY_MISSING', 'The capture relay was not built (no C compiler when tp was installed).', { hints: ['Install a C compiler (e.g. `sudo apt-get install gcc`) and run `npm run build:shims` in tp\'s package, or reinstall tp.', 'Or run without --netns.'] }) };
  }
  const tools = { ...found, relay: RELAY_BINARY } as CaptureTools;
  const probe = spawnSync(tools.unshare, [...namespaceFlags(), '--', tools.ip, 'link', 'set', 'lo', 'up'], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, env });
  if (probe.status === 0) {
    const rules = spawnSync(tools.unshare, [...namespaceFlags(), '--', tools.nft, 'add table ip tp_probe'], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, env });
    if (rules.status === 0) return { ok: true, tools };
    return { ok: false, error: refused(`nftables said: ${(rules.stderr || rules.error?.message || '').trim()}`) };
  }
  return { ok: false, error: refused((probe.stderr || probe.error?.message || `unshare exited with ${probe.status}`).trim()) };
}

function refused(detail: string): TpError {
  return new TpError('TP_ERR_NETNS_REFUSED', `The kernel refused an unprivileged network namespace: ${detail.split('\n')[0]}`, {
    hints: ['Check `unshare --user --map-user=$(id -u) --net --keep-caps ip link set lo up` by hand; containers often forbid nested namespaces (seccomp, no CAP_SYS_ADMIN).', 'Or run without --netns.'],
  });
}

/** unshare's flags for the user's own uid and gid inside a user + network + mount + PID namespace, capabilities kept for the set-up. */
export function namespaceFlags(uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0): string[] {
  return ['--user', `--map-user=${uid}`, `--map-group=${gid}`, '--net', '--mount', '--keep-caps'];
}
