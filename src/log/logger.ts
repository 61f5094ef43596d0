// tp's logger: one namespace per module (`tp:proxy:socks`), four levels, one line per entry.
// `logger(ns)` is called like the `debug` package's loggers were (`log('-- %s closed', id)` is a
// debug line, `log.info(...)`, `log.warn(...)`, `log.error(...)` the others), so call sites stay
// one-liners. Info is the default: lifecycle, errors and one line per failed connection; debug adds
// a line per connection, request and stream.
//
// Every message is formatted with util.format and then escaped whole (escape.ts): whatever a
// client sent (host names, URLs, error text) cannot start a new line or reach a terminal as a
// control sequence, and no call site can forget it. Tokens and environment values are never
// passed to a logger at all.
//
// Written by hand rather than kept on `debug`: that package filters by namespace, not by level,
// formats and prints in one step we would have to wrap for escaping, and writes only to stderr,
// while the daemon needs a file it can rotate (rotating-file.ts). What is left is a few lines on
// util.formatWithOptions.
import { formatWithOptions, inspect, type InspectOptions } from 'node:util';
import { escapeControls } from './escape.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
/** Every tp process (CLI, daemon, manager, agent) starts at this variable's level, if it names one. */
export const LOG_LEVEL_ENV = 'TP_LOG_LEVEL';

/** Characters kept of one message: nobody reads more in a log line, and it bounds an entry's size. */
export const MAX_MESSAGE_CHARS = 4096;

/** Receives whole lines, newline included; must not throw (a throw is swallowed). */
export type LogSink = (line: string) => void;

type Log = (format: string, ...args: unknown[]) => void;

export interface Logger extends Log {
  info: Log;
  warn: Log;
  error: Log;
  /** Whether debug lines are written now (to skip work that would only feed them). */
  readonly enabled: boolean;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const LABEL: Record<LogLevel, string> = { debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR' };
/** %o and %O print on the one line, as everything else does. */
const INSPECT: InspectOptions = { breakLength: Infinity, compact: true };

let threshold = RANK[parseLogLevel(process.env[LOG_LEVEL_ENV]) ?? DEFAULT_LOG_LEVEL];
let sink: LogSink = (line) => void process.stderr.write(line);

export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const wanted = value?.trim().toLowerCase();
  return LOG_LEVELS.find((level) => level === wanted);
}

export function setLogLevel(level: LogLevel): void {
  threshold = RANK[level];
}

export function currentLogLevel(): LogLevel {
  return LOG_LEVELS[threshold];
}

/** Sends every line to `next` from now on; returns the sink it replaces. */
export function setLogSink(next: LogSink): LogSink {
  const previous = sink;
  sink = next;
  return previous;
}

export function logger(namespace: string): Logger {
  const at =
    (level: LogLevel): Log =>
    (format, ...args) => {
      if (RANK[level] < threshold) return;
      const formatted = formatWithOptions(INSPECT, format, ...args);
      const cut = formatted.length > MAX_MESSAGE_CHARS ? `${formatted.slice(0, MAX_MESSAGE_CHARS)}… (${formatted.length - MAX_MESSAGE_CHARS} more characters)` : formatted;
      try {
        sink(`${new Date().toISOString()} ${LABEL[level]} ${namespace} ${escapeControls(cut)}\n`);
      } catch {
        // A log that cannot be written (disk full, file removed) must not break what was logging.
      }
    };
  const log = Object.assign(at('debug'), { info: at('info'), warn: at('warn'), error: at('error') });
  return Object.defineProperty(log, 'enabled', { get: () => threshold <= RANK.debug }) as Logger;
}

/**
 * For the manager and agent, which start at TP_LOG_LEVEL: a value that names no level is reported
 * (without the value: environment values stay out of logs) and info stays; a typo must not stop a
 * server others depend on.
 */
export function reportBadLogLevel(log: Logger, env: NodeJS.ProcessEnv = process.env): void {
  const value = env[LOG_LEVEL_ENV];
  if (value && !parseLogLevel(value)) log.warn('%s names no level (%s); logging at %s', LOG_LEVEL_ENV, LOG_LEVELS.join(', '), currentLogLevel());
}

/**
 * Logs an uncaught exception (or unhandled rejection) with its stack, one error line per stack
 * line, and ends the process with exit code 1 as Node would. Node's own report would go raw to
 * stderr: a detached daemon's stderr is a file, and the message may hold bytes from the network.
 */
export function logUncaught(log: Logger): void {
  process.on('uncaughtException', (error, origin) => {
    const [first, ...rest] = inspect(error).split('\n');
    log.error('crashed (%s): %s', origin, first);
    for (const line of rest) log.error('  %s', line);
    process.exit(1);
  });
}
