import type { Progress } from '../ops/backup/index.ts';

/** The part of a terminal stream the renderer uses (a fake one in tests). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): boolean;
}

export interface ProgressDisplay {
  /** Called by the long-running operation; a no-op when the display is off. */
  readonly onProgress: Progress | undefined;
  /** Erases the line and stops the spinner; safe to call more than once. */
  stop(): void;
}

/** Stages whose figures are bytes; the others count items (keys). */
const BYTE_STAGES = new Set(['download']);
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const BAR_WIDTH = 24;
const TICK_MS = 100;

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1_048_576) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1_073_741_824) return `${(bytes / 1_048_576).toFixed(1)} MiB`;
  return `${(bytes / 1_073_741_824).toFixed(2)} GiB`;
}

/**
 * One line of progress: a bar with a percentage when the total is known, a
 * spinner with a running count (bytes for downloads) when it is not.
 * Pure, so the shapes are tested without a terminal.
 */
export function renderProgress(stage: string, done: number, total: number | null, frame: number): string {
  const figure = (n: number) => (BYTE_STAGES.has(stage) ? formatBytes(n) : String(n));
  if (total !== null && total > 0) {
    const ratio = Math.min(1, Math.max(0, done / total));
    const filled = Math.round(ratio * BAR_WIDTH);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
    return `${stage.padEnd(9)} [${bar}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${figure(done)}/${figure(total)}`;
  }
  const spinner = SPINNER[frame % SPINNER.length] as string;
  return `${stage.padEnd(9)} ${spinner}${done > 0 ? ` ${figure(done)}` : ''}`;
}

/**
 * A progress line on `stream` (stderr), redrawn in place. Silent (no callback
 * at all) when `enabled` is false or the stream is not a terminal, so scripts,
 * pipes and `--json` never see control characters.
 */
export function startProgress(stream: ProgressStream, enabled: boolean): ProgressDisplay {
  if (!enabled || stream.isTTY !== true) return { onProgress: undefined, stop: () => undefined };
  let state: { stage: string; done: number; total: number | null } | undefined;
  let frame = 0;
  let lastDraw = 0;
  let shown = false;
  const draw = () => {
    if (state === undefined) return;
    const width = Math.max(20, (stream.columns || 80) - 1);
    stream.write(`\r\u001b[2K${renderProgress(state.stage, state.done, state.total, frame).slice(0, width)}`);
    shown = true;
    lastDraw = Date.now();
  };
  // The spinner keeps turning while an unmeasured stage (a drill, say) reports nothing.
  const timer = setInterval(() => {
    frame++;
    if (state !== undefined && (state.total === null || state.total <= 0)) draw();
  }, TICK_MS);
  timer.unref();
  let stopped = false;
  return {
    onProgress: (stage, done, total) => {
      if (stopped) return;
      const changed = state?.stage !== stage;
      state = { stage, done, total };
      // Redraw at most every tick, but always on a new stage and at 100%.
      if (changed || (total !== null && done >= total) || Date.now() - lastDraw >= TICK_MS) draw();
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (shown) stream.write('\r\u001b[2K');
    },
  };
}
