// The daemon's copies of pods' volume mounts, one per intercept (docs/volumes.md): a stream to
// the pod's agent through the manager (VOLUMES_STREAM_HOST), a VolumeCopy writing under a
// private directory (default `<runtime dir>/mounts/<daemon>/<intercept>`, 0700; or the user's
// `--mount=DIR`, which must be empty or new), removed when the intercept ends, when the daemon
// quits, or — after a crash — when the next daemon starts (sweep(): the default directory whole,
// and the user's directories that still carry our marker). A copy whose stream ends (the pod
// went, the manager restarted) follows again, from whichever agent of the workload the manager
// picks, after a growing pause (1 s to 30 s); one the agent refused (over the cap) stays stopped,
// with its reason in `tp status`. Used by intercept-feature.ts and ingests.ts.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { logger } from '../../log/logger.js';
import { TpError } from '../../errors.js';
import { VOLUMES_STREAM_HOST, type InterceptInfo, type VolumesStreamMetadata } from '../../api/control-api.js';
import type { ManagerLink } from '../../daemon/manager-link.js';
import type { DaemonPaths } from '../../daemon/paths.js';
import { VolumeCopy } from '../../volumes/copy.js';

const log = logger('tp:intercept:volumes');
/** The first full copy of a pod's mounts: the cap (64 MiB by default) over a slow tunnel fits. */
const FIRST_SYNC_TIMEOUT_MS = 120_000;
export const DEFAULT_MAX_MB = 64;
/** In a user-chosen directory: says the directory is a copy of ours, so a sweep may remove it. */
const MARKER = '.tp-volume-copy';

export interface MountRequest {
  /** 'auto' (the default: copy when the container has mounts), true, or false. */
  enabled: boolean | 'auto';
  dir?: string;
  exclude?: string[];
  maxMb?: number;
  rw?: boolean;
}

const REFOLLOW_FIRST_MS = 1000;
const REFOLLOW_MAX_MS = 30_000;

interface Entry {
  copy: VolumeCopy;
  dir: string;
  retry?: NodeJS.Timeout;
}

export class VolumeCopies {
  private readonly copies = new Map<string, Entry>();
  private readonly root: string;

  constructor(private readonly link: ManagerLink, paths: DaemonPaths) {
    this.root = join(paths.runtimeDir, 'mounts', basename(paths.controlSocket, '.sock'));
  }

