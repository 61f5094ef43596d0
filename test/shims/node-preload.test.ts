import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_PRELOAD } from '../../src/run/shim-files.js';
import { run } from './build-helpers.js';
import { startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

// Only the Node preload is loaded here (no LD_PRELOAD), so what works, works through it.
const SERVICE_IP = '198.51.100.7';
const SECURE_IP = '198.51.100.9';
let pod: Server;
let securePod: TlsServer;
let daemon: FakeDaemon;
let env: NodeJS.ProcessEnv;
let caFile: string;
let certDir: string;

async function listen(server: Server | TlsServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

test.before(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'tp-node-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=secure.default', '-addext', 'subjectAltName=DNS:secure.default',
    '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { stdio: 'ignore' });
  caFile = join(certDir, 'cert.pem');
  pod = createServer((req, res) => res.end(`pod ${req.url}\n`));
  securePod = createTlsServer({ key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(caFile) }, (req, res) => res.end(`secure ${req.url}\n`));
  const podPort = await listen(pod);
  const securePort = await listen(securePod);
  daemon = await startFakeDaemon({
    services: { [`${SERVICE_IP}:80`]: podPort, [`${SECURE_IP}:443`]: securePort },
    names: { 'hello.default.svc.cluster.local': SERVICE_IP, 'secure.default.svc.cluster.local': SECURE_IP },
    libraryPath: '',
  });
  env = { ...daemon.env, NODE_OPTIONS: `--require ${NODE_PRELOAD}` };
  delete env.LD_PRELOAD;
});

test.after.always(async () => {
  await daemon?.close();
  pod?.close();
  securePod?.close();
  rmSync(certDir, { recursive: true, force: true });
});

const node = (script: string) => run(process.execPath, ['-e', script], env);

test.serial('fetch reaches a cluster name', async (t) => {
  const result = await node('fetch("http://hello.default/fetch").then((r) => r.text()).then((s) => process.stdout.write(s))');
  t.is(result.stdout, 'pod /fetch\n', result.stderr);
});

test.serial('http.get reaches a cluster name', async (t) => {
  const result = await node('require("http").get("http://hello.default/get", (r) => r.pipe(process.stdout))');
  t.is(result.stdout, 'pod /get\n', result.stderr);
});

test.serial('net.connect to a cluster address reports that address as the remote end', async (t) => {
  const result = await node('const s = require("net").connect(80, "198.51.100.7", () => { console.log(s.remoteAddress, s.remotePort); s.end("GET /net HTTP/1.0\\r\\n\\r\\n"); }); let r = ""; s.on("data", (d) => (r += d)); s.on("end", () => process.stdout.write(r.split("\\r\\n\\r\\n")[1] ?? ""))');
  t.is(result.stdout, `${SERVICE_IP} 80\npod /net\n`, result.stderr);
});

test.serial('tls.connect checks the certificate against the name the caller gave', async (t) => {
  const script = `const tls = require("tls"); const fs = require("fs");
    const s = tls.connect({ host: "secure.default", port: 443, ca: fs.readFileSync(${JSON.stringify(caFile)}) }, () => {
      console.log("authorized", s.authorized); s.write("GET /tls HTTP/1.0\\r\\n\\r\\n"); });
    let text = ""; s.on("data", (d) => (text += d)); s.on("end", () => process.stdout.write(text.split("\\r\\n\\r\\n")[1]));`;
  const result = await node(script);
  t.is(result.stdout, 'authorized true\nsecure /tls\n', result.stderr);
});

test.serial('a certificate for another name is still refused', async (t) => {
  const script = `require("tls").connect({ host: "secure.default", port: 443, servername: "other.default", ca: require("fs").readFileSync(${JSON.stringify(caFile)}) })
    .on("error", (e) => console.log(e.code));`;
  const result = await node(script);
  t.is(result.stdout, 'ERR_TLS_CERT_ALTNAME_INVALID\n', result.stderr);
});

test.serial('dns.lookup answers cluster names and leaves others to the system', async (t) => {
  const result = await node('const dns = require("dns"); dns.lookup("hello.default", (e, a) => { console.log(a); dns.promises.lookup("localhost", { family: 4 }).then((r) => console.log(r.address)); })');
  t.is(result.stdout, `${SERVICE_IP}\n127.0.0.1\n`, result.stderr);
});

test.serial('dns.lookup of an unknown cluster name fails with ENOTFOUND', async (t) => {
  const result = await node('require("dns").lookup("nosuch.default", (e) => console.log(e && e.code))');
  t.is(result.stdout, 'ENOTFOUND\n', result.stderr);
});

test.serial('dns.resolve4 asks the DNS stub', async (t) => {
  const result = await node('require("dns").resolve4("hello.default.svc.cluster.local", (e, a) => console.log(e ? e.code : a.join()))');
  t.is(result.stdout, `${SERVICE_IP}\n`, result.stderr);
});

test.serial('a Node child process inherits the preload', async (t) => {
  const child = 'fetch(\\"http://hello.default/child\\").then((r) => r.text()).then((s) => process.stdout.write(s))';
  const result = await node(`require("child_process").execFile(process.execPath, ["-e", "${child}"], (e, out) => process.stdout.write(out))`);
  t.is(result.stdout, 'pod /child\n', result.stderr);
});

test.serial('without a routes file the preload changes nothing', async (t) => {
  const result = await run(process.execPath, ['-e', 'console.log(typeof globalThis.__tpNodePreload)'], { ...env, TP_ROUTES: '' });
  t.is(result.stdout, 'undefined\n', result.stderr);
});
