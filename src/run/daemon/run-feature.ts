// `tp run`'s part of the daemon, as a daemon feature (src/daemon/feature.ts): starts the shim support
// (redirect listener, name query socket, routes file) once the daemon is connected, rewrites the
// routes file whenever the manager sends new cluster info, and reports where everything is in
// `tp status` under `features.run`. Leaves out the shims and the command (shims/, src/run/run.ts).
import type { StartFeature } from '../../daemon/feature.js';
import { startShimSupport } from './shim-support.js';

export const startRunFeature: StartFeature = async (context) => {
  const dnsPort = Number(context.listeners.dns.split(':').pop());
  const support = await startShimSupport({
    paths: context.paths,
    table: context.table,
    dial: context.dial,
    resolve: (name, type) => context.link.resolve(name, type),
    dnsPort,
    gate: context.gate,
  });
  // The daemon's own listener (registered first) has already rebuilt the table when this runs.
  const onClusterInfo = (): void => support.update();
  context.link.on('clusterInfo', onClusterInfo);
  return {
    name: 'run',
    status: () => ({ routesFile: support.files.routesFile, nameSocket: support.files.nameSocket, captureSocket: support.files.captureSocket, redirect: `127.0.0.1:${support.redirectPort}`, handover: `udp 127.0.0.1:${support.handoverPort}` }),
    close: async () => {
      context.link.off('clusterInfo', onClusterInfo);
      await support.close();
    },
  };
};
