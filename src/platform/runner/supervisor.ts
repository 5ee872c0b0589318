import { open, rm } from 'node:fs/promises';
import { type ChildEvent, type ChildSpec, ManagedChild, signalGroup } from './child.ts';
import { PlatformError } from './errors.ts';
import { FatalProbeError } from './probes.ts';
import { commandLine, readPidFile, waitUntilGone } from './processes.ts';

export type SupervisorEvent =
  | ChildEvent
  | { readonly type: 'ready'; readonly name: string; readonly pid: number; readonly ms: number }
  | { readonly type: 'reaped'; readonly name: string; readonly pid: number };

export interface SupervisorOptions {
  /** How long each child has to pass its probe once spawned. */
  readonly readyTimeoutMs: number;
  readonly onEvent?: (event: SupervisorEvent) => void;
  readonly pollMs?: number;
}

/** The last lines of a log file, for a start-up failure message. */
async function tail(file: string, lines = 12): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 8_192);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8').split('\n').filter(Boolean).slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * Starts children tier by tier (each tier ready before the next), keeps them
 * running, and stops them in reverse tier order. If the start fails or is
 * aborted, whatever was started is stopped before the error surfaces; if the
 * runner process exits anyway, every child is killed on the way out.
 */
export class Supervisor {
  private readonly children: ManagedChild[];
  private readonly options: SupervisorOptions;
  private stopped: Promise<void> | undefined;
  private readonly operations = new Map<string, Promise<void>>();
  private readonly onProcessExit = () => {
    for (const child of this.children) child.killNow();
  };

  constructor(specs: readonly ChildSpec[], options: SupervisorOptions) {
    const names = new Set<string>();
    for (const spec of specs) {
      if (names.has(spec.name)) throw new Error(`two children are named ${spec.name}`);
      names.add(spec.name);
    }
    this.options = options;
    this.children = specs.map((spec) => new ManagedChild(spec, (event) => this.emit(event)));
  }

  /** Current pid of each child (undefined while one is between runs). */
  pids(): Readonly<Record<string, number | undefined>> {
    return Object.freeze(Object.fromEntries(this.children.map((child) => [child.spec.name, child.pid])));
  }

