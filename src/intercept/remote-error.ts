// Turns a failed intercept request to the manager back into the TpError the manager threw: the
// tunnel's RPC carries only { code, message }, so the hints a user can act on are added here, by
// code. Anything else (the manager unreachable, a timeout) is wrapped with what was being done.
import { TpError } from '../errors.js';

const HINTS: Record<string, string[]> = {
  TP_ERR_INTERCEPT_NO_WORKLOAD: ['Check the name and the namespace (-n); `tp list` shows the workloads.'],
  TP_ERR_INTERCEPT_NO_SERVICE: ['An intercept takes a Service\'s traffic: create a Service for the workload, or pick one with --service.'],
  TP_ERR_INTERCEPT_SERVICE_AMBIGUOUS: ['Add --service <name>.'],
  TP_ERR_INTERCEPT_NO_PORT: ['Use --port <local port>:<service port name or number>.'],
  TP_ERR_INTERCEPT_CONFLICT: ['`tp list` shows who holds which intercept.'],
  TP_ERR_INTERCEPT_ROLLOUT: ['The workload\'s pods did not restart with the traffic-agent; its events usually say why.'],
  TP_ERR_INTERCEPT_PODS_REFUSED: ['The message above is the cluster\'s own reason; the workload is as it was before tp touched it.'],
  TP_ERR_INTERCEPT_NOT_READY: ['Compare the Service\'s endpoints with the pods that run the traffic-agent: kubectl get endpoints,pods -o wide -n <namespace>; a Service that also selects pods of another workload sends them part of the traffic.'],
  TP_ERR_INTERCEPT_NO_AGENT: ['Look at the agent\'s log: kubectl logs <pod> -c traffic-agent'],
};

export function remoteError(what: string, err: unknown): TpError {
  if (err instanceof TpError) return err;
  const e = err as Error & { code?: string; remoteCode?: string };
  if (e.code === 'TUNNEL_ERR_RPC_FAILED' && e.remoteCode) {
    const message = e.message.replace(/^peer failed the request: /, '');
    return new TpError(e.remoteCode, message, { hints: HINTS[e.remoteCode] ?? [], cause: err });
  }
  return new TpError('TP_ERR_INTERCEPT_MANAGER', `The traffic-manager did not answer while ${what}: ${e.message}`, {
    cause: err,
    category: 'config',
    hints: ['Run `tp status` to see the connection to the manager.'],
  });
}
