// `npm run image` (scripts/build-image) builds tp's image offline; this runs it the way a runtime
// would (its entrypoint, its user) and checks the Containerfile as far as an offline machine can.
// Needs root and buildah (scripts/setup-machine); the build is cached by its inputs, so only the
// first run after a change pays for it (about 25 s).
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { NON_ROOT_ID } from '../../src/api/pod-security.js';
import { TP_VERSION } from '../../src/version.js';

const run = promisify(execFile);
const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
const IMAGE = `localhost/tp/tp:${TP_VERSION}`;
const ARCHIVE = `${CHECKOUT}.image/tp-${TP_VERSION}.oci.tar`;

interface ImageConfig { User: string; Entrypoint: string[]; Labels: Record<string, string> }

test.before(async () => {
  await run(`${CHECKOUT}scripts/build-image`, [], { cwd: CHECKOUT, timeout: 110_000 });
});

/** Runs `argv` in a fresh container of the image (chroot isolation: no runtime or cgroups needed). */
async function inImage(argv: string[]): Promise<string> {
  const { stdout: id } = await run('buildah', ['from', '--pull-never', IMAGE]);
  const container = id.trim();
  try {
    const { stdout } = await run('buildah', ['run', '--isolation', 'chroot', container, '--', ...argv]);
    return stdout;
  } finally {
    await run('buildah', ['rm', container]);
  }
}

async function imageConfig(): Promise<ImageConfig> {
  const { stdout } = await run('buildah', ['inspect', '--type', 'image', IMAGE]);
  return (JSON.parse(stdout) as { OCIv1: { config: ImageConfig } }).OCIv1.config;
}

test('the image\'s entrypoint runs `tp version` as the nonroot uid of tp\'s securityContext', async (t) => {
  const config = await imageConfig();
  t.is(config.User, `${NON_ROOT_ID}:${NON_ROOT_ID}`);
  t.deepEqual(config.Entrypoint, ['/app/bin/tp']);
  t.regex(await inImage([...config.Entrypoint, 'version']), new RegExp(`^tp ${TP_VERSION.replaceAll('.', '\\.')} \\(node v20\\.`));
  t.is((await inImage(['/bin/id', '-u'])).trim(), String(NON_ROOT_ID));
  t.is((await inImage(['/bin/id', '-g'])).trim(), String(NON_ROOT_ID));
});

test('the image carries the OCI labels, and the archive names it tp/tp:<version>', async (t) => {
  const { Labels: labels } = await imageConfig();
  t.like(labels, { 'org.opencontainers.image.title': 'tp', 'org.opencontainers.image.version': TP_VERSION, 'org.opencontainers.image.licenses': 'Apache-2.0' });
  const { stdout } = await run('tar', ['-xOf', ARCHIVE, 'index.json']);
  const index = JSON.parse(stdout) as { manifests: { annotations?: Record<string, string> }[] };
  t.deepEqual(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']), [`tp/tp:${TP_VERSION}`]);
});

test('the image cannot write to tp\'s own files', async (t) => {
  const error = await t.throwsAsync(inImage(['/bin/touch', '/app/dist/commands/version.js']));
  t.regex(String((error as { stderr?: string }).stderr), /Permission denied/);
});

// Offline, the Containerfile's base image cannot be pulled, so its RUN steps cannot run here; what
// can be checked is that buildah parses it into the two stages and reaches the pull of the base.
test('the Containerfile parses into a build stage and a runtime stage and stops only at the base image', async (t) => {
  const error = await t.throwsAsync(run('buildah', ['build', '--pull=never', '-f', 'Containerfile', '.'], { cwd: CHECKOUT }));
  const output = `${(error as { stdout?: string }).stdout}${(error as { stderr?: string }).stderr}`;
  const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(`${CHECKOUT}Containerfile`, 'utf8'))![1];
  t.regex(output, new RegExp(`\\[1/2\\] STEP 1/\\d+: FROM ${base.replaceAll('.', '\\.')} AS build`));
  t.regex(output, new RegExp(`${base.replaceAll('.', '\\.')}: image not known`));
  t.notRegex(output, /Unknown instruction|parse|syntax/i);
});
