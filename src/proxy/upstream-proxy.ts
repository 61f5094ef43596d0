// Direct traffic on a laptop that already had a proxy: corporate machines often reach the internet
// only through one, configured as HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY in the
// environment tp started in. This dialer sends `via: 'direct'` targets through that upstream proxy
// (HTTP CONNECT for http:// and https:// proxies, RFC 1928 for socks5:// and socks5h://), honours
// NO_PROXY, and dials plainly when nothing applies. `via: 'cluster'` targets are never handled
// here: wrap it around the direct dial only. Leaves out PAC-configured upstreams and NTLM/Kerberos
// proxy authentication (Basic and RFC 1929 username/password from the URL only).
//
// Which variable applies: plain HTTP requests use http_proxy, then all_proxy; CONNECT and SOCKS
// (any TCP) use https_proxy, then all_proxy, then http_proxy. Lower-case names win over upper-case.
import { logger } from '../log/logger.js';
import { lookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { Duplex } from 'node:stream';
import { TpError } from '../errors.js';
import { cidrContains, parseCidr, parseIp, type Cidr } from '../net/cidr.js';
import { connectTcp, DialError, formatTarget, SOCKS_REPLY, toDialError, type Dial, type DialContext, type DialTarget, type DirectDialOptions } from './dial.js';
import {
  encodeGreeting,
  encodeRequest,
  encodeUserPass,
  parseReply,
  parseTwoBytes,
  SOCKS_COMMAND,
  SOCKS_METHOD,
  USERPASS_VERSION,
} from './socks5-protocol.js';
import { readMessage } from '../net/stream-reader.js';

const log = logger('tp:proxy:upstream');

export const MAX_PROXY_RESPONSE_HEAD_BYTES = 16 * 1024;

export interface UpstreamProxyConfig {
  httpProxy?: URL;
  httpsProxy?: URL;
  allProxy?: URL;
  noProxy: NoProxyRule[];
}

export type NoProxyRule = { kind: 'all' } | { kind: 'cidr'; cidr: Cidr; port?: number } | { kind: 'name'; suffix: string; port?: number };

export class UpstreamProxyConfigError extends TpError {
  constructor(variable: string, cause?: unknown) {
    super('TP_ERR_UPSTREAM_PROXY_BAD_URL', `${variable} is not a proxy URL tp understands`, {
      cause,
      hints: [`Set ${variable} to http://host:port, https://host:port or socks5h://host:port, or unset it.`],
    });
  }
}

const SUPPORTED_PROTOCOLS = new Set(['http:', 'https:', 'socks5:', 'socks5h:']);

function readVariable(env: NodeJS.ProcessEnv, name: string): URL | undefined {
  const raw = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.includes('://') ? raw.trim() : `http://${raw.trim()}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new UpstreamProxyConfigError(name.toUpperCase(), error);
  }
  if (!SUPPORTED_PROTOCOLS.has(url.protocol)) throw new UpstreamProxyConfigError(name.toUpperCase());
  return url;
}

/** Parses NO_PROXY: `*`, names (`example.com` and `.example.com` both cover subdomains), IPs, CIDRs, optional `:port`. */
export function parseNoProxy(value: string | undefined): NoProxyRule[] {
  const rules: NoProxyRule[] = [];
  for (const raw of (value ?? '').split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') {
      rules.push({ kind: 'all' });
      continue;
    }
    let port: number | undefined;
    const portMatch = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (portMatch) {
      entry = portMatch[1];
      port = Number(portMatch[2]);
    }
    entry = entry.replace(/^\[|\]$/g, '');
    if (parseIp(entry.split('/')[0])) {
      try {
        rules.push({ kind: 'cidr', cidr: parseCidr(entry), port });
      } catch {
        log.warn('ignoring NO_PROXY entry that is not a valid CIDR');
      }
      continue;
    }
    rules.push({ kind: 'name', suffix: entry.replace(/^\*?\./, ''), port });
  }
  return rules;
}

/** Reads the upstream proxy settings from an environment (the one tp started in). Throws on a bad URL. */
export function readUpstreamProxyConfig(env: NodeJS.ProcessEnv): UpstreamProxyConfig {
  return {
    httpProxy: readVariable(env, 'http_proxy'),
    httpsProxy: readVariable(env, 'https_proxy'),
    allProxy: readVariable(env, 'all_proxy'),
    noProxy: parseNoProxy(env.no_proxy ?? env.NO_PROXY),
  };
}

export function bypassesProxy(target: DialTarget, rules: readonly NoProxyRule[]): boolean {
  const host = target.host.toLowerCase().replace(/\.$/, '');
  const address = parseIp(host);
  return rules.some((rule) => {
    if (rule.kind === 'all') return true;
    if (rule.port !== undefined && rule.port !== target.port) return false;
    if (rule.kind === 'cidr') return address !== undefined && cidrContains(rule.cidr, address);
    return address === undefined && (host === rule.suffix || host.endsWith(`.${rule.suffix}`));
  });
}

/** The upstream proxy for a direct target, or undefined to dial it plainly. */
export function chooseUpstream(config: UpstreamProxyConfig, target: DialTarget, protocol: DialContext['protocol']): URL | undefined {
  if (bypassesProxy(target, config.noProxy)) return undefined;
  if (protocol === 'http') return config.httpProxy ?? config.allProxy;
  return config.httpsProxy ?? config.allProxy ?? config.httpProxy;
}

function proxyPort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : url.protocol === 'http:' ? 80 : 1080;
}

/** A safe name for logs: scheme, host and port, never the credentials. */
export function describeProxy(url: URL): string {
  return `${url.protocol}//${url.hostname}:${proxyPort(url)}`;
}

async function connectToProxy(url: URL, options: DirectDialOptions): Promise<Duplex> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const socket = await connectTcp({ host, port: proxyPort(url) }, options);
  if (url.protocol !== 'https:') return socket;
  return new Promise((resolve, reject) => {
    const secure = connectTls({ socket: socket as Socket, servername: parseIp(host) ? undefined : host });
    secure.once('secureConnect', () => resolve(secure));
    secure.once('error', (error) => {
      socket.destroy();
      reject(error);
    });
  });
}

