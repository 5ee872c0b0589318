import { checkHealth, type HealthOptions, type ServiceHealth } from '../../ops/health/index.ts';

export type { ServiceHealth };

/**
 * `haddock health`: the readiness of every service, asked on its own URL, then whether the gateway answers
 * (a line of its own); the entry prints it and sets the exit status.
 */
export function healthCommand(
  targets: { readonly gatewayHealthUrl: string; readonly services: HealthOptions['services'] },
  timeoutMs: number,
): Promise<ServiceHealth[]> {
  return checkHealth({ ...targets, timeoutMs });
}
