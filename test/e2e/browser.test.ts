// A real browser through tp's PAC file, past the front doors' owner check: headless Chromium, run
// as the user who ran `tp connect` with only `--proxy-pac-url=<the URL tp connect printed>`, loads
// cluster Services' pages by their cluster names (plain HTTP, and HTTPS with the certificate
// checked against a CA the user imported), with no prompt; the same Chromium run as a second local
// user gets no cluster page, neither with the same PAC URL nor with a copy of the owner's PAC file.
// What happened is read from Chromium's own net-log (helpers/chromium.ts), not guessed from a page.
import test from 'ava';
import { RUNNING_AS_ROOT, TEST_USER } from '../helpers/unprivileged.js';
import { coreApi } from './helpers/cluster.js';
import { openPage, preText, type PageLoad, type PageRequest } from './helpers/chromium.js';
import { connect, ensureDemoAndManager, newLaptop, type Laptop, type Listeners } from './helpers/laptop.js';

const OTHER_USER = process.env.TP_TEST_USER2 ?? 'tpuser2';
const NAMESPACE = 'default';

let laptop: Laptop;
let listeners: Listeners;
let demoCa: string;

interface Site {
  /** http(s)://<service>.<namespace>[:port]/, as Chromium writes it. */
  url: string;
  /** The pods behind the Service: the only ones that may answer. */
  pods: string[];
}

/** A fixture Service's URL by its cluster name, and its pods, as the API tells them. */
async function site(name: string, scheme: 'http' | 'https'): Promise<Site> {
  const service = await coreApi().readNamespacedService({ name, namespace: NAMESPACE });
  const selector = Object.entries(service.spec!.selector!).map(([key, value]) => `${key}=${value}`).join(',');
  const pods = (await coreApi().listNamespacedPod({ namespace: NAMESPACE, labelSelector: selector })).items.map((pod) => pod.metadata!.name!);
  return { url: new URL(`${scheme}://${name}.${NAMESPACE}:${service.spec!.ports![0].port}/`).href, pods };
}

function request(page: PageLoad, url: string): PageRequest {
  const found = page.requests.find((r) => r.url === url);
  if (!found) throw new Error(`Chromium's net-log has no request for ${url}; it has ${page.requests.map((r) => r.url).join(', ')}`);
  return found;
}

/** The pod named in the echo server's JSON answer shown as the page. */
function answeringPod(page: PageLoad): string | undefined {
  const text = preText(page.dom);
  return text === undefined ? undefined : (JSON.parse(text) as { pod?: string }).pod;
}

test.before(async () => {
  laptop = newLaptop('browser');
  ({ demoCa } = await ensureDemoAndManager(laptop));
  ({ listeners } = await connect(laptop));
});

test.after.always(async () => {
  await laptop?.cleanup();
});

// The PAC file sends cluster names to `PROXY <http>; SOCKS5 <socks>`: Chromium takes the first.
const throughTp = () => `PROXY ${listeners.http};SOCKS5 ${listeners.socks}`;

/** The owner's page load went the PAC way and nobody asked for credentials (headless cannot answer a prompt). */
function assertWentThroughTp(t: import('ava').ExecutionContext, page: PageLoad, url: string): void {
  const pacFetches = page.requests.filter((r) => r.url === listeners.pac);
  t.true(pacFetches.length > 0, 'Chromium fetched the PAC file');
  for (const fetch of pacFetches) t.deepEqual(fetch.statusLines, ['HTTP/1.1 200 OK']);
  t.true(page.pacFetches.length > 0 && page.pacFetches.every((outcome) => outcome === 'OK'), page.pacFetches.join(', '));
  const main = request(page, url);
  t.is(main.proxy, throughTp());
  t.deepEqual(main.statusLines, ['HTTP/1.1 200 OK']);
  t.is(main.error, undefined);
  t.deepEqual(page.requests.flatMap((r) => r.statusLines).filter((line) => / (401|407) /.test(line)), []);
}

