// Turns a failed intercept request to the manager back into the TpError the manager threw: the
// tunnel's RPC carries only { code, message }, so the hints a user can act on come back from the
// code's entry in src/errors.ts. Anything else (the manager unreachable, a timeout) is wrapped
// with what was being done.
import { errorFromBody, TpError } from '../errors.js';
import { RemoteCallError } from '../tunnel/errors.js';

export function remoteError(what: string, err: unknown): TpError {
  if (err instanceof TpError) return err;
  if (err instanceof RemoteCallError) {
    return errorFromBody({ code: err.peerCode, message: err.peerMessage }, 'TP_ERR_INTERCEPT_MANAGER', err);
  }
  return new TpError('TP_ERR_INTERCEPT_MANAGER', `The traffic-manager did not answer while ${what}: ${(err as Error).message}`, {
    cause: err,
    hints: ['Run `tp status` to see the connection to the manager.'],
  });
}
