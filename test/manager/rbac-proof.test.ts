// The rules of the manager's permission check (rbac-proof.ts), one by one: a nonce counts once, for
// its session, for the workloads it was issued for, until it expires, and only where the client
// wrote it; the mark never stays on a workload. The workloads live in memory here; the e2e test
// (test/e2e/intercept/rbac.test.ts) runs the same check against an API server with real RBAC.
import test from 'ava';
import type { ProofWorkload } from '../../src/api/control-api.js';
import { PROOF_ANNOTATION, PROOF_TTL_MS, ProofBook } from '../../src/manager/rbac-proof.js';
import type { Workload, WorkloadApi } from '../../src/inject/workload-api.js';

type Stored = Workload['object'];

/** Deployments in memory, with the two calls ProofBook makes. */
function cluster(names: string[]) {
  const objects = new Map<string, Stored>(names.map((name) => [name, { metadata: { name, namespace: 'team', annotations: {} } } as Stored]));
  const api = {
    read: async (_kind: string, name: string) => structuredClone(objects.get(name) ?? null),
    update: async (w: { name: string }, change: (object: Stored) => Stored | null) => {
      const next = change(structuredClone(objects.get(w.name)!));
      if (next) objects.set(w.name, next);
      return next;
    },
  } as unknown as WorkloadApi;
  /** What the client does with its own credentials: writes the nonce onto the workload. */
  const mark = (name: string, nonce: string) => {
    objects.get(name)!.metadata!.annotations![PROOF_ANNOTATION] = nonce;
  };
  const annotation = (name: string): string | undefined => objects.get(name)!.metadata!.annotations![PROOF_ANNOTATION];
  const workload = (name: string): Workload => ({ kind: 'Deployment', name, namespace: 'team', object: objects.get(name)! });
  return { api, mark, annotation, workload };
}

const ref = (name: string): ProofWorkload => ({ kind: 'Deployment', name, namespace: 'team' });

function book(names: string[]) {
  let now = 1_000_000;
  const c = cluster(names);
  return { ...c, proofs: new ProofBook(c.api, () => now), advance: (ms: number) => (now += ms) };
}

const forbidden = { code: 'TP_ERR_INTERCEPT_FORBIDDEN' } as const;

test('a nonce the client wrote onto the workload passes once, and the mark is removed', async (t) => {
  const { proofs, mark, annotation, workload } = book(['web']);
  const nonce = proofs.issue('s1', [ref('web')]);
  mark('web', nonce);
  await proofs.check('s1', nonce, [workload('web')]);
  t.is(annotation('web'), undefined);
  mark('web', nonce);
  const again = await t.throwsAsync(proofs.check('s1', nonce, [workload('web')]), forbidden);
  t.regex(again!.message, /no valid, unexpired permission check/);
  t.is(annotation('web'), undefined, 'a spent nonce is removed too');
});

test('the mark must be on the workload: a nonce the client could not write proves nothing', async (t) => {
  const { proofs, workload } = book(['web']);
  const nonce = proofs.issue('s1', [ref('web')]);
  const error = await t.throwsAsync(proofs.check('s1', nonce, [workload('web')]), forbidden);
  t.regex(error!.message, /mark is not on it/);
});

test('another session cannot use a nonce, and it is spent by the attempt', async (t) => {
  const { proofs, mark, annotation, workload } = book(['web']);
  const nonce = proofs.issue('s1', [ref('web')]);
  mark('web', nonce);
  await t.throwsAsync(proofs.check('s2', nonce, [workload('web')]), forbidden);
  t.is(annotation('web'), undefined);
  mark('web', nonce);
  await t.throwsAsync(proofs.check('s1', nonce, [workload('web')]), forbidden);
});

test('a nonce counts only for the workloads it was issued for, each of which must carry it', async (t) => {
  const { proofs, mark, annotation, workload } = book(['web', 'db']);
  const nonce = proofs.issue('s1', [ref('web')]);
  mark('web', nonce);
  mark('db', nonce);
  const error = await t.throwsAsync(proofs.check('s1', nonce, [workload('web'), workload('db')]), forbidden);
  t.regex(error!.message, /deployment\/db in namespace "team"/);
  t.is(annotation('web'), undefined);
  t.is(annotation('db'), undefined);

  const both = proofs.issue('s1', [ref('web'), ref('db')]);
  mark('web', both);
  const half = await t.throwsAsync(proofs.check('s1', both, [workload('web'), workload('db')]), forbidden);
  t.regex(half!.message, /deployment\/db.*mark is not on it/);
});

test('a nonce expires after PROOF_TTL_MS', async (t) => {
  const { proofs, mark, workload, advance } = book(['web']);
  const late = proofs.issue('s1', [ref('web')]);
  mark('web', late);
  advance(PROOF_TTL_MS);
  await t.throwsAsync(proofs.check('s1', late, [workload('web')]), forbidden);
  const inTime = proofs.issue('s1', [ref('web')]);
  mark('web', inTime);
  advance(PROOF_TTL_MS - 1);
  await t.notThrowsAsync(proofs.check('s1', inTime, [workload('web')]));
});

test('a client that sends no nonce is told its tp may be older than the manager', async (t) => {
  const { proofs, workload } = book(['web']);
  const error = await t.throwsAsync(proofs.check('s1', undefined, [workload('web')]), forbidden);
  t.regex(error!.message, /older than the traffic-manager/);
});

test('open permission checks are capped, and expired ones make room again', async (t) => {
  const { proofs, advance } = book(['web']);
  let issued = 0;
  for (; issued < 5_000; issued++) {
    try {
      proofs.issue('s1', [ref('web')]);
    } catch (error) {
      t.is((error as { code: string }).code, 'TP_ERR_INTERCEPT_FORBIDDEN');
      break;
    }
  }
  t.is(issued, 1024);
  advance(PROOF_TTL_MS);
  t.notThrows(() => proofs.issue('s1', [ref('web')]));
});
