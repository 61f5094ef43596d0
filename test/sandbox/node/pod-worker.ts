// One pod on the node, from admission to deletion: resolves its images (unknown → ErrImagePull,
// the pod stays Pending), gives it a network (netns, IP, resolv.conf, hosts), writes its volumes
// and service-account token, runs init containers in order and then the containers
// (container-runner.ts), and keeps the pod's status (phase, IPs, conditions, container statuses)
// current through the status subresource, coalescing bursts of changes into one patch.
// stop() kills the processes (SIGTERM, then SIGKILL after the grace period) and only then removes
// the network and the pod dir. Processes run as the securityContext's user (run-as-user.ts).
// Leaves out ephemeral containers, resize, capabilities and seccomp. Used by the kubelet.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import debug from 'debug';
import { ContainerRunner, waitingStatus, type BackOff } from './container-runner.js';
import { containerArgv, resolveImage, type ImageTable } from './images.js';
import { writePodEtc, type NodeNetwork } from './network.js';
import { buildContainerEnv, ContainerConfigError, expandVars, type EnvSources } from './pod-env.js';
import { containerMounts, refreshPodVolumes, writeMountsFile, writePodVolumes, type VolumeSources } from './pod-volumes.js';
import type { ProbeTarget } from './probes.js';
import { runAsOf, runAsPrefix } from './run-as-user.js';

const log = debug('tp:sandbox:kubelet');
const CONFIG_RETRY_MS = 1000;
const DEFAULT_GRACE_S = 30;
/** How often ConfigMap and Secret volumes follow their objects (a real kubelet: its sync period, ~1 min). */
const VOLUME_SYNC_MS = Number(process.env.TP_SANDBOX_VOLUME_SYNC_MS) || 1000;

export interface PodWorkerDeps {
  network: NodeNetwork;
  podsDir: string;
  nodeName: string;
  hostIP: string;
  images: ImageTable;
  backOff: BackOff;
  sources: EnvSources & VolumeSources;
  dial: ProbeTarget['dial'];
  patchStatus(pod: V1Pod, status: V1PodStatus): Promise<void>;
}

export class PodWorker {
  readonly podDir: string;
  private readonly runners = new Map<string, ContainerRunner>();
  private readonly initStatuses = new Map<string, V1ContainerStatus>();
  private readonly waiting = new Map<string, V1ContainerStatus>();
  private readonly conditionTimes = new Map<string, { status: string; time: Date }>();
  private podIP: string | undefined;
  private initialized = false;
  private failedInit = false;
  private readonly startTime = new Date();
  private stopped = false;
  private patching = false;
  private dirty = false;
  private patchTimer: NodeJS.Timeout | undefined;
  private volumeTimer: NodeJS.Timeout | undefined;

  constructor(private pod: V1Pod, private readonly deps: PodWorkerDeps) {
    this.podDir = join(deps.podsDir, pod.metadata!.uid!);
  }

  get key(): string {
    return `${this.pod.metadata!.namespace}/${this.pod.metadata!.name}`;
  }

  runner(container: string): ContainerRunner | undefined {
    return this.runners.get(container);
  }

  firstContainer(): string | undefined {
    return this.pod.spec?.containers[0]?.name;
  }

  async start(): Promise<void> {
    const spec = this.pod.spec!;
    const all = [...(spec.initContainers ?? []), ...spec.containers];
    const unknown = all.filter((c) => !resolveImage(this.deps.images, c.image ?? ''));
    if (unknown.length > 0) {
      for (const c of unknown) this.waiting.set(c.name, waitingStatus(c, 'ErrImagePull', `image "${c.image}" is not in the sandbox's images.json`));
      this.schedulePatch();
      return;
    }
    mkdirSync(this.podDir, { recursive: true });
    const { netns, ip } = await this.deps.network.createPodNetwork(this.pod.metadata!.uid!);
    this.podIP = ip;
    const name = spec.hostname ?? this.pod.metadata!.name!;
    const ns = this.pod.metadata!.namespace!;
    const fqdn = spec.subdomain ? `${name}.${spec.subdomain}.${ns}.svc.cluster.local` : '';
    writePodEtc(netns, {
      resolvConf: `nameserver 198.19.0.10\nsearch ${ns}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`,
      hosts: `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${ip}\t${fqdn ? `${fqdn} ` : ''}${name}\n`,
    });
    this.schedulePatch();

    const place = { podIP: ip, hostIP: this.deps.hostIP, nodeName: this.deps.nodeName };
    await this.untilConfigured(spec.containers, () => writePodVolumes(this.pod, this.podDir, place, this.deps.sources));
    this.syncVolumesLater(place);
    const policy = spec.restartPolicy ?? 'Always';
    for (const container of spec.initContainers ?? []) {
      if (this.stopped) return;
      const runner = await this.makeRunner(container, netns, ip, policy === 'Never' ? 'Never' : 'OnFailure');
      if (!runner) return;
      runner.start();
      let code = await runner.nextExit();
      while (code !== 0 && policy !== 'Never' && !this.stopped) code = await runner.nextExit();
      this.initStatuses.set(container.name, runner.status());
      this.runners.delete(container.name);
      if (code !== 0) {
        this.failedInit = true;
        this.schedulePatch();
        return;
      }
    }
    this.initialized = true;
    const runners: ContainerRunner[] = [];
    for (const container of spec.containers) {
      const runner = await this.makeRunner(container, netns, ip, policy);
      if (runner) runners.push(runner);
    }
    if (this.stopped) return;
    for (const runner of runners) runner.start();
    this.schedulePatch();
  }

