// What every request handler shares: the store, the object registry, token authority, RBAC
// authorizer, open watches, the node hooks and the CA. Built once by server.ts.
import type { Readable, Writable } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { TokenAuthority } from './auth.js';
import type { Authorizer } from './rbac.js';
import type { ObjectRegistry } from './registry/objects.js';
import type { Store } from './store.js';
import type { WatchRegistry } from './watch.js';

export interface PodLogOptions {
  follow: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  previous?: boolean;
  timestamps?: boolean;
  limitBytes?: number;
}

/** Where a real API server would call the kubelet; provided by the sandbox's node part. */
export interface ApiServerHooks {
  /** A byte stream to the pod's port, as the node's runtime opens it (inside the pod's netns). */
  dialPod?(podIP: string, port: number): Promise<Duplex>;
  /**
   * A Readable of the container's log. To say the pod or container has no log (yet), throw an
   * error with `statusCode: 404` (or `code: 'ENOENT'`); any other error becomes a 400 with its message.
   */
  podLogs?(namespace: string, pod: string, container: string, options: PodLogOptions): Promise<Readable>;
  /** Starts `argv` in a container of a running pod (its netns and mounts), as the node's runtime execs. */
  execInPod?(pod: { namespace: string; name: string; uid: string }, container: string, argv: string[]): ExecProcess;
}

/** A command started by the execInPod hook. */
export interface ExecProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Resolves with the exit code (128 + n after signal n) once the process and its output ended. */
  exited: Promise<number>;
  /** Kills the command and everything it started. */
  kill(): void;
}

export interface ApiContext {
  store: Store;
  registry: ObjectRegistry;
  tokens: TokenAuthority;
  authorizer: Authorizer;
  watches: WatchRegistry;
  hooks: ApiServerHooks;
  caCert: string;
  now: () => number;
}
