// The laptop's end of one volume sync stream: a local copy of a pod's mounts under a private
// directory, laid out by their paths in the pod. It says hello (cap, excluded mounts, rw), applies
// every entry the agent sends (apply.ts), and `ready` settles at the first `synced` (or with the
// agent's error, e.g. a mount over the cap). With rw it also rescans its read-write mounts every
// second and sends what the user changed; an entry changed here and not sent yet is not
// overwritten by the pod's older version (the laptop's write wins, the pod's later change wins
// after it). close() ends the stream and removes the directory. Used by the daemon's intercept
// and ingest features (src/intercept/daemon/volume-copies.ts).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { logger } from '../log/logger.js';
import { applyEntry, type EntryFrame } from './apply.js';
import { encodeSyncFrame, SyncDecoder, SYNC_VERSION, type SyncFrame } from './sync-frames.js';
import { diffTrees, mountOf, scanMounts } from './tree.js';

const log = logger('tp:volumes');
const RESCAN_MS = 1000;
/** The list of mount paths beside the copy (read by src/capture/mounts.ts, which names it the same). */
export const MOUNTS_MANIFEST = '.tp-mounts.json';

export interface CopyOptions {
  dir: string;
  maxBytes: number;
  exclude: string[];
  rw: boolean;
  /** Named in logs (the intercept or ingest). */
  name: string;
  /** Called once when the copy stops following the pod; `byAgent` when the agent refused to go on (its error frame). */
  onStop?: (reason: string, byAgent: boolean) => void;
}

export interface CopyMount {
  path: string;
  rw: boolean;
}

export class VolumeCopy {
  readonly ready: Promise<CopyMount[]>;
  /** Set when the copy stopped following the pod (the agent's error, a broken stream). */
  failure: string | null = null;
  private mounts: CopyMount[] = [];
  private readonly decoder: SyncDecoder;
  /** Local signatures of what the pod last sent or we last sent, by path (rw mounts). */
  private readonly known = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private applying = Promise.resolve();
  /** Paths the snapshot brought; at its end, whatever else an earlier copy left in the directory goes. */
  private snapshot: Set<string> | null = new Set();
  private byAgent = false;
  private settle!: { resolve: (m: CopyMount[]) => void; reject: (e: Error) => void };

  constructor(private readonly stream: Duplex, private readonly options: CopyOptions) {
    // No single file larger than the whole copy may be is ever buffered.
    this.decoder = new SyncDecoder(options.maxBytes);
    this.ready = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.ready.catch(() => undefined);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    // After the frames already received: the agent's error frame says more than the end after it.
    stream.on('error', (error) => void this.applying.finally(() => this.stopped(`the stream from the agent broke: ${error.message}`)));
    stream.on('close', () => void this.applying.finally(() => this.stopped('the agent ended the copy')));
    stream.on('end', () => stream.end());
    stream.write(encodeSyncFrame({ t: 'hello', v: SYNC_VERSION, maxBytes: options.maxBytes, exclude: options.exclude, rw: options.rw }));
  }

  /** Ends the stream and removes the directory. */
  async close(): Promise<void> {
    await this.detach();
    await rm(this.options.dir, { recursive: true, force: true });
  }

  /** Ends the stream and leaves the directory (for a new copy to take over). */
  async detach(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.stream.destroy();
    await this.applying.catch(() => undefined);
  }

  private stopped(reason: string): void {
    if (this.closed || this.failure !== null) return;
    this.failure = reason;
    this.settle.reject(new Error(reason));
    if (this.timer) clearTimeout(this.timer);
    log.info('!! copy %s stopped: %s', this.options.name, this.failure);
    this.options.onStop?.(reason, this.byAgent);
  }

