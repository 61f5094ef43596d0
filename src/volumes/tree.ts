// What a set of mounts holds, and what changed between two looks: a scan walks each mount with
// lstat (a symlink is an entry of its own, never followed) and names every entry by its path under
// the copy's root (the mount path without its leading `/`, then the path inside the mount), with
// a signature that changes when the entry does (kind, mode, size, times, inode, link target).
// Sizes are summed per mount so the cap can name the mount that crosses it. Used by source.ts and
// copy.ts on both ends of the sync stream.
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** More entries than this in the mounts of one container is not configuration any more. */
export const MAX_ENTRIES = 100_000;

export interface TreeMount {
  /** The path in the pod (absolute). */
  path: string;
  /** Where this process sees it. */
  at: string;
}

export interface TreeEntry {
  kind: 'file' | 'dir' | 'link';
  mode: number;
  size: number;
  signature: string;
  target?: string;
  /** Where this process sees it. */
  local: string;
}

export type Tree = Map<string, TreeEntry>;

export interface Scan {
  tree: Tree;
  /** Bytes of regular files per mount path. */
  bytes: Map<string, number>;
}

export class TreeLimitError extends Error {}

export async function scanMounts(mounts: readonly TreeMount[]): Promise<Scan> {
  const tree: Tree = new Map();
  const bytes = new Map<string, number>();
  for (const mount of mounts) {
    let total = 0;
    const visit = async (local: string, rel: string, root: boolean): Promise<void> => {
      let info;
      try {
        info = root ? await stat(local) : await lstat(local);
      } catch {
        return; // gone between readdir and lstat: the next scan sees it removed
      }
      if (tree.size >= MAX_ENTRIES) throw new TreeLimitError(`the mounts hold more than ${MAX_ENTRIES} entries`);
      const mode = info.mode & 0o7777;
      const times = `${info.mtimeMs}:${info.ctimeMs}:${info.ino}`;
      if (info.isSymbolicLink()) {
        const target = await readlink(local).catch(() => null);
        if (target !== null) tree.set(rel, { kind: 'link', mode, size: 0, target, signature: `l:${target}`, local });
      } else if (info.isDirectory()) {
        tree.set(rel, { kind: 'dir', mode, size: 0, signature: `d:${mode}`, local });
        const names = await readdir(local).catch(() => [] as string[]);
        for (const name of names.sort()) await visit(join(local, name), `${rel}/${name}`, false);
      } else if (info.isFile()) {
        total += info.size;
        tree.set(rel, { kind: 'file', mode, size: info.size, signature: `f:${mode}:${info.size}:${times}`, local });
      }
    };
    await visit(mount.at, mount.path.slice(1), true);
    bytes.set(mount.path, total);
  }
  return { tree, bytes };
}

export interface TreeChanges {
  /** Entries new or changed, parents before children. */
  put: string[];
  /** Entries gone, children before parents. */
  removed: string[];
}

/** What `next` has that `previous` (path → signature) does not, and what it lost. */
export function diffTrees(previous: ReadonlyMap<string, string>, next: Tree): TreeChanges {
  const put = [...next].filter(([path, entry]) => previous.get(path) !== entry.signature).map(([path]) => path).sort();
  const removed = [...previous.keys()].filter((path) => !next.has(path)).sort().reverse();
  return { put, removed };
}

/** The mount (of `mounts`, by path in the pod) that holds this path under the root, if any. */
export function mountOf<T extends { path: string }>(mounts: readonly T[], rel: string): T | undefined {
  let best: T | undefined;
  for (const m of mounts) {
    const root = m.path.slice(1);
    if ((rel === root || rel.startsWith(`${root}/`)) && (!best || m.path.length > best.path.length)) best = m;
  }
  return best;
}