  /** Builds a container's env, mounts and runner; waits (CreateContainerConfigError) while a reference is missing. */
  private async makeRunner(container: V1Container, netns: string, ip: string, restartPolicy: string): Promise<ContainerRunner | undefined> {
    const place = { podIP: ip, hostIP: this.deps.hostIP, nodeName: this.deps.nodeName };
    const containerDir = join(this.podDir, 'containers', container.name);
    let launch: { env: Record<string, string>; argv: string[] } | undefined;
    await this.untilConfigured([container], async () => {
      const env = await buildContainerEnv(this.pod, container, place, this.deps.sources);
      const mounts = containerMounts(this.pod, container, this.podDir);
      writeMountsFile(join(containerDir, 'mounts'), mounts);
      if (container.name === this.firstContainer()) writeMountsFile(join(this.podDir, 'mounts'), mounts);
      const program = resolveImage(this.deps.images, container.image ?? '')!;
      const expand = (list: string[] | undefined): string[] | undefined => list?.map((s) => expandVars(s, env));
      const user = runAsPrefix(runAsOf(this.pod, container));
      launch = { env, argv: [...user, ...containerArgv(program, expand(container.command), expand(container.args))] };
    });
    if (!launch || this.stopped) return undefined;
    const runner = new ContainerRunner({
      container, ...launch, netns, podIP: ip, restartPolicy,
      mountsFile: join(containerDir, 'mounts'),
      logDir: join(this.podDir, 'logs', container.name),
      backOff: this.deps.backOff,
      graceMs: (this.pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_S) * 1000,
      dial: this.deps.dial,
      onChange: () => this.schedulePatch(),
    });
    this.runners.set(container.name, runner);
    return runner;
  }

  private syncVolumesLater(place: { podIP: string; hostIP: string; nodeName: string }): void {
    if (this.stopped) return;
    this.volumeTimer = setTimeout(() => {
      if (this.stopped) return;
      refreshPodVolumes(this.pod, this.podDir, place, this.deps.sources)
        .catch((error: Error) => log('!! volumes of %s: %s', this.key, error.message))
        .finally(() => this.syncVolumesLater(place));
    }, VOLUME_SYNC_MS);
  }

  private async untilConfigured(containers: V1Container[], step: () => Promise<void>): Promise<void> {
    while (!this.stopped) {
      try {
        await step();
        for (const c of containers) this.waiting.delete(c.name);
        return;
      } catch (error) {
        if (!(error instanceof ContainerConfigError)) throw error;
        for (const c of containers) this.waiting.set(c.name, waitingStatus(c, 'CreateContainerConfigError', error.message));
        this.schedulePatch();
        await new Promise((resolve) => setTimeout(resolve, CONFIG_RETRY_MS));
      }
    }
  }

  /**
   * Kills every container (SIGTERM, SIGKILL after `graceMs`, default the pod's grace period), then
   * removes network and files: until its processes have exited the pod keeps its IP and serves.
   */
  async stop(graceMs?: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.patchTimer);
    clearTimeout(this.volumeTimer);
    await Promise.all([...this.runners.values()].map((r) => r.stop(graceMs)));
    await this.deps.network.deletePodNetwork(this.pod.metadata!.uid!);
    rmSync(this.podDir, { recursive: true, force: true });
  }

  private schedulePatch(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.patching || this.patchTimer) return;
    this.patchTimer = setTimeout(() => void this.flush(), 10);
  }

  private async flush(): Promise<void> {
    this.patchTimer = undefined;
    if (this.stopped || !this.dirty) return;
    this.dirty = false;
    this.patching = true;
    try {
      await this.deps.patchStatus(this.pod, this.status());
    } catch (error) {
      log('!! status of %s: %s', this.key, (error as Error).message);
    } finally {
      this.patching = false;
    }
    if (this.dirty) this.schedulePatch();
  }

  status(): V1PodStatus {
    const spec = this.pod.spec!;
    const statuses = spec.containers.map((c) => this.runners.get(c.name)?.status() ?? this.waiting.get(c.name) ?? waitingStatus(c, 'ContainerCreating', ''));
    const initStatuses = (spec.initContainers ?? []).map((c) => this.initStatuses.get(c.name) ?? this.runners.get(c.name)?.status() ?? this.waiting.get(c.name) ?? waitingStatus(c, 'PodInitializing', ''));
    const mains = spec.containers.map((c) => this.runners.get(c.name));
    let phase = 'Pending';
    if (this.failedInit) phase = 'Failed';
    else if (this.initialized && mains.every((r) => r?.finished())) phase = mains.every((r) => r!.exitCode() === 0) ? 'Succeeded' : 'Failed';
    else if (this.initialized && mains.some((r) => r !== undefined)) phase = 'Running';
    const ready = this.initialized && statuses.every((s) => s.ready);
    return {
      phase,
      hostIP: this.deps.hostIP,
      hostIPs: [{ ip: this.deps.hostIP }],
      podIP: this.podIP,
      podIPs: this.podIP ? [{ ip: this.podIP }] : undefined,
      startTime: this.startTime,
      qosClass: 'BestEffort',
      conditions: [
        this.condition('PodScheduled', true),
        this.condition('Initialized', this.initialized),
        this.condition('ContainersReady', ready),
        this.condition('Ready', ready),
      ],
      initContainerStatuses: initStatuses.length > 0 ? initStatuses : undefined,
      containerStatuses: statuses,
    };
  }

  private condition(type: string, ok: boolean): V1PodCondition {
    const status = ok ? 'True' : 'False';
    const previous = this.conditionTimes.get(type);
    const time = previous && previous.status === status ? previous.time : new Date();
    this.conditionTimes.set(type, { status, time });
    return { type, status, lastProbeTime: undefined, lastTransitionTime: time };
  }
}
