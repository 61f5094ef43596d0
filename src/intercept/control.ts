// What the CLI and the daemon's intercept feature (daemon/intercept-feature.ts) say to each other
// over the control socket: the method names, a create's parameters, and how an intercept is
// described in `tp status` and `tp intercept`'s answer. Kept apart from the feature so that the
// CLI's commands load none of the daemon's code (start-up time; test/structure/start-up-imports).
import type { InterceptInfo, InterceptSpec } from '../api/control-api.js';
import type { MountRequest } from './daemon/volume-copies.js';

export const InterceptControl = {
  create: 'intercept.create',
  progress: 'intercept.progress',
  remove: 'intercept.remove',
  list: 'intercept.list',
  mine: 'intercept.mine',
  uninstall: 'intercept.uninstall',
} as const;

export interface CreateParams {
  spec: Omit<InterceptSpec, 'namespace'> & { namespace?: string };
  /** Chosen by the CLI, to poll intercept.progress while the create runs. */
  progressId?: string;
  /** Copy the pod's volume mounts (default: when the container has any). */
  mount?: MountRequest;
}

export interface InterceptStatus {
  name: string;
  id: string;
  state: string;
  message?: string;
  workload: string;
  mode: 'global' | 'personal';
  intercepting: string;
  destination: string;
  warning?: string;
  /** The local copy of the pod's mounts (TP_ROOT), when there is one. */
  mount?: string;
}

export function describe(info: InterceptInfo, warning?: string): InterceptStatus {
  const match = [...Object.entries(info.headers ?? {}).map(([k, v]) => `${k}=${v}`), ...(info.pathPrefix ? [`path ${info.pathPrefix}*`] : [])];
  const port = info.service.portName ? `${info.service.portName} (${info.service.port})` : String(info.service.port);
  return {
    name: info.name,
    id: info.id,
    state: info.state,
    message: info.message,
    workload: `${info.workload.kind}/${info.workload.name} in ${info.workload.namespace}`,
    mode: info.mode,
    intercepting: `${info.mode === 'global' ? 'all traffic' : `requests with ${match.join(', ')}`} to service ${info.service.name} port ${port} (container ${info.container}:${info.containerPort})`,
    destination: `${info.laptopAddress}:${info.laptopPort}`,
    ...(warning ? { warning } : {}),
  };
}