  private onData(chunk: Buffer): void {
    let frames: SyncFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.stream.destroy();
      return this.stopped((error as Error).message);
    }
    for (const frame of frames) this.applying = this.applying.then(() => this.onFrame(frame)).catch((error: Error) => {
      this.stream.destroy();
      this.stopped(`writing the copy: ${error.message}`);
    });
  }

  private async onFrame(frame: SyncFrame): Promise<void> {
    if (this.closed) return;
    switch (frame.t) {
      case 'mounts':
        if (frame.mounts.some((m) => m.path.startsWith('/.tp-'))) throw new Error('the agent named a mount path that tp keeps for itself (/.tp-…)');
        this.mounts = frame.mounts;
        await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
        // For `--netns`, which shows each mount at its path in the pod (src/capture/mounts.ts).
        await writeFile(join(this.options.dir, MOUNTS_MANIFEST), JSON.stringify(frame.mounts.map((m) => m.path)), { mode: 0o600 });
        return;
      case 'synced':
        if (this.snapshot) await this.removeLeftovers(this.snapshot);
        this.snapshot = null;
        this.settle.resolve(this.mounts);
        if (this.options.rw && !this.timer && this.mounts.some((m) => m.rw)) this.rescanLater();
        return;
      case 'error':
        this.byAgent = true;
        this.stream.destroy();
        return this.stopped(frame.mount ? `${frame.message} (mount ${frame.mount})` : frame.message);
      case 'hello':
        throw new Error('the agent sent a hello');
      default:
        return this.apply(frame);
    }
  }

  private async apply(frame: EntryFrame): Promise<void> {
    if (!mountOf(this.mounts, frame.p)) throw new Error(`the agent sent ${frame.p}, outside its mounts`);
    const local = join(this.options.dir, frame.p);
    const rw = mountOf(this.mounts, frame.p)!.rw;
    if (rw && this.known.has(frame.p) && (await this.signature(local)) !== this.known.get(frame.p)) return; // ours is newer: it is on its way
    await applyEntry(this.options.dir, frame.p, frame);
    this.snapshot?.add(frame.p);
    if (!rw) return;
    if (frame.t === 'rm') this.known.delete(frame.p);
    else this.known.set(frame.p, (await this.signature(local)) ?? '');
  }

  /** After a snapshot into a directory an earlier copy filled: what the pod no longer has goes. */
  private async removeLeftovers(received: Set<string>): Promise<void> {
    const { tree } = await scanMounts(this.mounts.map((m) => ({ path: m.path, at: join(this.options.dir, m.path) })));
    for (const path of [...tree.keys()].sort().reverse()) if (!received.has(path)) await rm(join(this.options.dir, path), { recursive: true, force: true });
  }

  private async signature(local: string): Promise<string | undefined> {
    const { tree } = await scanMounts([{ path: '/x', at: local }]).catch(() => ({ tree: new Map() }));
    return tree.get('x')?.signature;
  }

  private rescanLater(): void {
    this.timer = setTimeout(() => void this.sendLocalChanges().finally(() => !this.closed && !this.failure && this.rescanLater()), RESCAN_MS);
  }

  /** The user's changes in read-write mounts, sent to the pod. */
  private async sendLocalChanges(): Promise<void> {
    await this.applying;
    const rwMounts = this.mounts.filter((m) => m.rw).map((m) => ({ path: m.path, at: join(this.options.dir, m.path) }));
    const { tree } = await scanMounts(rwMounts);
    const known = new Map([...this.known].filter(([path]) => mountOf(rwMounts, path)));
    const changes = diffTrees(known, tree);
    for (const path of changes.removed) {
      this.known.delete(path);
      this.stream.write(encodeSyncFrame({ t: 'rm', p: path }));
    }
    for (const path of changes.put) {
      const entry = tree.get(path)!;
      if (entry.kind === 'file') {
        const body = await readFile(entry.local).catch(() => null);
        if (body === null) continue;
        this.stream.write(encodeSyncFrame({ t: 'file', p: path, mode: entry.mode, body }));
      } else if (entry.kind === 'dir') {
        this.stream.write(encodeSyncFrame({ t: 'dir', p: path, mode: entry.mode }));
      } else {
        this.stream.write(encodeSyncFrame({ t: 'link', p: path, target: entry.target! }));
      }
      this.known.set(path, entry.signature);
    }
    if (changes.put.length + changes.removed.length > 0) log('-> copy %s: %d changed, %d removed', this.options.name, changes.put.length, changes.removed.length);
  }
}
