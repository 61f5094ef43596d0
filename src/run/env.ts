// The environment `tp run` gives the command: the proxy variables most programs honour (layer 1),
// plus what loads the shims — LD_PRELOAD for the C library (layer 3), NODE_OPTIONS --require for
// the Node preload (layer 2), TP_ROUTES for both. The user's own values are kept: NO_PROXY,
// JAVA_TOOL_OPTIONS, NODE_OPTIONS and LD_PRELOAD are appended to, never replaced, and adding tp's
// twice (a `tp run` inside a `tp run`) changes nothing. Pure: no I/O. Used by run.ts, and by
// `tp connect` for its export line (ALWAYS_DIRECT).

export interface RunEnvOptions {
  /** The daemon's HTTP proxy, "127.0.0.1:port". */
  httpProxy: string;
  /** The daemon's SOCKS5 proxy, "127.0.0.1:port". */
  socksProxy: string;
  /** "user:password@" where the daemon's doors ask for credentials (door-credentials.ts). */
  proxyUserInfo?: string;
  /** The daemon's routes file, for both shims; leave out to load no shim. */
  routesFile?: string;
  /** Absolute path of libtp.so, to preload it. */
  preloadLibrary?: string;
  /** Absolute path of the Node preload script. */
  nodePreload?: string;
}

/** Loopback stays direct whatever the program's proxy logic does. */
export const ALWAYS_DIRECT = ['localhost', '127.0.0.1', '::1'];
const PROXY_NAMES = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'];

export function buildRunEnv(base: NodeJS.ProcessEnv, options: RunEnvOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  const auth = options.proxyUserInfo ?? '';
  const httpUrl = `http://${auth}${options.httpProxy}`;
  for (const name of PROXY_NAMES) env[name] = httpUrl;
  env.ALL_PROXY = env.all_proxy = `socks5h://${auth}${options.socksProxy}`;
  const noProxy = mergeList(base.NO_PROXY ?? base.no_proxy, ALWAYS_DIRECT);
  env.NO_PROXY = env.no_proxy = noProxy;
  env.NODE_USE_ENV_PROXY = '1';
  env.JAVA_TOOL_OPTIONS = appendWords(base.JAVA_TOOL_OPTIONS, javaProxyOptions(options));
  if (options.routesFile && (options.preloadLibrary || options.nodePreload)) env.TP_ROUTES = options.routesFile;
  if (options.routesFile && options.preloadLibrary) env.LD_PRELOAD = appendPreload(base.LD_PRELOAD, options.preloadLibrary);
  if (options.routesFile && options.nodePreload) env.NODE_OPTIONS = appendWords(base.NODE_OPTIONS, [`--require ${quoteNodeOption(options.nodePreload)}`]);
  return env;
}

/** The environment without anything tp run added that would make tp's own daemon load the shims. */
export function withoutShims(env: NodeJS.ProcessEnv, options: Pick<RunEnvOptions, 'preloadLibrary' | 'nodePreload'>): NodeJS.ProcessEnv {
  const cleaned = { ...env };
  delete cleaned.TP_ROUTES;
  if (options.preloadLibrary && cleaned.LD_PRELOAD) {
    cleaned.LD_PRELOAD = cleaned.LD_PRELOAD.split(/[\s:]+/).filter((entry) => entry && entry !== options.preloadLibrary).join(' ');
    if (!cleaned.LD_PRELOAD) delete cleaned.LD_PRELOAD;
  }
  if (options.nodePreload && cleaned.NODE_OPTIONS) {
    cleaned.NODE_OPTIONS = cleaned.NODE_OPTIONS.replace(`--require ${quoteNodeOption(options.nodePreload)}`, '').trim();
    if (!cleaned.NODE_OPTIONS) delete cleaned.NODE_OPTIONS;
  }
  return cleaned;
}

function javaProxyOptions({ httpProxy, socksProxy }: RunEnvOptions): string[] {
  const [httpHost, httpPort] = splitHostPort(httpProxy);
  const [socksHost, socksPort] = splitHostPort(socksProxy);
  return [
    `-Dhttp.proxyHost=${httpHost}`,
    `-Dhttp.proxyPort=${httpPort}`,
    `-Dhttps.proxyHost=${httpHost}`,
    `-Dhttps.proxyPort=${httpPort}`,
    `-Dhttp.nonProxyHosts=localhost|127.*|[::1]`,
    `-DsocksProxyHost=${socksHost}`,
    `-DsocksProxyPort=${socksPort}`,
  ];
}

function splitHostPort(address: string): [string, string] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), address.slice(colon + 1)];
}

function mergeList(existing: string | undefined, add: readonly string[]): string {
  const entries = (existing ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
  for (const entry of add) if (!entries.includes(entry)) entries.push(entry);
  return entries.join(',');
}

function appendWords(existing: string | undefined, words: readonly string[]): string {
  const current = (existing ?? '').trim();
  const missing = words.filter((word) => !current.includes(word));
  return [current, ...missing].filter(Boolean).join(' ');
}

function appendPreload(existing: string | undefined, library: string): string {
  const entries = (existing ?? '').split(/[\s:]+/).filter(Boolean);
  if (!entries.includes(library)) entries.push(library);
  return entries.join(' ');
}

/** NODE_OPTIONS splits on spaces unless a value is in double quotes. */
function quoteNodeOption(value: string): string {
  return /[\s"]/.test(value) ? `"${value.replace(/(["\\])/g, '\\$1')}"` : value;
}
