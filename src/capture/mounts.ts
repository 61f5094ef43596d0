// The pod's files at their original paths inside the capture namespace (docs/volumes.md): for a
// command whose environment has TP_ROOT (a copy made by `tp intercept` or `tp ingest`, which
// lists its mounts in TP_ROOT/.tp-mounts.json), the set-up step bind-mounts each mount's copy
// over its path in the pod, in the namespace's private mount namespace, where the user holds
// CAP_SYS_ADMIN. A path that does not exist on the host (/var/run/secrets/… usually) cannot be
// created there: its nearest existing parent is shadowed by a tmpfs that re-exposes every entry
// the parent had (rbind mounts, so mounts below it, such as /run/user/<uid> with the daemon's
// sockets, stay as they are), and the missing directories are made in that tmpfs. An overlay
// over the parent would need no entry-by-entry binds, but shows only the parent's own
// filesystem and hides the mounts below it. The host's files stay untouched outside the namespace.
// Paths the namespace itself needs (/proc, /sys, /dev, /, the copy and the tp runtime dir) are
// never covered. Used by src/capture/namespace.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MOUNTS_MANIFEST } from '../volumes/copy.js';

export interface PodMount {
  /** The path in the pod. */
  path: string;
  /** Its copy on the laptop. */
  source: string;
}

/** The mounts of the copy that `env.TP_ROOT` names, if it has a manifest. */
export function podMountsOf(env: NodeJS.ProcessEnv): PodMount[] {
  const root = env.TP_ROOT;
  if (!root) return [];
  try {
    const paths = JSON.parse(readFileSync(join(root, MOUNTS_MANIFEST), 'utf8')) as unknown;
    if (!Array.isArray(paths)) return [];
    return paths.filter((p): p is string => typeof p === 'string' && p.startsWith('/')).map((path) => ({ path, source: join(root, path) }));
  } catch {
    return [];
  }
}

const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

/** Whether covering `path` would take away something the namespace needs. */
export function coverable(path: string, keep: readonly string[]): boolean {
  const clean = '/' + path.split('/').filter((s) => s !== '' && s !== '.').join('/');
  if (clean === '/' || clean.split('/').includes('..')) return false;
  for (const system of ['/proc', '/sys', '/dev']) if (clean === system || clean.startsWith(`${system}/`)) return false;
  return !keep.some((k) => k === clean || k.startsWith(`${clean}/`));
}

/**
 * Shell text for the namespace's set-up step (POSIX sh, run with the namespace's capabilities):
 * `stage` is a directory it may create and cover with a tmpfs for its bookkeeping; `keep` lists
 * paths no mount may cover (or be a parent of).
 */
export function podMountScript(mounts: readonly PodMount[], stage: string, keep: readonly string[]): string {
  const wanted = mounts.filter((m) => coverable(m.path, keep));
  if (wanted.length === 0) return '';
  return [
    `tp_stage=${quote(stage)} tp_n=0`,
    'mkdir -p "$tp_stage" && mount -t tmpfs -o mode=700 tmpfs "$tp_stage"',
    'tp_shadow() {',
    '  tp_n=$((tp_n + 1)); tp_keep=$tp_stage/keep$tp_n',
    '  mkdir "$tp_keep" && mount --rbind "$1" "$tp_keep" && mount -t tmpfs -o mode=755 tmpfs "$1"',
    '  for tp_entry in "$tp_keep"/* "$tp_keep"/.[!.]* "$tp_keep"/..?*; do',
    '    [ -e "$tp_entry" ] || [ -L "$tp_entry" ] || continue',
    '    tp_name=${tp_entry##*/}',
    '    if [ -L "$tp_entry" ]; then ln -s "$(readlink "$tp_entry")" "$1/$tp_name"',
    '    elif [ -d "$tp_entry" ]; then mkdir "$1/$tp_name" && mount --rbind "$tp_entry" "$1/$tp_name"',
    '    else : > "$1/$tp_name" && mount --rbind "$tp_entry" "$1/$tp_name"',
    '    fi',
    '  done',
    '}',
    'tp_mount() {',
    '  tp_target=$(realpath -m "$2")',
    '  if [ ! -e "$tp_target" ]; then',
    '    tp_parent=$tp_target',
    '    while [ ! -e "$tp_parent" ]; do tp_parent=$(dirname "$tp_parent"); done',
    '    if [ "$tp_parent" = / ]; then echo "tp: $2 has no parent directory on this machine to add it to; read it at \\$TP_ROOT$2" >&2; return 0; fi',
    '    tp_shadow "$tp_parent"',
    '    if [ -d "$1" ]; then mkdir -p "$tp_target"; else mkdir -p "$(dirname "$tp_target")" && : > "$tp_target"; fi',
    '  fi',
    '  mount --rbind "$1" "$tp_target"',
    '}',
    ...wanted.map((m) => `tp_mount ${quote(m.source)} ${quote(m.path)}`),
  ].join('\n');
}
