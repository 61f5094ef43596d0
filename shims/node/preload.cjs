/* eslint-disable @typescript-eslint/no-require-imports */
/* global require, module */
// tp's Node preload (`NODE_OPTIONS=--require <this file>`, set by `tp run`): the Node layer of
// the shims, for when the LD_PRELOAD library is absent (no compiler, --no-preload) and as a
// belt to its braces. It reads the same routes file as the C library ($TP_ROUTES, format in
// shims/libtp/routes.c) and speaks the same protocols to the daemon:
//   - net.Socket#connect (so net, tls, http, https and fetch): a connection to a cluster address
//     goes to the daemon's redirect listener, and a hand-over datagram names the real target once
//     the local port is known; a connection to a name asks the daemon's name query socket first
//     (writes wait, as they do during a DNS lookup). The caller's options are never changed, so
//     TLS SNI and certificate checks stay on the name the caller gave.
//   - dns.lookup / dns.promises.lookup: cluster names answered by the daemon.
//   - dns.resolve* (dns.setServers): the daemon's DNS stub.
// Everything else — loopback, unix sockets, names the daemon calls "not-cluster", any failure to
// reach the daemon — goes to Node's own code unchanged. Children inherit NODE_OPTIONS.
'use strict';

const net = require('node:net');
const dns = require('node:dns');
const dgram = require('node:dgram');
const fs = require('node:fs');

const ANSWER_TTL_MS = 5000;
const QUERY_TIMEOUT_MS = 5000;
const debug = process.env.TP_SHIM_DEBUG === '1';

function log(message) {
  if (debug) process.stderr.write(`tp-node[${process.pid}]: ${message}\n`);
}

/** The routes file, re-read when it changes; null when there is none. */
function createRoutes(path) {
  let stamp = '';
  let current = null;
  return function routes() {
    let stat;
    try {
      stat = fs.statSync(path);
    } catch {
      current = null;
      stamp = '';
      return null;
    }
    const next = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    if (next === stamp) return current;
    stamp = next;
    current = parseRoutes(fs.readFileSync(path, 'latin1'));
    return current;
  };
}

function parseRoutes(text) {
  const r = { version: 0, cidrs: new net.BlockList(), excludes: new net.BlockList(), token: '', redirect: 0, handover: 0, dns: 0, query: '' };
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const key = line.slice(0, space);
    const value = line.slice(space + 1).trim();
    if (key === 'tp-routes') r.version = Number(value);
    else if (key === 'token') r.token = value;
    else if (key === 'redirect' || key === 'handover' || key === 'dns') r[key] = Number(value);
    else if (key === 'query') r.query = value;
    else if (key === 'cidr' || key === 'exclude') addCidr(key === 'cidr' ? r.cidrs : r.excludes, value);
  }
  return r.version === 1 && r.token && r.redirect ? r : null;
}

function addCidr(list, text) {
  const [address, bits] = text.split('/');
  const family = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
  if (!net.isIP(address)) return;
  list.addSubnet(address, bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits), family);
}

function isCluster(r, address) {
  const plain = address.startsWith('::ffff:') && net.isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = net.isIP(plain) === 6 ? 'ipv6' : 'ipv4';
  return !r.excludes.check(plain, family) && r.cidrs.check(plain, family);
}

