import { SingleBar } from 'cli-progress';
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
/** How often the line may be redrawn, and the spinner's pace. */
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

interface Payload {
  readonly stage: string;
  readonly total: number | null;
}

/**
 * A progress line on `stream` (stderr), drawn and redrawn in place by
 * `cli-progress` at most ten times a second; the spinner turns on its timer
 * while an unmeasured stage (a drill, say) reports nothing. Silent (no
 * callback at all) when `enabled` is false or the stream is not a terminal,
 * so scripts, pipes and `--json` never see control characters.
 */
export function startProgress(stream: ProgressStream, enabled: boolean): ProgressDisplay {
  if (!enabled || stream.isTTY !== true) return { onProgress: undefined, stop: () => undefined };
  const bar = new SingleBar({
    stream: stream as unknown as NodeJS.WritableStream,
    fps: 1_000 / TICK_MS,
    format: (_options, params, payload: Payload) =>
      renderProgress(payload.stage, params.value, payload.total, Math.floor(Date.now() / TICK_MS)).slice(
        0,
        Math.max(20, params.maxWidth - 1),
      ),
    clearOnComplete: true,
    // Neither hides the cursor nor turns line wrapping off, so an interrupted command leaves the terminal as it was.
    hideCursor: false,
    linewrap: true,
    // Its SIGINT handler would keep Ctrl-C from ending the command.
    gracefulExit: false,
  });
  let stage: string | undefined;
  let stopped = false;
  return {
    onProgress: (next, done, total) => {
      if (stopped) return;
      const payload: Payload = { stage: next, total };
      if (stage === undefined) {
        stage = next;
        bar.start(total ?? 0, done, payload);
        return;
      }
      const changed = stage !== next;
      stage = next;
      bar.setTotal(total ?? 0);
      bar.update(done, payload);
      // A new stage shows at once; other updates wait for the next tick.
      if (changed) bar.render();
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (stage !== undefined) bar.stop();
    },
  };
}
