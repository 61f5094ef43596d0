// The images the e2e suite's fixtures run, each named by an environment variable (defaults: the
// sandbox's images). Fixture manifests say `image: IMAGE_<NAME>`; fixture() fills those in (and
// NAMESPACE). A cluster other than the sandbox needs images that behave like these (see
// test/e2e/README.md for what each must contain).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TP_VERSION } from '../../../src/version.js';

const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));

export const IMAGE_VARIABLES = {
  /** HTTP echo server: JSON answer naming the pod ({pod, headers, …}) on $PORT. */
  ECHO: ['TP_E2E_IMAGE_ECHO', 'tp/echo-server:latest'],
  /** The same over TLS with $TLS_CERT/$TLS_KEY. */
  TLS_ECHO: ['TP_E2E_IMAGE_TLS_ECHO', 'tp/tls-echo-server:latest'],
  /** Raw TCP echo on $PORT. */
  TCP_ECHO: ['TP_E2E_IMAGE_TCP_ECHO', 'tp/tcp-echo:latest'],
  /** The close-semantics server (test/sandbox/node/images/close-server.ts). */
  CLOSE_SERVER: ['TP_E2E_IMAGE_CLOSE_SERVER', 'tp/close-server:latest'],
  /** A shell image with curl, python3, node, bash, coreutils, ab: runs `sleep infinity` and what the tests exec. */
  CLIENT: ['TP_E2E_IMAGE_CLIENT', 'debian:12'],
  /** An image with redis-server on its PATH. */
  REDIS: ['TP_E2E_IMAGE_REDIS', 'debian:12'],
  /** tp's own image under a name other than the default: the name `npm run image` tags (manager-image.test.ts). */
  TP: ['TP_E2E_IMAGE_TP', `localhost/tp/tp:${TP_VERSION}`],
} as const satisfies Record<string, readonly [string, string]>;

export type ImageName = keyof typeof IMAGE_VARIABLES;

export function image(name: ImageName): string {
  const [variable, fallback] = IMAGE_VARIABLES[name];
  return process.env[variable] || fallback;
}

/** `text` with every IMAGE_<NAME> filled in; an unknown name is an error, not a broken pod. */
export function withImages(text: string): string {
  return text.replace(/\bIMAGE_([A-Z_]+)\b/g, (_match, name: string) => {
    if (!(name in IMAGE_VARIABLES)) throw new Error(`fixture names image IMAGE_${name}, which test/e2e/helpers/images.ts does not list`);
    return image(name as ImageName);
  });
}

/** The fixture at `path` (relative to the checkout) with its images and NAMESPACE filled in. */
export function fixture(path: string, namespace?: string): string {
  const text = withImages(readFileSync(join(CHECKOUT, path), 'utf8'));
  return namespace === undefined ? text : text.replaceAll('NAMESPACE', namespace);
}
