// Which connection a command means: the native daemon (named "native") and the Docker-mode
// connections side by side. `--use <pattern>` (shell-style * and ?) picks one; without it a
// single connection is the one, and several are an error that lists them.
import { findDaemon } from '../daemon/launcher.js';
import { TpError } from '../errors.js';
import type { DaemonPaths } from '../daemon/paths.js';
import { connectionDir, hostDaemonPaths, listRecords, type ConnectionRecord } from './connection.js';

export const NATIVE_NAME = 'native';

export type Connection = { kind: 'native'; name: typeof NATIVE_NAME } | { kind: 'docker'; name: string; record: ConnectionRecord; dir: string };

export async function listConnections(env: NodeJS.ProcessEnv = process.env): Promise<Connection[]> {
  const found: Connection[] = [];
  const native = await findDaemon();
  if (native) {
    native.close();
    found.push({ kind: 'native', name: NATIVE_NAME });
  }
  for (const record of listRecords(env)) found.push({ kind: 'docker', name: record.name, record, dir: connectionDir(record.name, env) });
  return found;
}

/** The one connection `use` means (or the only one); null when there is none and no pattern was given. */
export async function chooseConnection(use: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Connection | null> {
  const all = await listConnections(env);
  const matching = use === undefined ? all : all.filter((c) => globToRegExp(use).test(c.name));
  const names = all.map((c) => `${c.name}${c.kind === 'docker' ? ` (container ${c.record.container})` : ' (daemon on this machine)'}`);
  if (matching.length === 1) return matching[0];
  if (matching.length === 0) {
    if (use === undefined) return null;
    throw new TpError('TP_ERR_CONNECTION_UNKNOWN', `No connection matches "${use}".`, { hints: [all.length ? `The connections: ${names.join(', ')}` : 'There are none: tp connect [--docker] first.'] });
  }
  throw new TpError('TP_ERR_CONNECTION_AMBIGUOUS', `${use === undefined ? 'There are several connections' : `"${use}" matches several connections`}: say which with --use <name>.`, {
    hints: [`The connections: ${names.join(', ')}`],
  });
}

export function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** The daemon files of the connection `use` means: a Docker-mode one's, else the native default (undefined). */
export async function daemonPathsFor(use: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<{ paths?: DaemonPaths; connection: Connection | null }> {
  const connection = await chooseConnection(use, env);
  return { connection, paths: connection?.kind === 'docker' ? hostDaemonPaths(connection.dir) : undefined };
}

/** The Docker-mode connection `use` means, if it means one; without --use and with no Docker-mode connection nothing is asked, so a native command costs what it did. */
export async function dockerConnectionFor(use: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Extract<Connection, { kind: 'docker' }> | undefined> {
  if (use === undefined && listRecords(env).length === 0) return undefined;
  const chosen = await chooseConnection(use, env);
  return chosen?.kind === 'docker' ? chosen : undefined;
}
