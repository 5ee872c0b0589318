export {
  createHttpApp,
  type HttpAppMetrics,
  type HttpAppOptions,
  OPENAPI_INFO,
  type OpenApiSource,
  quietLogController,
  REQUEST_ID_PATTERN,
  requestIdOf,
  SECURITY_SCHEMES,
} from './app.ts';
export {
  attachMetricsApp,
  hasMetricsApp,
  type MetricsAppOptions,
  type MetricsListenerConfig,
  metricsAppOf,
} from './metrics-app.ts';

/** Standard error response schema for the OpenAPI document. */
export const ERROR_SCHEMA = {
  type: 'object',
  properties: { error: { type: 'string' } },
  required: ['error'],
} as const;

/** Error responses documented on every route that can give them. */
export function errorResponses(...statuses: number[]): Record<number, typeof ERROR_SCHEMA> {
  return Object.fromEntries(statuses.map((s) => [s, ERROR_SCHEMA]));
}