function parseResponseHead(bytes: Buffer): { status: number; consumed: number } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const statusLine = bytes.toString('latin1', 0, bytes.indexOf('\r\n'));
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`the upstream proxy answered "${statusLine.slice(0, 100)}"`);
  return { status: Number(match[1]), consumed: end + 4 };
}

function connectStatusError(status: number, target: DialTarget, proxy: URL): DialError {
  const code = status === 403 || status === 407 ? 'TP_ERR_DIAL_FORBIDDEN' : status === 504 ? 'TP_ERR_DIAL_TIMEOUT' : 'TP_ERR_DIAL_FAILED';
  return new DialError(code, target, `could not connect to ${formatTarget(target)}: the upstream proxy ${describeProxy(proxy)} answered ${status}`);
}

async function tunnelThroughHttp(stream: Duplex, proxy: URL, target: DialTarget): Promise<Duplex> {
  const authority = formatTarget(target);
  let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (proxy.username) {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    head += `Proxy-Authorization: Basic ${Buffer.from(credentials).toString('base64')}\r\n`;
  }
  stream.write(`${head}\r\n`);
  const { message, rest } = await readMessage(stream, parseResponseHead, { maxBytes: MAX_PROXY_RESPONSE_HEAD_BYTES, what: 'upstream proxy response' });
  if (message.status < 200 || message.status > 299) throw connectStatusError(message.status, target, proxy);
  if (rest.length > 0) stream.unshift(rest);
  return stream;
}

const SOCKS_REPLY_KINDS: Record<number, DialError['code']> = {
  [SOCKS_REPLY.NOT_ALLOWED]: 'TP_ERR_DIAL_FORBIDDEN',
  [SOCKS_REPLY.NETWORK_UNREACHABLE]: 'TP_ERR_DIAL_NET_UNREACHABLE',
  [SOCKS_REPLY.HOST_UNREACHABLE]: 'TP_ERR_DIAL_UNREACHABLE',
  [SOCKS_REPLY.CONNECTION_REFUSED]: 'TP_ERR_DIAL_REFUSED',
  [SOCKS_REPLY.TTL_EXPIRED]: 'TP_ERR_DIAL_TIMEOUT',
};

