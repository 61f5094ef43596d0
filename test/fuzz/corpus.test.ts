// Every committed fuzz input, replayed through its target in-process: the seeds, and each input
// the fuzzer once found a crash or hang with (a regression test from then on). The bounded
// fuzzing itself runs in `npm run test:fuzz` (run.ts), outside ava.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const here = dirname(fileURLToPath(import.meta.url));
const targets = readdirSync(join(here, 'targets')).filter((file) => file.endsWith('.ts')).map((file) => file.slice(0, -3));

test('every fuzz target has a seed corpus', (t) => {
  t.true(targets.length >= 6, `targets: ${targets.join(', ')}`);
  for (const target of targets) t.true(readdirSync(join(here, 'corpus', target)).length >= 3, `corpus/${target}`);
});

for (const target of targets) {
  test(`fuzz corpus of ${target} keeps its contract`, async (t) => {
    const { fuzz } = (await import(`./targets/${target}.js`)) as { fuzz: (data: Buffer) => void | Promise<void> };
    const inputs = readdirSync(join(here, 'corpus', target)).sort();
    for (const name of inputs) {
      const data = readFileSync(join(here, 'corpus', target, name));
      await t.notThrowsAsync(async () => fuzz(data), `corpus/${target}/${name}`);
    }
  });
}
