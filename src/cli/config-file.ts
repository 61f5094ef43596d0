// The user's defaults for tp's flags, from `$XDG_CONFIG_HOME/tp/config.yaml` (default
// ~/.config/tp/config.yaml). The file's keys are the flags' names; a flag on the command line
// (or the flag's environment variable) overrides the file, and the file overrides tp's defaults.
// A missing file is no file; a malformed one, or a key tp does not know, is an error naming the
// line, since a setting that silently does nothing is worse than a refusal.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { TpError } from '../errors.js';
import { DEFAULT_LOG_LEVEL, LOG_LEVEL_ENV, LOG_LEVELS, parseLogLevel } from '../log/logger.js';

/** The file's keys: the names of the flags they give defaults to. */
export const CONFIG_KEYS = ['namespace', 'manager-namespace', 'also-proxy', 'never-proxy', 'log-level', 'image', 'netns'] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];
type ListKey = 'also-proxy' | 'never-proxy';
const LIST_KEYS: readonly ConfigKey[] = ['also-proxy', 'never-proxy'];

export type ConfigValues = { [K in ConfigKey]?: K extends ListKey ? string[] : string };

/** `netns:` — whether tp run captures in a namespace by default: on (--netns), try (--try-netns), off. */
export const NETNS_VALUES = ['on', 'try', 'off'] as const;
/** The environment variable that overrides the file's `netns:`. */
export const NETNS_ENV = 'TP_NETNS';

/** A config file bigger than this is not one: refused before it is parsed. */
const MAX_CONFIG_BYTES = 64 * 1024;

export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME ?? homedir(), '.config'), 'tp', 'config.yaml');
}

/** The file's values; none when there is no file. */
export function readConfigFile(path: string): ConfigValues {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw configError(path, `cannot be read: ${(err as Error).message}`, ['Check the file\'s permissions, or move it away to use the defaults.']);
  }
  if (text.length > MAX_CONFIG_BYTES) throw configError(path, `is ${text.length} bytes; a tp config file has at most ${MAX_CONFIG_BYTES}.`, []);
  return parseConfig(text.toString('utf8'), path);
}

/** Parses and checks the file's text; `path` only names it in errors. */
export function parseConfig(text: string, path: string): ConfigValues {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined): number => (node?.range ? lines.linePos(node.range[0]).line : 1);
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const line = first.linePos?.[0].line ?? 1;
    throw configError(path, `is not valid YAML at line ${line}: ${first.message.split('\n')[0]}`, [`Fix line ${line} of ${path} (its keys are the flags' names: ${CONFIG_KEYS.join(', ')}).`]);
  }
  if (doc.contents === null) return {};
  if (!isMap(doc.contents)) throw configError(path, 'must be a mapping of settings (key: value lines).', [`Write e.g. "namespace: my-team" in ${path}.`]);
  const values: Record<string, string | string[]> = {};
  for (const pair of doc.contents.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const line = lineOf(keyNode);
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw configError(path, `has an unknown key "${key.slice(0, 40)}" at line ${line}.`, [`Use one of ${CONFIG_KEYS.join(', ')} (line ${line} of ${path}).`]);
    }
    const value = pair.value as Node | null;
    if (key === 'netns' && isScalar(value) && typeof value.value === 'boolean') values[key] = value.value ? 'on' : 'off';
    else values[key] = LIST_KEYS.includes(key as ConfigKey) ? listValue(value, key, line, path) : stringValue(value, key, line, path);
  }
  const netns = values.netns as string | undefined;
  if (netns !== undefined && !(NETNS_VALUES as readonly string[]).includes(netns)) {
    throw configError(path, `says netns "${netns.slice(0, 40)}"; tp run's namespace setting is one of ${NETNS_VALUES.join(', ')}.`, ['on: every tp run is --netns; try: --try-netns; off: neither (the default).']);
  }
  const level = values['log-level'] as string | undefined;
  if (level !== undefined && !parseLogLevel(level)) {
    throw configError(path, `says log-level "${level.slice(0, 40)}", which is not a log level.`, [`Use one of ${LOG_LEVELS.join(', ')}.`]);
  }
  return values as ConfigValues;
}

function stringValue(node: Node | null, key: string, line: number, path: string): string {
  if (isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number') && String(node.value) !== '') return String(node.value);
  throw configError(path, `needs a text value for "${key}" at line ${line}.`, [`Write e.g. "${key}: value" at line ${line} of ${path}.`]);
}

function listValue(node: Node | null, key: string, line: number, path: string): string[] {
  if (isScalar(node) && typeof node.value === 'string') return [node.value];
  if (isSeq(node) && node.items.every((item) => isScalar(item) && typeof item.value === 'string')) return node.items.map((item) => String((item as { value: string }).value));
  throw configError(path, `needs a list of texts for "${key}" at line ${line}.`, [`Write e.g. "${key}: [10.20.0.0/16, '*.example.com']" at line ${line} of ${path}.`]);
}

function configError(path: string, what: string, hints: string[]): TpError {
  return new TpError('TP_ERR_CONFIG_FILE', `The config file ${path} ${what}`, { hints });
}

// ---- precedence: flag > environment > file > default ----

export type ConfigSource = 'flag' | 'env' | 'file' | 'default';
export interface Setting {
  value: string | string[] | undefined;
  source: ConfigSource;
}
export type EffectiveConfig = Record<ConfigKey, Setting>;

/** The environment variable each key reads, where it has one. */
export const CONFIG_ENV: Partial<Record<ConfigKey, string>> = { 'log-level': LOG_LEVEL_ENV, netns: NETNS_ENV };

/** tp's own defaults; undefined means "decided later" (the context's namespace, the version's image). */
export const CONFIG_DEFAULTS: Record<ConfigKey, string | string[] | undefined> = {
  namespace: undefined,
  'manager-namespace': 'tp',
  'also-proxy': [],
  'never-proxy': [],
  'log-level': DEFAULT_LOG_LEVEL,
  image: undefined,
  netns: 'off',
};

/** Each key's value and where it came from: `given` holds only what was on the command line. */
export function resolveConfig(given: ConfigValues, env: NodeJS.ProcessEnv, file: ConfigValues): EffectiveConfig {
  const entries = CONFIG_KEYS.map((key): [ConfigKey, Setting] => {
    const envName = CONFIG_ENV[key];
    if (given[key] !== undefined) return [key, { value: given[key], source: 'flag' }];
    if (envName && env[envName]) return [key, { value: env[envName], source: 'env' }];
    if (file[key] !== undefined) return [key, { value: file[key], source: 'file' }];
    return [key, { value: CONFIG_DEFAULTS[key], source: 'default' }];
  });
  return Object.fromEntries(entries) as EffectiveConfig;
}

const memo = new Map<string, ConfigValues>();

/** The current user's file, read once per process (flags' defaults ask for it key by key). */
export function userConfig(env: NodeJS.ProcessEnv = process.env): ConfigValues {
  const path = configFilePath(env);
  let values = memo.get(path);
  if (!values) memo.set(path, (values = readConfigFile(path)));
  return values;
}
