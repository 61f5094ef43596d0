// Starts the sandbox's controller manager: shared watch caches, then the Deployment, ReplicaSet,
// StatefulSet and Endpoints/EndpointSlice controllers, all pure API clients of the sandbox API
// server through a KubeConfig, plus a periodic resync that looks at every object again so that a
// missed event or an expired timer only delays convergence. Garbage collection of owned objects is
// the API server's. Used by test/sandbox/sandbox.ts and the controller tests.
import type { KubeConfig } from '@kubernetes/client-node';
import { Caches } from './caches.js';
import { DeploymentController } from './deployment.js';
import { EndpointsController } from './endpoints.js';
import { EventRecorder } from './events.js';
import { ReplicaSetController } from './replicaset.js';
import { StatefulSetController } from './statefulset.js';
import { Writer } from './writer.js';

const DEFAULT_RESYNC_MS = 10_000;

export interface ControllersOptions {
  kubeConfig: KubeConfig;
  /** How often every object is reconciled again regardless of events; default 10 s. */
  resyncMs?: number;
}

export interface Controllers {
  close(): Promise<void>;
}

export async function startControllers(options: ControllersOptions): Promise<Controllers> {
  const caches = new Caches(options.kubeConfig);
  const writer = new Writer(options.kubeConfig);
  const controllers = [
    new DeploymentController(caches, writer),
    new ReplicaSetController(caches, writer, new EventRecorder(options.kubeConfig, 'replicaset-controller')),
    new StatefulSetController(caches, writer, new EventRecorder(options.kubeConfig, 'statefulset-controller')),
    new EndpointsController(caches, writer),
  ];
  await caches.start();
  for (const controller of controllers) controller.resync();
  const timer = setInterval(() => {
    for (const controller of controllers) controller.resync();
  }, options.resyncMs ?? DEFAULT_RESYNC_MS);
  timer.unref();
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await caches.close();
        await Promise.all(controllers.map((controller) => controller.close()));
      })();
      return closing;
    },
  };
}
