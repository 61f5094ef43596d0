// Applies one entry of the sync stream under a root directory, on either end: a file is written
// to a temporary name and renamed into place (a reader never sees half a file), a symlink is made
// under a temporary name and renamed over the old one (how `..data` swaps stay atomic), a
// directory gets its mode (plus the owner's rwx, so the copy stays manageable), `rm` removes the
// entry (a symlink itself, never what it points to). Every parent on the way is checked: one that
// is a symlink or not a directory is refused, so no entry can land outside the root whatever the
// peer sends. Used by source.ts and copy.ts.
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SyncFrame } from './sync-frames.js';

export type EntryFrame = Extract<SyncFrame, { t: 'file' | 'dir' | 'link' | 'rm' }>;

/** `rel` is the entry's path under `root` ('' for the root itself), already checked by the decoder. */
export async function applyEntry(root: string, rel: string, frame: EntryFrame): Promise<void> {
  const segments = rel === '' ? [] : rel.split('/');
  let parent = root;
  for (const segment of segments.slice(0, -1)) {
    parent = join(parent, segment);
    const info = await lstat(parent).catch(() => null);
    if (!info) await mkdir(parent, { mode: 0o755 });
    else if (!info.isDirectory()) throw new Error(`${rel}: a parent is not a directory`);
  }
  const target = join(root, rel);
  const existing = await lstat(target).catch(() => null);
  const temporary = join(parent, `.tp-sync-${randomBytes(6).toString('hex')}`);
  switch (frame.t) {
    case 'rm':
      await rm(target, { recursive: true, force: true });
      return;
    case 'dir':
      if (existing && !existing.isDirectory()) await rm(target, { force: true });
      if (!existing?.isDirectory()) await mkdir(target, { mode: 0o700 });
      if (((existing?.mode ?? 0) & 0o7777) !== (frame.mode | 0o700)) await chmod(target, frame.mode | 0o700).catch(() => undefined);
      return;
    case 'file':
      if (existing?.isDirectory()) await rm(target, { recursive: true, force: true });
      await writeFile(temporary, frame.body, { mode: 0o600 });
      await chmod(temporary, frame.mode);
      await rename(temporary, target);
      return;
    case 'link':
      if (existing?.isDirectory()) await rm(target, { recursive: true, force: true });
      await symlink(frame.target, temporary);
      await rename(temporary, target);
      return;
  }
}