  async start(signal?: AbortSignal): Promise<void> {
    process.on('exit', this.onProcessExit);
    const cancel = new AbortController();
    const onAbort = () => cancel.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // Leftovers of a killed runner go first, in stopping order (gateway before Redis).
      for (const tier of this.tiers().reverse()) {
        await Promise.all(tier.map((child) => this.reapLeftover(child.spec)));
      }
      for (const tier of this.tiers()) {
        this.assertRunning(cancel.signal);
        await Promise.all(tier.map((child) => child.spec.prepare?.()));
        this.assertRunning(cancel.signal);
        for (const child of tier) child.start();
        // One failure cancels the siblings' waits, then everything stops.
        await Promise.all(
          tier.map((child) =>
            this.waitReady(child, cancel.signal).catch((err: unknown) => {
              cancel.abort(err);
              throw err;
            }),
          ),
        );
      }
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Stops one child and keeps it down (no restart) until `startChild`: for
   * maintenance, or to check that its absence is noticed.
   */
  async stopChild(name: string): Promise<void> {
    const child = this.child(name);
    return this.serial(name, () => child.stop());
  }

  /** Starts a child `stopChild` took down and resolves once it passes its probe; a no-op wait for a running one. */
  async startChild(name: string): Promise<void> {
    const child = this.child(name);
    return this.serial(name, async () => {
      const cancel = new AbortController();
      this.assertRunning(cancel.signal);
      if (child.stopped) {
        await child.spec.prepare?.();
        this.assertRunning(cancel.signal);
        child.resume();
      }
      await this.waitReady(child, cancel.signal);
    });
  }

  /** Stops every child, highest tier first; idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      for (const tier of this.tiers().reverse()) {
        await Promise.all(tier.map((child) => child.stop()));
      }
      process.off('exit', this.onProcessExit);
    })();
    return this.stopped;
  }

  private child(name: string): ManagedChild {
    const child = this.children.find((candidate) => candidate.spec.name === name);
    if (child === undefined) {
      throw new PlatformError(`no child is named ${name} (known: ${this.children.map((c) => c.spec.name).join(', ')})`);
    }
    return child;
  }

  /** One stop or start of a given child at a time, in call order. */
  private serial(name: string, operation: () => Promise<void>): Promise<void> {
    const previous = this.operations.get(name) ?? Promise.resolve();
    const next = previous.then(operation, operation);
    this.operations.set(
      name,
      next.catch(() => {}),
    );
    return next;
  }

  private assertRunning(signal: AbortSignal): void {
    if (this.stopped !== undefined) throw new PlatformError('start-up interrupted: the platform is stopping');
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new PlatformError('start-up interrupted');
  }

  private tiers(): ManagedChild[][] {
    const byTier = new Map<number, ManagedChild[]>();
    for (const child of this.children) {
      const list = byTier.get(child.spec.tier) ?? [];
      list.push(child);
      byTier.set(child.spec.tier, list);
    }
    return [...byTier.entries()].sort(([a], [b]) => a - b).map(([, list]) => list);
  }

  /**
   * A child a killed runner left behind still holds its port: stop it when
   * its pid file names a live process whose command line is recognisably it.
   */
  private async reapLeftover(spec: ChildSpec): Promise<void> {
    const pid = readPidFile(spec.pidFile);
    if (pid !== undefined && pid !== process.pid && commandLine(pid)?.includes(spec.identity)) {
      signalGroup(pid, 'SIGTERM');
      if (!(await waitUntilGone(pid, spec.stopTimeoutMs))) {
        signalGroup(pid, 'SIGKILL');
        await waitUntilGone(pid, 5_000);
      }
      this.emit({ type: 'reaped', name: spec.name, pid });
    }
    await rm(spec.pidFile, { force: true });
  }

  private async waitReady(child: ManagedChild, signal: AbortSignal): Promise<void> {
    const { spec } = child;
    const started = Date.now();
    const deadline = started + this.options.readyTimeoutMs;
    let lastProblem = 'it never ran';
    for (;;) {
      this.assertRunning(signal);
      const pid = child.pid;
      if (pid !== undefined) {
        try {
          await spec.probe(pid);
          this.emit({ type: 'ready', name: spec.name, pid, ms: Date.now() - started });
          return;
        } catch (err) {
          if (err instanceof FatalProbeError) throw new PlatformError(`${spec.name}: ${err.message}`);
          lastProblem = err instanceof Error ? err.message : String(err);
        }
      } else if (child.lastExit !== undefined) {
        const { code, signal: killedBy, error } = child.lastExit;
        lastProblem = error ?? (killedBy === null ? `it exited with code ${code}` : `it was killed by ${killedBy}`);
        if (code !== null && spec.fatalExitCodes?.includes(code)) {
          throw new PlatformError(await this.failure(spec, `${spec.name} could not start: ${lastProblem}`));
        }
      }
      if (Date.now() >= deadline) {
        const seconds = Math.round(this.options.readyTimeoutMs / 1000);
        throw new PlatformError(
          await this.failure(spec, `${spec.name} did not become ready within ${seconds} s (${lastProblem})`),
        );
      }
      await sleep(this.options.pollMs ?? 100, signal);
    }
  }

  private async failure(spec: ChildSpec, message: string): Promise<string> {
    const lines = await tail(spec.logFile);
    return lines === '' ? `${message}; see ${spec.logFile}` : `${message}; last lines of ${spec.logFile}:\n${lines}`;
  }

  private emit(event: SupervisorEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A broken reporter must not take the supervision down.
    }
  }
}
