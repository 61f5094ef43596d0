// Which image `tp manager install` and `tp manager manifest` deploy: --image over $TP_IMAGE over
// tp/tp:<version>, checked as a reference, carried into the Deployment for the manager and (through
// TP_MANAGER_IMAGE) for the agents it injects; and the Containerfile agrees with the package.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { NON_ROOT_ID } from '../../src/api/pod-security.js';
import { TpError } from '../../src/errors.js';
import { chooseImage, defaultImage } from '../../src/install/manifests.js';
import { TP_VERSION } from '../../src/version.js';

const run = promisify(execFile);
const tpBin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const containerfile = readFileSync(fileURLToPath(new URL('../../Containerfile', import.meta.url)), 'utf8');

interface Container { image: string; env: { name: string; value?: string }[] }

/** The manager container of `tp manager manifest` run with these arguments and this TP_IMAGE. */
async function manifestContainer(args: string[], tpImage: string | undefined): Promise<Container> {
  const env = { ...process.env };
  delete env.TP_IMAGE;
  if (tpImage !== undefined) env.TP_IMAGE = tpImage;
  const { stdout } = await run(process.execPath, [tpBin, 'manager', 'manifest', '--output', 'json', ...args], { env });
  const objects = JSON.parse(stdout) as { kind: string; spec?: { template: { spec: { containers: Container[] } } } }[];
  return objects.find((o) => o.kind === 'Deployment')!.spec!.template.spec.containers[0];
}

const agentImage = (c: Container) => c.env.find((e) => e.name === 'TP_MANAGER_IMAGE')?.value;

test('without --image or $TP_IMAGE the manifest deploys tp/tp:<version>, for the manager and its agents', async (t) => {
  const container = await manifestContainer([], undefined);
  t.is(container.image, `tp/tp:${TP_VERSION}`);
  t.is(agentImage(container), `tp/tp:${TP_VERSION}`);
});

test('$TP_IMAGE replaces the default, and an empty $TP_IMAGE counts as unset', async (t) => {
  const fromEnv = await manifestContainer([], 'registry.example.com:5000/team/tp:1.2.3');
  t.is(fromEnv.image, 'registry.example.com:5000/team/tp:1.2.3');
  t.is(agentImage(fromEnv), 'registry.example.com:5000/team/tp:1.2.3');
  t.is((await manifestContainer([], '')).image, defaultImage());
});

test('--image wins over $TP_IMAGE', async (t) => {
  const container = await manifestContainer(['--image', 'registry.example.com/tp@sha256:' + 'ab'.repeat(32)], 'elsewhere/tp:9');
  t.is(container.image, 'registry.example.com/tp@sha256:' + 'ab'.repeat(32));
  t.is(agentImage(container), container.image);
});

test('a malformed reference fails with TP_ERR_INSTALL_BAD_IMAGE and no manifest', async (t) => {
  for (const bad of ['Registry.example.com/Team/TP:1', 'tp/tp:has space', 'tp//tp', '-tp', 'tp/tp:' + 'x'.repeat(300)]) {
    const error = t.throws(() => chooseImage(bad), { instanceOf: TpError });
    t.is(error?.code, 'TP_ERR_INSTALL_BAD_IMAGE', bad);
  }
  for (const good of ['tp', 'localhost/tp/tp:0.1.0', 'Registry.Example.com:443/team_a/tp-x:v1.2_rc.3', 'ghcr.io/a/b@sha256:' + '0'.repeat(64)]) t.is(chooseImage(good), good);
  const error = await t.throwsAsync(manifestContainer([], 'Bad Image'));
  const printed = JSON.parse(String((error as { stdout?: string }).stdout)) as { error: { code: string; hints: string[] } };
  t.is(printed.error.code, 'TP_ERR_INSTALL_BAD_IMAGE');
  t.true(printed.error.hints.some((hint) => hint.includes('TP_IMAGE')));
});

test('the Containerfile labels the package version, runs as the uid of the securityContext, and starts tp', (t) => {
  t.is(/^ARG VERSION=(\S+)$/m.exec(containerfile)?.[1], TP_VERSION, 'bump the Containerfile\'s VERSION with package.json');
  t.is(/^USER (\d+):(\d+)$/m.exec(containerfile)?.slice(1).map(Number).join(':'), `${NON_ROOT_ID}:${NON_ROOT_ID}`);
  t.regex(containerfile, /^ENTRYPOINT \["\/app\/bin\/tp"\]$/m);
  for (const label of ['title', 'version', 'source', 'licenses']) t.regex(containerfile, new RegExp(`org\\.opencontainers\\.image\\.${label}=`));
});
