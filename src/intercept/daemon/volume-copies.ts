// The daemon's copies of pods' volume mounts, one per intercept (docs/volumes.md): a stream to
// the pod's agent through the manager (VOLUMES_STREAM_HOST), a VolumeCopy writing under a
// private directory (default `<runtime dir>/mounts/<daemon>/<intercept>`, 0700; or the user's
// `--mount=DIR`, which must be empty or new), removed when the intercept ends, when the daemon
// quits, or — after a crash — when the next daemon starts (sweep(): the default directory whole,
// and the user's directories that still carry our marker). Used by intercept-feature.ts.
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

export class VolumeCopies {
  private readonly copies = new Map<string, { copy: VolumeCopy; dir: string }>();
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

  /** Copies the mounts of the intercept's pod; resolves with the directory once the first copy is whole (undefined: nothing to copy). */
  async start(name: string, workload: InterceptInfo['workload'], podIp: string, request: MountRequest): Promise<string | undefined> {
    if (request.enabled === false) return undefined;
    const dir = request.dir ? await this.userDir(request.dir) : join(this.root, name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (request.dir) await writeFile(join(dir, MARKER), '');
    const metadata: VolumesStreamMetadata = { namespace: workload.namespace, kind: workload.kind, workload: workload.name, podIp };
    let copy: VolumeCopy | undefined;
    try {
      const stream = await this.link.open(VOLUMES_STREAM_HOST, 0, { ...metadata });
      copy = new VolumeCopy(stream, { dir, name, maxBytes: (request.maxMb ?? DEFAULT_MAX_MB) * 1024 * 1024, exclude: request.exclude ?? [], rw: request.rw === true });
      this.copies.set(name, { copy, dir });
      const mounts = await withTimeout(copy.ready, FIRST_SYNC_TIMEOUT_MS, 'the first copy of the pod\'s files took too long');
      if (mounts.length === 0 && request.enabled === 'auto') {
        await this.stop(name);
        return undefined;
      }
      log.info('-> %s: copy of %d mounts in %s', name, mounts.length, dir);
      return dir;
    } catch (error) {
      await this.stop(name);
      await rm(dir, { recursive: true, force: true });
      throw new TpError('TP_ERR_VOLUMES_COPY', `Could not copy the files of ${workload.kind}/${workload.name}: ${(error as Error).message}`, { cause: error });
    }
  }

  status(name: string): { dir: string; failure?: string } | undefined {
    const entry = this.copies.get(name);
    return entry && { dir: entry.dir, ...(entry.copy.failure ? { failure: entry.copy.failure } : {}) };
  }

  async stop(name: string): Promise<void> {
    const entry = this.copies.get(name);
    if (!entry) return;
    this.copies.delete(name);
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
