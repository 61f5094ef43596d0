// The agent's end of one volume sync stream: waits for the laptop's hello (10 s), leaves out the
// mounts it excludes, scans the rest and refuses with an error frame naming the mount that takes
// the copy over the laptop's cap; otherwise sends the mount list, every entry and `synced`. Then
// it watches (fs.watch where the kernel allows, plus a rescan every second as a backstop) and
// sends only what changed, each batch ending in `synced`. With rw, the laptop's writes to a
// read-write mount are applied in the pod, and the next scan sends them back as the pod now has
// them, so both ends end with the last write that reached the pod (docs/volumes.md). Writes
// outside a read-write mount are refused with an error frame. Used by the agent (agent-link.ts).
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { logger } from '../log/logger.js';
import { applyEntry } from './apply.js';
import { encodeSyncFrame, SyncDecoder, SYNC_VERSION, type SyncFrame } from './sync-frames.js';
import { diffTrees, mountOf, scanMounts, type Tree } from './tree.js';

const log = logger('tp:agent:volumes');
const HELLO_TIMEOUT_MS = 10_000;
export const RESCAN_MS = 1000;
const WATCH_SETTLE_MS = 100;

export interface AgentMount {
  /** The path in the app container. */
  path: string;
  /** Where the agent container sees it. */
  at: string;
  /** The agent may write to it (a --mount-rw copy). */
  rw: boolean;
}

export function serveVolumeStream(stream: Duplex, allMounts: readonly AgentMount[], id: string, rescanMs = RESCAN_MS): void {
  // Until the hello names the cap, no body is expected at all.
  const decoder = new SyncDecoder(0);
  let mounts: AgentMount[] | null = null;
  let rw = false;
  let maxBytes = Infinity;
  const sent = new Map<string, string>();
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | null = null;
  let scanning = false;
  let again = false;
  let closed = false;
  const helloTimer = setTimeout(() => fail('no hello from the laptop in time'), HELLO_TIMEOUT_MS);

  const send = (frame: SyncFrame): boolean => !closed && stream.write(encodeSyncFrame(frame));
  const fail = (message: string, mount?: string): void => {
    if (closed) return;
    log.info('!! %s: %s', id, message);
    send({ t: 'error', message, ...(mount ? { mount } : {}) });
    stop();
    stream.end();
  };
  const stop = (): void => {
    closed = true;
    clearTimeout(helloTimer);
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };

  const rescanSoon = (delay: number): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void rescan(), delay);
  };

  const rescan = async (first = false): Promise<void> => {
    if (closed || !mounts) return;
    if (scanning) {
      again = true;
      return;
    }
    scanning = true;
    try {
      const { tree, bytes } = await scanMounts(mounts);
      let total = 0;
      for (const m of mounts) {
        total += bytes.get(m.path) ?? 0;
        if (total > maxBytes) return fail(`mount ${m.path} takes the copy to ${total} bytes, over the cap of ${maxBytes}`, m.path);
      }
      if (first) send({ t: 'mounts', mounts: mounts.map((m) => ({ path: m.path, rw: m.rw && rw })) });
      const changes = diffTrees(sent, tree);
      for (const path of changes.removed) {
        sent.delete(path);
        send({ t: 'rm', p: path });
      }
      for (const path of changes.put) await sendEntry(tree, path);
      if (first || changes.put.length + changes.removed.length > 0) send({ t: 'synced' });
      if (first) log.info('-> %s: %d mounts, %d entries', id, mounts.length, tree.size);
      if (!stream.writableNeedDrain) return;
      await new Promise((resolve) => stream.once('drain', resolve));
    } catch (error) {
      fail(`reading the mounts: ${(error as Error).message}`);
    } finally {
      scanning = false;
      if (!closed) rescanSoon(again ? 0 : rescanMs);
      again = false;
    }
  };

  const sendEntry = async (tree: Tree, path: string): Promise<void> => {
    const entry = tree.get(path)!;
    if (entry.kind === 'file') {
      const body = await readFile(entry.local).catch(() => null);
      if (body === null) return; // gone since the scan: the next one says so
      send({ t: 'file', p: path, mode: entry.mode, body });
    } else if (entry.kind === 'dir') {
      send({ t: 'dir', p: path, mode: entry.mode });
    } else {
      send({ t: 'link', p: path, target: entry.target! });
    }
    sent.set(path, entry.signature);
  };

  const onHello = (frame: Extract<SyncFrame, { t: 'hello' }>): void => {
    clearTimeout(helloTimer);
    if (frame.v !== SYNC_VERSION) return fail(`the laptop speaks volume sync version ${frame.v}; this agent speaks ${SYNC_VERSION}`);
    rw = frame.rw;
    maxBytes = frame.maxBytes;
    decoder.maxBodyBytes = maxBytes;
    mounts = allMounts.filter((m) => !frame.exclude.includes(m.path));
    for (const m of mounts) {
      try {
        watchers.push(watch(m.at, { recursive: true }, () => rescanSoon(WATCH_SETTLE_MS)).on('error', () => undefined));
      } catch {
        // No watch here (a file mount, an old kernel): the periodic rescan covers it.
      }
    }
    void rescan(true);
  };

  const onWrite = async (frame: Extract<SyncFrame, { t: 'file' | 'dir' | 'link' | 'rm' }>): Promise<void> => {
    const mount = mounts && mountOf(mounts, frame.p);
    if (!rw || !mount?.rw) return fail(`the laptop wrote ${frame.p}, which is not in a read-write mount of a --mount-rw copy`);
    const root = mount.path.slice(1);
    const inside = frame.p === root ? '' : frame.p.slice(root.length + 1);
    await applyEntry(mount.at, inside, frame);
    rescanSoon(0);
  };

  let writing = Promise.resolve();
  stream.on('data', (chunk: Buffer) => {
    let frames: SyncFrame[];
    try {
      frames = decoder.push(chunk);
    } catch (error) {
      return fail((error as Error).message);
    }
    for (const frame of frames) {
      if (frame.t === 'hello' && !mounts) onHello(frame);
      else if ((frame.t === 'file' || frame.t === 'dir' || frame.t === 'link' || frame.t === 'rm') && mounts) {
        writing = writing.then(() => onWrite(frame)).catch((error: Error) => fail(`writing ${frame.p}: ${error.message}`));
      } else return fail(`unexpected ${frame.t} frame from the laptop`);
    }
  });
  stream.on('end', () => {
    stop();
    stream.end();
  });
  stream.on('error', (error) => log('!! %s: %s', id, error.message));
  stream.on('close', stop);
}