  /** A dead daemon's copies: gone before this one makes any. */
  async sweep(): Promise<void> {
    const userDirs = await readFile(join(this.root, 'user-dirs.json'), 'utf8').then((text) => JSON.parse(text) as string[], () => [] as string[]);
    for (const dir of Array.isArray(userDirs) ? userDirs : []) {
      if (typeof dir === 'string' && (await readdir(dir).catch(() => [] as string[])).includes(MARKER)) await rm(dir, { recursive: true, force: true });
    }
    await rm(this.root, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true, mode: 0o700 });
  }

  /**
   * Copies the mounts of the intercept's pod; resolves with the directory once the first copy is
   * whole (none: nothing to copy). By default (no --mount) a manager or agent that cannot copy
   * (an older tp) gives a warning instead of an error; a refusal (over the cap) is an error.
   */
  async start(name: string, workload: InterceptInfo['workload'], podIp: string, request: MountRequest): Promise<{ dir?: string; warning?: string }> {
    if (request.enabled === false) return {};
    const dir = request.dir ? await this.userDir(request.dir) : join(this.root, name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (request.dir) await writeFile(join(dir, MARKER), '');
    const metadata: VolumesStreamMetadata = { namespace: workload.namespace, kind: workload.kind, workload: workload.name, podIp };
    let copy: VolumeCopy;
    try {
      copy = await this.open(name, dir, metadata, request, 0);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      const message = `Could not copy the files of ${workload.kind}/${workload.name}: ${(error as Error).message}`;
      if (request.enabled !== 'auto') throw new TpError('TP_ERR_VOLUMES_COPY', message, { cause: error });
      log.warn('!! %s: %s', name, message);
      return { warning: `${message} (no TP_ROOT; an older traffic-manager or agent cannot copy files)` };
    }
    try {
      const entry: Entry = { copy, dir };
      this.copies.set(name, entry);
      const mounts = await withTimeout(entry.copy.ready, FIRST_SYNC_TIMEOUT_MS, 'the first copy of the pod\'s files took too long');
      if (mounts.length === 0 && request.enabled === 'auto') {
        await this.stop(name);
        return {};
      }
      log.info('-> %s: copy of %d mounts in %s', name, mounts.length, dir);
      return { dir };
    } catch (error) {
      await this.stop(name);
      await rm(dir, { recursive: true, force: true });
      throw new TpError('TP_ERR_VOLUMES_COPY', `Could not copy the files of ${workload.kind}/${workload.name}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** A copy writing into `dir`; when its stream ends on its own, another one follows (see the top). */
  private async open(name: string, dir: string, metadata: VolumesStreamMetadata, request: MountRequest, attempt: number): Promise<VolumeCopy> {
    const stream = await this.link.open(VOLUMES_STREAM_HOST, 0, { ...metadata });
    return new VolumeCopy(stream, {
      dir, name, maxBytes: (request.maxMb ?? DEFAULT_MAX_MB) * 1024 * 1024, exclude: request.exclude ?? [], rw: request.rw === true,
      onStop: (reason, byAgent) => {
        const entry = this.copies.get(name);
        if (byAgent || !entry || entry.dir !== dir) return;
        const delay = Math.min(REFOLLOW_MAX_MS, REFOLLOW_FIRST_MS * 2 ** attempt);
        log.info('!! %s: %s; following again in %d ms', name, reason, delay);
        entry.retry = setTimeout(() => void this.refollow(name, entry, metadata, request, attempt + 1), delay);
      },
    });
  }

  private async refollow(name: string, entry: Entry, metadata: VolumesStreamMetadata, request: MountRequest, attempt: number): Promise<void> {
    if (this.copies.get(name) !== entry) return;
    let copy: VolumeCopy;
    try {
      copy = await this.open(name, entry.dir, metadata, request, attempt);
    } catch (error) {
      const delay = Math.min(REFOLLOW_MAX_MS, REFOLLOW_FIRST_MS * 2 ** attempt);
      log.info('!! %s: following again failed: %s; next in %d ms', name, (error as Error).message, delay);
      if (this.copies.get(name) === entry) entry.retry = setTimeout(() => void this.refollow(name, entry, metadata, request, attempt + 1), delay);
      return;
    }
    if (this.copies.get(name) !== entry) return void (await copy.detach());
    entry.copy = copy;
    // A copy that stops again schedules the next attempt itself (its onStop).
    copy.ready.then(() => log.info('-> %s: following the pod\'s files again', name), () => undefined);
  }

  status(name: string): { dir: string; failure?: string } | undefined {
    const entry = this.copies.get(name);
    return entry && { dir: entry.dir, ...(entry.copy.failure ? { failure: entry.copy.failure } : {}) };
  }

  async stop(name: string): Promise<void> {
    const entry = this.copies.get(name);
    if (!entry) return;
    this.copies.delete(name);
    clearTimeout(entry.retry);
    await entry.copy.close();
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.copies.keys()].map((name) => this.stop(name)));
  }

  /** `--mount=DIR`: new or empty, and remembered so a crashed daemon's copy is swept. */
  private async userDir(given: string): Promise<string> {
    const dir = resolve(given);
    const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : null));
    if (entries === null || entries.some((e) => e !== MARKER)) throw new TpError('TP_ERR_VOLUMES_BAD_DIR', `--mount=${given}: ${entries === null ? 'not a directory tp can read' : 'the directory is not empty'}.`);
    const file = join(this.root, 'user-dirs.json');
    const known = await readFile(file, 'utf8').then((text) => JSON.parse(text) as string[], () => [] as string[]);
    if (!known.includes(dir)) await writeFile(file, JSON.stringify([...known, dir]), { mode: 0o600 });
    return dir;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}
