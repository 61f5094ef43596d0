// `tp run --netns` and `--try-netns`: whether the command runs inside tp's capture namespace
// (src/capture), decided once the daemon is connected. --netns insists: where the machine says no
// (user namespaces off, AppArmor's restriction, nft missing, no relay, a daemon without a
// capture socket) tp run stops with that refusal. --try-netns takes the namespace when it works
// and otherwise says why in one line and runs the command with today's layers (proxy
// settings, Node preload, LD_PRELOAD library). Leaves out the namespace itself (src/capture).
import { existsSync } from 'node:fs';
import { TpError } from '../errors.js';
import { captureSupport, type CaptureTools } from '../capture/support.js';

export type NetnsMode = 'off' | 'try' | 'required';

export interface NetnsChoice {
  tools: CaptureTools;
  captureSocket: string;
}

export function chooseNetns(mode: NetnsMode, captureSocket: string, warn: (message: string) => void, env: NodeJS.ProcessEnv): NetnsChoice | undefined {
  if (mode === 'off') return undefined;
  const support = captureSupport(env);
  let error = support.ok ? undefined : support.error;
  if (!error && !existsSync(captureSocket)) {
    error = new TpError('TP_ERR_NETNS_DAEMON', 'The running tp daemon does not serve the capture socket that --netns needs (an older tp started it).', {
      hints: ['Run `tp quit` and try again: tp run then starts a daemon of this version.'],
    });
  }
  if (support.ok && !error) return { tools: support.tools, captureSocket };
  if (mode === 'required') throw error;
  warn(`--try-netns: ${error!.message} Running with proxy settings and preload libraries instead.`);
  return undefined;
}
