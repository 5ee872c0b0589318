import { checkHealth, type ServiceHealth } from '../../ops/health/index.ts';

export type { ServiceHealth };

/** `haddock health`: the readiness of every service behind `url`; the entry prints it and sets the exit status. */
export function healthCommand(url: string, timeoutMs: number): Promise<ServiceHealth[]> {
  return checkHealth({ url, timeoutMs });
}