async function tunnelThroughSocks(stream: Duplex, proxy: URL, target: DialTarget): Promise<Duplex> {
  const withAuth = proxy.username !== '';
  stream.write(encodeGreeting(withAuth ? [SOCKS_METHOD.NO_AUTH, SOCKS_METHOD.USERNAME_PASSWORD] : [SOCKS_METHOD.NO_AUTH]));
  const choice = await readMessage(stream, parseTwoBytes, { maxBytes: 2, what: 'SOCKS5 method choice' });
  if (choice.message.second === SOCKS_METHOD.USERNAME_PASSWORD && withAuth) {
    stream.write(encodeUserPass(decodeURIComponent(proxy.username), decodeURIComponent(proxy.password)));
    const status = await readMessage(stream, parseTwoBytes, { maxBytes: 2, what: 'SOCKS5 authentication status', initial: choice.rest });
    if (status.message.first !== USERPASS_VERSION || status.message.second !== 0) {
      throw new DialError('TP_ERR_DIAL_FORBIDDEN', target, `the upstream SOCKS proxy ${describeProxy(proxy)} rejected the credentials`);
    }
  } else if (choice.message.second !== SOCKS_METHOD.NO_AUTH) {
    throw new DialError('TP_ERR_DIAL_FORBIDDEN', target, `the upstream SOCKS proxy ${describeProxy(proxy)} accepts none of our authentication methods`);
  }
  // socks5:// means the client resolves names; socks5h:// lets the proxy resolve them.
  let host = target.host;
  if (proxy.protocol === 'socks5:' && !parseIp(host)) host = (await lookup(host)).address;
  stream.write(encodeRequest(SOCKS_COMMAND.CONNECT, host, target.port));
  const { message, rest } = await readMessage(stream, parseReply, { maxBytes: 4 + 1 + 255 + 2, what: 'SOCKS5 reply' });
  if (message.reply !== SOCKS_REPLY.SUCCEEDED) {
    const code = SOCKS_REPLY_KINDS[message.reply] ?? 'TP_ERR_DIAL_FAILED';
    throw new DialError(code, target, `could not connect to ${formatTarget(target)}: the upstream SOCKS proxy ${describeProxy(proxy)} replied 0x${message.reply.toString(16).padStart(2, '0')}`);
  }
  if (rest.length > 0) stream.unshift(rest);
  return stream;
}

/** Opens a connection to `target` through `proxy`. */
export async function dialThroughProxy(proxy: URL, target: DialTarget, options: DirectDialOptions = {}): Promise<Duplex> {
  let stream: Duplex;
  try {
    stream = await connectToProxy(proxy, options);
  } catch (error) {
    const cause = toDialError(error, target);
    throw new DialError(cause.code, target, `could not reach the upstream proxy ${describeProxy(proxy)} for ${formatTarget(target)}: ${cause.message}`, error);
  }
  try {
    const isSocks = proxy.protocol === 'socks5:' || proxy.protocol === 'socks5h:';
    return await (isSocks ? tunnelThroughSocks(stream, proxy, target) : tunnelThroughHttp(stream, proxy, target));
  } catch (error) {
    stream.destroy();
    throw toDialError(error, target);
  }
}

/**
 * A Dial for direct targets that honours the upstream proxy in `env` (default: this process's
 * environment, read once now). Cluster targets are handed to `fallback` unchanged.
 */
export function createUpstreamAwareDial(options: { env?: NodeJS.ProcessEnv; fallback?: Dial } & DirectDialOptions = {}): Dial {
  const config = readUpstreamProxyConfig(options.env ?? process.env);
  const fallback: Dial = options.fallback ?? ((target) => connectTcp(target, options));
  return (target, context) => {
    const proxy = context.via === 'direct' ? chooseUpstream(config, target, context.protocol) : undefined;
    if (!proxy) return fallback(target, context);
    log('-> %s %s through upstream %s', context.client, formatTarget(target), describeProxy(proxy));
    return dialThroughProxy(proxy, target, options);
  };
}