function install(routes) {
  const answers = new Map();
  let handoverSocket = null;

  /** Asks the daemon about a name: {kind: 'cluster', addresses} | {kind: 'not-cluster'|'nxdomain'|'error'}. */
  function askDaemon(r, name, family) {
    const key = `${name} ${family}`;
    const cached = answers.get(key);
    if (cached && cached.expiresAt > Date.now()) return Promise.resolve(cached.answer);
    return new Promise((resolve) => {
      let text = '';
      const socket = net.createConnection({ path: r.query });
      const finish = (answer) => {
        socket.destroy();
        if (answer.kind !== 'error') answers.set(key, { answer, expiresAt: Date.now() + ANSWER_TTL_MS });
        log(`lookup ${name}: ${answer.kind}`);
        resolve(answer);
      };
      socket.setTimeout(QUERY_TIMEOUT_MS, () => finish({ kind: 'error' }));
      socket.on('error', () => finish({ kind: 'error' }));
      socket.on('connect', () => socket.write(`${name} ${family}\n`));
      socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
        const newline = text.indexOf('\n');
        if (newline < 0) return;
        const [kind, ...addresses] = text.slice(0, newline).split(' ');
        finish(kind === 'cluster' ? { kind, addresses } : { kind });
      });
    });
  }

  function sendHandover(r, laptopPort, host, port) {
    if (!handoverSocket) {
      handoverSocket = dgram.createSocket('udp4');
      handoverSocket.on('error', () => undefined);
      handoverSocket.unref();
    }
    handoverSocket.send(Buffer.from(`${r.token} ${laptopPort} ${host} ${port}`, 'latin1'), r.handover, '127.0.0.1');
  }

  const originalConnect = net.Socket.prototype.connect;

  function redirect(socket, r, options, callback, address, port) {
    log(`connect ${address}:${port}: to the daemon (cluster range)`);
    const redirected = { ...options, host: '127.0.0.1', port: r.redirect, localAddress: '127.0.0.1', family: 4 };
    delete redirected.lookup;
    delete redirected.path;
    socket.once('connect', () => sendHandover(r, socket.localPort, address, port));
    Object.defineProperty(socket, 'remoteAddress', { value: address, configurable: true });
    Object.defineProperty(socket, 'remotePort', { value: port, configurable: true });
    Object.defineProperty(socket, 'remoteFamily', { value: net.isIP(address) === 6 ? 'IPv6' : 'IPv4', configurable: true });
    return originalConnect.call(socket, redirected, callback);
  }

  net.Socket.prototype.connect = function connect(...args) {
    const r = routes();
    // net.connect() and friends pass arguments already normalized (an array tagged with a symbol).
    const normalized = Array.isArray(args[0]) && Object.getOwnPropertySymbols(args[0]).length > 0 ? args[0] : net._normalizeArgs(args);
    const [options, callback] = normalized;
    if (!r || options.path || options.port === undefined) return originalConnect.apply(this, args);
    const host = options.host || 'localhost';
    const port = Number(options.port);
    if (net.isIP(host)) {
      return isCluster(r, host) ? redirect(this, r, options, callback, host, port) : originalConnect.apply(this, args);
    }
    if (host === 'localhost' || !r.query) return originalConnect.apply(this, args);
    // A name: the daemon decides. Until it answers the socket counts as connecting, so writes queue.
    this.connecting = true;
    askDaemon(r, host, options.family === 6 ? 6 : options.family === 4 ? 4 : 0).then((answer) => {
      if (this.destroyed) return;
      const address = answer.kind === 'cluster' ? answer.addresses[0] : undefined;
      if (address) redirect(this, r, options, callback, address, port);
      else if (answer.kind === 'nxdomain') this.destroy(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: host }));
      else originalConnect.call(this, options, callback);
    });
    return this;
  };

  const originalLookup = dns.lookup;
  dns.lookup = function lookup(hostname, options, callback) {
    if (typeof options === 'function') [callback, options] = [options, {}];
    const opts = typeof options === 'number' ? { family: options } : options || {};
    const r = routes();
    if (!r || !r.query || typeof hostname !== 'string' || !hostname || net.isIP(hostname) || hostname === 'localhost') {
      return originalLookup.call(dns, hostname, options, callback);
    }
    const family = opts.family === 6 || opts.family === 'IPv6' ? 6 : opts.family === 4 || opts.family === 'IPv4' ? 4 : 0;
    askDaemon(r, hostname, family).then((answer) => {
      if (answer.kind === 'cluster') {
        const all = answer.addresses.map((address) => ({ address, family: net.isIP(address) }));
        if (opts.all) callback(null, all);
        else callback(null, all[0].address, all[0].family);
      } else if (answer.kind === 'nxdomain') {
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname }));
      } else {
        originalLookup.call(dns, hostname, options, callback);
      }
    });
    return {};
  };

  dns.promises.lookup = function lookup(hostname, options) {
    return new Promise((resolve, reject) => {
      dns.lookup(hostname, options || {}, (error, address, family) => {
        if (error) reject(error);
        else resolve(Array.isArray(address) ? address : { address, family });
      });
    });
  };

  const r = routes();
  if (r && r.dns) {
    try {
      dns.setServers([`127.0.0.1:${r.dns}`]);
      dns.promises.setServers([`127.0.0.1:${r.dns}`]);
    } catch (error) {
      log(`dns.setServers failed: ${error.message}`);
    }
  }
  log('installed');
}

if (process.env.TP_ROUTES && !globalThis.__tpNodePreload) {
  globalThis.__tpNodePreload = true;
  install(createRoutes(process.env.TP_ROUTES));
}

module.exports = { parseRoutes, isCluster };