test.serial("the owner's headless Chromium with only the PAC URL loads a cluster Service's page by its cluster name", async (t) => {
  const hello = await site('hello', 'http');
  const page = await openPage({ user: TEST_USER, url: hello.url, pacUrl: listeners.pac });
  assertWentThroughTp(t, page, hello.url);
  const pod = answeringPod(page);
  t.true(pod !== undefined && hello.pods.includes(pod), `${pod} is not one of ${hello.pods.join(', ')}`);
});

test.serial("the owner's Chromium loads an HTTPS Service's page, its certificate checked for the cluster name against the user's own trusted CA", async (t) => {
  const tls = await site('tls-echo', 'https');
  // No --ignore-certificate-errors: the page loads only if the chain verifies for the name.
  const page = await openPage({ user: TEST_USER, url: tls.url, pacUrl: listeners.pac, trustCa: demoCa });
  assertWentThroughTp(t, page, tls.url);
  const pod = answeringPod(page);
  t.true(pod !== undefined && tls.pods.includes(pod), `${pod} is not one of ${tls.pods.join(', ')}`);
});

test.serial("the other user's Chromium with the same PAC URL gets 403 for the PAC file, goes DIRECT and cannot resolve the cluster name", async (t) => {
  if (!RUNNING_AS_ROOT) return void t.log('not root: cannot run a second user');
  const hello = await site('hello', 'http');
  const page = await openPage({ user: OTHER_USER, url: hello.url, pacUrl: listeners.pac });
  const pacFetches = page.requests.filter((r) => r.url === listeners.pac);
  t.true(pacFetches.length > 0, 'Chromium tried to fetch the PAC file');
  for (const fetch of pacFetches) t.deepEqual(fetch.statusLines, ['HTTP/1.1 403 Forbidden']);
  // Chromium gives up a PAC file that came with an error status and falls back to no proxy.
  t.deepEqual([...new Set(page.pacFetches)], ['ERR_HTTP_RESPONSE_CODE_FAILURE']);
  const main = request(page, hello.url);
  t.is(main.proxy, 'DIRECT');
  t.is(main.error, 'ERR_NAME_NOT_RESOLVED');
  t.deepEqual(main.statusLines, []);
  t.regex(page.stderr, /Page load failed: net::ERR_NAME_NOT_RESOLVED/);
  t.is(preText(page.dom), undefined);
});

test.serial("the other user's Chromium with a copy of the owner's PAC file is refused by the HTTP proxy and by CONNECT", async (t) => {
  if (!RUNNING_AS_ROOT) return void t.log('not root: cannot run a second user');
  // The PAC file holds nothing secret but ports: assume the other user has it anyway.
  const pacText = (await laptop.run('curl', ['-sS', '--fail', '--max-time', '20', listeners.pac])).stdout;
  t.regex(pacText, /FindProxyForURL/);
  const pacUrl = `data:application/x-ns-proxy-autoconfig;base64,${Buffer.from(pacText).toString('base64')}`;

  const hello = await site('hello', 'http');
  const plain = await openPage({ user: OTHER_USER, url: hello.url, pacUrl });
  const main = request(plain, hello.url);
  t.is(main.proxy, throughTp());
  t.deepEqual(main.statusLines, ['HTTP/1.1 403 Forbidden']);
  // Over a plain-HTTP proxy the refusal is the page Chromium shows: tp's explanation, no pod.
  t.regex(preText(plain.dom) ?? '', /^tp: this proxy belongs to another user on this machine; only the user who ran `tp connect` may use it/);

  const tls = await site('tls-echo', 'https');
  const secure = await openPage({ user: OTHER_USER, url: tls.url, pacUrl, trustCa: demoCa });
  const tunnel = request(secure, tls.url);
  t.is(tunnel.proxy, throughTp());
  // CONNECT answered with 403: Chromium reports the tunnel failed and shows no page.
  t.is(tunnel.error, 'ERR_TUNNEL_CONNECTION_FAILED');
  t.regex(secure.stderr, /Page load failed: net::ERR_TUNNEL_CONNECTION_FAILED/);
  t.is(preText(secure.dom), undefined);
});
