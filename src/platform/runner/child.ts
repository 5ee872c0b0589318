import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';

/** Resolves when the child serves; throws while it does not (yet). */
export type Probe = (pid: number) => Promise<void>;

/**
 * One process the runner keeps alive, declared as data. Adding a child to the
 * platform (Prometheus, Alertmanager…) is one more of these.
 */
export interface ChildSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** stdout and stderr are appended here, by the child itself (the runner is not in the way). */
  readonly logFile: string;
  /** Holds the current pid, so a later run can stop what a killed runner left behind. */
  readonly pidFile: string;
  /** A string /proc/<pid>/cmdline must contain for a leftover pid to be recognised as this child. */
  readonly identity: string;
  /** Start order: a tier starts once every lower tier is ready, and stops before them. */
  readonly tier: number;
  readonly probe: Probe;
  /** Checks run before the first spawn (a free port…); they throw to abort the start. */
  readonly prepare?: () => Promise<void>;
  /** Grace between SIGTERM and SIGKILL. */
  readonly stopTimeoutMs: number;
  /** Exit codes meaning a restart cannot help (bad configuration): start-up fails at once. */
  readonly fatalExitCodes?: readonly number[];
}

export type ChildEvent =
  | { readonly type: 'started'; readonly name: string; readonly pid: number }
  | {
      readonly type: 'exited';
      readonly name: string;
      readonly pid: number | undefined;
      readonly code: number | null;
      readonly signal: string | null;
      readonly restartInMs: number;
    }
  | { readonly type: 'restarted'; readonly name: string; readonly pid: number; readonly restarts: number }
  | {
      readonly type: 'stopped';
      readonly name: string;
      readonly code: number | null;
      readonly signal: string | null;
      readonly forced: boolean;
    };

export const BACKOFF_START_MS = 250;
export const BACKOFF_MAX_MS = 10_000;
/** A child that ran this long before dying starts its backoff over. */
export const STABLE_AFTER_MS = 30_000;
const KILL_WAIT_MS = 5_000;

/** Signals the child's whole process group (it leads one: it was spawned detached). */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

function alive(child: ChildProcess | undefined): child is ChildProcess & { pid: number } {
  return child !== undefined && child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/**
 * A supervised child process: spawned detached in its own process group (so a
 * terminal's Ctrl-C reaches only the runner, which stops children in order),
 * restarted with exponential backoff when it exits unexpectedly, stopped with
 * SIGTERM then SIGKILL.
 */
export class ManagedChild {
  private process: ChildProcess | undefined;
  private startedAt = 0;
  private nextDelayMs = BACKOFF_START_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private exitWaiters: Array<() => void> = [];
  /** How many times the child was restarted. */
  restarts = 0;
  /** How the last run ended, if one did. */
  lastExit: { readonly code: number | null; readonly signal: string | null; readonly error?: string } | undefined;

  constructor(
    readonly spec: ChildSpec,
    private readonly emit: (event: ChildEvent) => void,
  ) {}

  /** The running process's pid, undefined between runs. */
  get pid(): number | undefined {
    return alive(this.process) ? this.process.pid : undefined;
  }

  get running(): boolean {
    return alive(this.process);
  }

  start(): void {
    if (this.stopping) throw new Error(`${this.spec.name} was stopped`);
    if (this.process !== undefined) return;
    if (!this.spawn()) return;
    const pid = this.pid;
    if (pid !== undefined) this.emit({ type: 'started', name: this.spec.name, pid });
  }

  /** True once `stop()` was called and until `resume()`: the child is down on purpose. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** Starts a child `stop()` took down, with a fresh backoff; a no-op for one that was never stopped. */
  resume(): void {
    if (!this.stopping || alive(this.process)) return;
    this.stopping = false;
    this.process = undefined;
    this.lastExit = undefined;
    this.nextDelayMs = BACKOFF_START_MS;
    this.start();
  }

  /** SIGTERM, then SIGKILL after the spec's grace; never restarts afterwards. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.process;
    if (!alive(child)) {
      this.removePidFile();
      return;
    }
    const pid = child.pid;
    const exited = this.waitForExit();
    signalGroup(pid, 'SIGTERM');
    let forced = false;
    if (!(await within(exited, this.spec.stopTimeoutMs))) {
      forced = true;
      signalGroup(pid, 'SIGKILL');
      await within(exited, KILL_WAIT_MS);
    }
    // Anything the child started in its group goes with it.
    signalGroup(pid, 'SIGKILL');
    this.removePidFile();
    this.emit({
      type: 'stopped',
      name: this.spec.name,
      code: this.lastExit?.code ?? null,
      signal: this.lastExit?.signal ?? null,
      forced,
    });
  }

  /** Last resort when the runner itself exits: synchronous, no grace. */
  killNow(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (alive(this.process)) signalGroup(this.process.pid, 'SIGKILL');
  }

  private waitForExit(): Promise<void> {
    if (!alive(this.process)) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** Spawns once; a failure to spawn counts as an immediate exit. */
  private spawn(): boolean {
    let child: ChildProcess;
    try {
      const log = openSync(this.spec.logFile, 'a');
      try {
        child = spawn(this.spec.command, [...this.spec.args], {
          cwd: this.spec.cwd,
          env: this.spec.env,
          stdio: ['ignore', log, log],
          detached: true,
        });
      } finally {
        closeSync(log);
      }
    } catch (err) {
      this.process = undefined;
      this.onExit(undefined, null, null, err instanceof Error ? err.message : String(err));
      return false;
    }
    this.process = child;
    this.startedAt = Date.now();
    let gone = false;
    const onGone = (code: number | null, signal: string | null, error?: string) => {
      if (gone) return;
      gone = true;
      this.onExit(child, code, signal, error);
    };
    child.once('error', (err) => onGone(null, null, err.message));
    child.once('exit', (code, signal) => onGone(code, signal));
    if (child.pid !== undefined) {
      try {
        writeFileSync(this.spec.pidFile, `${child.pid}\n`);
      } catch {
        // The pid file only helps a later run clean up; its absence is not fatal.
      }
    }
    return child.pid !== undefined;
  }

  private onExit(child: ChildProcess | undefined, code: number | null, signal: string | null, error?: string): void {
    if (child !== this.process) return;
    this.lastExit = error === undefined ? { code, signal } : { code, signal, error };
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const resolve of waiters) resolve();
    if (this.stopping) return;

    if (child !== undefined && Date.now() - this.startedAt >= STABLE_AFTER_MS) this.nextDelayMs = BACKOFF_START_MS;
    const delay = this.nextDelayMs;
    this.nextDelayMs = Math.min(this.nextDelayMs * 2, BACKOFF_MAX_MS);
    this.emit({ type: 'exited', name: this.spec.name, pid: child?.pid, code, signal, restartInMs: delay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts += 1;
      const pid = this.spawn() ? this.pid : undefined;
      if (pid !== undefined) this.emit({ type: 'restarted', name: this.spec.name, pid, restarts: this.restarts });
    }, delay);
  }

  private removePidFile(): void {
    rmSync(this.spec.pidFile, { force: true });
  }
}

/** True if `promise` settled within `ms`. */
async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
