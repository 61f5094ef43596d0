// Image resolution: maps a container's image name to a local program using images.json, and
// builds the container's argv with Docker semantics (`command` replaces the entrypoint, `args`
// replace the image's default args). Leaves out pulling, layers and image IDs beyond a stable hash.
// Used by the kubelet.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ImageProgram { entrypoint: string[]; args: string[] }
export type ImageTable = Record<string, ImageProgram>;

const IMAGES_FILE = fileURLToPath(new URL('./images.json', import.meta.url));
const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

/** images.json with its placeholders filled in for this checkout and this Node. */
export function loadImageTable(file = IMAGES_FILE): ImageTable {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { images: ImageTable };
  const values: Record<string, string> = {
    node: process.execPath,
    tsx: fileURLToPath(import.meta.resolve('tsx')),
    checkout: CHECKOUT,
    images: fileURLToPath(new URL('./images', import.meta.url)),
  };
  const fill = (s: string): string => s.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole);
  const table: ImageTable = {};
  for (const [name, program] of Object.entries(parsed.images)) {
    table[name] = { entrypoint: program.entrypoint.map(fill), args: program.args.map(fill) };
  }
  return table;
}

/** `docker.io/library/busybox:1.36@sha256:…` → `busybox`. */
export function repositoryOf(image: string): string {
  let name = image.split('@')[0];
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) name = name.slice(0, colon);
  const parts = name.split('/');
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) parts.shift();
  if (parts[0] === 'library') parts.shift();
  return parts.join('/');
}

export function resolveImage(table: ImageTable, image: string): ImageProgram | undefined {
  const repository = repositoryOf(image);
  if (table[repository]) return table[repository];
  const match = Object.keys(table).find((key) => key.endsWith('*') && repository.startsWith(key.slice(0, -1)));
  return match ? table[match] : undefined;
}

/** The argv a container runs: Docker's ENTRYPOINT/CMD rules with the pod's command and args. */
export function containerArgv(program: ImageProgram, command: string[] | undefined, args: string[] | undefined): string[] {
  if (command && command.length > 0) return [...command, ...(args ?? [])];
  return [...program.entrypoint, ...(args && args.length > 0 ? args : program.args)];
}

export function imageId(image: string): string {
  return `sandbox://${repositoryOf(image)}@sha256:${createHash('sha256').update(repositoryOf(image)).digest('hex')}`;
}
