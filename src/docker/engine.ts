// The container engine Docker mode uses: whatever the user already has, reached through its own
// CLI so that its configuration holds (DOCKER_HOST, `docker context`, podman's connections):
// `docker` when it is on PATH (Docker, or any engine that speaks the Docker API behind it), else
// `podman` (its CONTAINER_HOST, CONTAINER_CONNECTION or default connection, or podman itself); TP_DOCKER_CLI names another. Every call is the CLI with arguments (never a shell), a
// deadline and, for input, stdin. Leaves out what to run: connection.ts and launch.ts decide.
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { TpError } from '../errors.js';

/** Set to the engine CLI to use (a name on PATH or a path): `docker`, `podman`, `nerdctl`… */
export const DOCKER_CLI_ENV = 'TP_DOCKER_CLI';

export interface Engine {
  /** The CLI's name or path. */
  cli: string;
  /** One line for `tp status`: the CLI, where it points, and the engine that answered. */
  description: string;
}

/** What a failed CLI call said: its exit code and stderr (the engine's own message). */
export class EngineCallError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | string | null,
    readonly stderr: string,
  ) {
    super(`${args.slice(0, 2).join(' ')} failed: ${stderr.trim().split('\n').slice(-3).join(' ') || `exit ${exitCode}`}`);
  }
}

interface VersionPart {
  Version?: string;
  ApiVersion?: string;
  Components?: { Name?: string }[];
}

/** Runs the engine's CLI; resolves with its stdout, rejects with an EngineCallError. */
export function engineCall(cli: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cli, args, { encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const code = (error as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
      reject(new EngineCallError(args, error.killed ? 'timeout' : code, stderr || error.message));
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}

/** Where the CLI's own configuration points it, in the variables each CLI reads (else its configured default). */
async function engineWhere(cli: string, podman: boolean, env: NodeJS.ProcessEnv): Promise<string> {
  if (podman) return env.CONTAINER_HOST ? `CONTAINER_HOST=${env.CONTAINER_HOST}` : env.CONTAINER_CONNECTION ? `connection ${env.CONTAINER_CONNECTION}` : 'its default connection';
  if (env.DOCKER_HOST) return `DOCKER_HOST=${env.DOCKER_HOST}`;
  if (env.DOCKER_CONTEXT) return `context ${env.DOCKER_CONTEXT}`;
  // `docker context use` is kept in the CLI's own config file; a CLI without contexts has its default.
  const context = (await engineCall(cli, ['context', 'show'], { timeoutMs: 5_000 }).catch(() => '')).trim();
  return context && context !== 'default' && /^[\w.-]{1,100}$/.test(context) ? `context ${context}` : 'its default engine';
}

/** The engine to use, after checking it answers; a clear error when none does. */
export async function findEngine(env: NodeJS.ProcessEnv = process.env): Promise<Engine> {
  const candidates = env[DOCKER_CLI_ENV] ? [env[DOCKER_CLI_ENV]] : ['docker', 'podman'];
  const problems: string[] = [];
  for (const cli of candidates) {
    try {
      // podman without a remote connection is its own engine: it has a Client and no Server.
      const answer = JSON.parse(await engineCall(cli, ['version', '--format', '{{json .}}'], { timeoutMs: 15_000 })) as { Server?: VersionPart | null; Client?: VersionPart | null };
      const server = answer.Server ?? (cli.endsWith('podman') ? answer.Client : null);
      if (!server) throw new EngineCallError(['version'], 1, 'no server answered');
      const podman = basename(cli).startsWith('podman');
      const product = server.Components?.[0]?.Name ?? (podman ? `Podman Engine${answer.Server ? '' : ' (local)'}` : 'engine');
      return { cli, description: `${cli} CLI → ${await engineWhere(cli, podman, env)}: ${product} ${server.Version ?? '?'}${server.ApiVersion ? `, API ${server.ApiVersion}` : ''}` };
    } catch (error) {
      const missing = (error as EngineCallError).exitCode === 'ENOENT';
      problems.push(missing ? `${cli}: not installed` : `${cli}: ${(error as Error).message}`);
    }
  }
  throw new TpError('TP_ERR_DOCKER_NO_ENGINE', `No container engine answered (${problems.join('; ')}).`, {
    hints: [
      'Start your engine (Docker Desktop, `sudo systemctl start docker`, or `podman system service`), then check with: docker version',
      'If it listens elsewhere, point the CLI at it: DOCKER_HOST=unix:///path/to/socket (or `docker context use <name>`).',
      'Permission denied on the socket: add yourself to its group (usually docker) and log in again.',
      'podman with a service (podman system service, or podman machine): CONTAINER_HOST=unix:///path/to/podman.sock, or podman system connection add --default <name> <uri>.',
      `Another CLI: ${DOCKER_CLI_ENV}=podman (or a path).`,
    ],
  });
}

/** The default network's gateway (Docker's "bridge", podman's "podman"): the host's address as containers see it. */
export async function bridgeGateway(engine: Engine): Promise<string> {
  for (const network of ['bridge', 'podman']) {
    const gateway = gatewayOf(await engineCall(engine.cli, ['network', 'inspect', network]).catch(() => ''));
    if (gateway) return gateway;
  }
  throw new TpError('TP_ERR_DOCKER_START', 'The engine\'s default network (bridge, or podman\'s podman) has no IPv4 gateway, which the API relay needs.', { hints: [`Check: ${engine.cli} network inspect bridge`] });
}

/** The IPv4 gateway in `network inspect` output: Docker's IPAM.Config, or podman's own subnets. */
export function gatewayOf(inspectJson: string): string | undefined {
  try {
    const [network] = JSON.parse(inspectJson) as { IPAM?: { Config?: { Gateway?: string }[] | null }; subnets?: { gateway?: string }[] }[];
    const candidates = [...(network?.IPAM?.Config ?? []).map((config) => config.Gateway), ...(network?.subnets ?? []).map((subnet) => subnet.gateway)];
    return candidates.find((address): address is string => !!address && /^\d+\.\d+\.\d+\.\d+$/.test(address));
  } catch {
    return undefined;
  }
}
