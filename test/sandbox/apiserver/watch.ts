// Watch responses: a chunked stream of `{"type": …, "object": …}` JSON lines. Starts with ADDED
// events for the current objects (no resourceVersion, "0", or sendInitialEvents=true), or replays
// the store's history after a given resourceVersion; an expired one yields an ERROR event carrying
// a 410 Expired Status, as upstream does. Selector-filtered watches turn MODIFIED into ADDED or
// DELETED when an object moves in or out of the selection. BOOKMARK events when asked for;
// `timeoutSeconds` ends the stream. Leaves out: watch cache sharding. Used by router.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, toApiStatusError } from './status-errors.js';
import type { K8sObject, Store, StoreEvent } from './store.js';

export interface WatchRequest {
  key: string;
  kindName: string;
  apiVersion: string;
  namespace?: string;
  matches(object: K8sObject): boolean;
  resourceVersion?: string;
  sendInitialEvents: boolean;
  allowBookmarks: boolean;
  timeoutSeconds?: number;
  /** Turns each object into what goes on the wire (a Table row for kubectl -w). */
  encode(object: K8sObject): unknown;
  initialObjects(): K8sObject[];
}

/** How often a BOOKMARK is sent on watches that allow them (upstream: about a minute). */
export const BOOKMARK_INTERVAL_MS = 10_000;

/** Open watch streams, so the server can end them all on close(). */
export class WatchRegistry {
  private readonly open = new Set<() => void>();

  add(stop: () => void): () => void {
    this.open.add(stop);
    return () => this.open.delete(stop);
  }

  closeAll(): void {
    for (const stop of [...this.open]) stop();
  }
}

export function serveWatch(store: Store, registry: WatchRegistry, watch: WatchRequest, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  const write = (type: string, object: unknown): void => {
    if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const inScope = (o: K8sObject | undefined): boolean =>
    o !== undefined && (watch.namespace === undefined || o.metadata.namespace === watch.namespace) && watch.matches(o);
  const onEvent = (event: StoreEvent): void => {
    const now = inScope(event.object);
    const before = event.type === 'ADDED' ? false : inScope(event.previous);
    if (event.type === 'DELETED') {
      if (before || now) write('DELETED', watch.encode(event.object));
    } else if (event.type === 'ADDED') {
      if (now) write('ADDED', watch.encode(event.object));
    } else if (now && before) write('MODIFIED', watch.encode(event.object));
    else if (now) write('ADDED', watch.encode(event.object));
    else if (before) write('DELETED', watch.encode(event.object));
  };
  const bookmark = (annotations?: Record<string, string>): void => {
    write('BOOKMARK', { kind: watch.kindName, apiVersion: watch.apiVersion, metadata: { resourceVersion: String(store.currentRevision), ...(annotations ? { annotations } : {}) } });
  };

  let unsubscribe = (): void => {};
  const rv = watch.resourceVersion;
  const fromScratch = rv === undefined || rv === '' || rv === '0';
  try {
    if (fromScratch || watch.sendInitialEvents) {
      for (const object of watch.initialObjects()) if (inScope(object)) write('ADDED', watch.encode(object));
      if (watch.sendInitialEvents && watch.allowBookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
      unsubscribe = store.watch(watch.key, undefined, onEvent);
    } else {
      const from = Number(rv);
      if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resource version: ${rv}`);
      unsubscribe = store.watch(watch.key, from, onEvent);
    }
  } catch (error) {
    write('ERROR', toApiStatusError(error).toStatus());
    res.end();
    return;
  }

  const timers: NodeJS.Timeout[] = [];
  if (watch.allowBookmarks) timers.push(setInterval(() => bookmark(), BOOKMARK_INTERVAL_MS));
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    for (const timer of timers) clearInterval(timer);
    forget();
    if (!res.writableEnded) res.end();
  };
  const forget = registry.add(stop);
  if (watch.timeoutSeconds !== undefined && watch.timeoutSeconds > 0) timers.push(setTimeout(stop, watch.timeoutSeconds * 1000));
  req.on('close', stop);
  res.on('close', stop);
}
