import { loadConfig as loadGatewayConfig } from '../gateway/config.ts';
import { GATEWAY_HEALTH_PATH } from '../gateway/routing.ts';
import { parseDuration } from '../monitoring-config/duration.ts';
import { type K8sObject, objectId, objectsOf } from './k8s-render.ts';
import { gatewayParityProblems, parseTraefikRule, type Router, ruleHosts, ruleMatches } from './traefik-rules.ts';

/** The Services Traefik may reach, and the program behind each. */
export const INGRESS_UPSTREAMS: Readonly<Record<string, string>> = {
  'haddock-users': 'users',
  'haddock-quotes': 'quotes',
  'haddock-search': 'search',
  'haddock-ops': 'ops',
  'haddock-gateway': 'gateway',
};

type Json = Record<string, unknown>;

function asMap(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The IngressRoutes on an entry point, each route as a router named `<IngressRoute>[<index>]`. */
export function ingressRouters(objects: readonly K8sObject[], entryPoint: string, problems: string[]): Router[] {
  const routers: Router[] = [];
  for (const route of objectsOf(objects, 'IngressRoute')) {
    const spec = asMap(route.spec) ?? {};
    if (!asList(spec.entryPoints).includes(entryPoint)) continue;
    for (const [i, raw] of asList(spec.routes).entries()) {
      const item = asMap(raw) ?? {};
      const name = `${route.metadata.name}[${i}]`;
      const text = String(item.match);
      try {
        const services = asList(item.services).map((s) => asMap(s) ?? {});
        routers.push({
          name,
          rule: parseTraefikRule(text),
          priority: Number(item.priority ?? text.length),
          middlewares: asList(item.middlewares).map((m) => String(asMap(m)?.name)),
          service: services.length === 1 ? String(services[0]?.name) : `<${services.length} services>`,
        });
        for (const s of services) {
          if (s.kind === 'TraefikService') continue;
          if (!(String(s.name) in INGRESS_UPSTREAMS))
            problems.push(`IngressRoute ${name}: service ${String(s.name)} is not one of the platform's`);
          if (s.port !== 'http')
            problems.push(
              `IngressRoute ${name}: service ${String(s.name)} must be reached on its port named http (got ${String(s.port)})`,
            );
        }
      } catch (err) {
        problems.push(`IngressRoute ${name}: ${(err as Error).message}`);
      }
    }
  }
  return routers;
}

/** What the ingress check needs from the code and the overlay. */
export interface IngressContext {
  /** Whether a program (users, quotes, search, ops, gateway) serves a route. */
  readonly hasRoute: (upstream: string, method: string, path: string) => boolean;
  /** The overlay's HOST (params.env). */
  readonly host: string;
}

/**
 * Every problem of a rendered overlay's Traefik objects (empty when none): the websecure routes agree with the gateway
 * path by path (upstream, rate limit, private paths) for the overlay's host, the documentation page and
 * /gateway/health reach the gateway, every route names the overlay's host and nothing else, the rate limit is the
 * gateway's (average and burst RATE_LIMIT_PER_MINUTE, period 1m, per client address), TLS is set, and no route
 * reaches a metrics port.
 */
export function checkIngress(objects: readonly K8sObject[], context: IngressContext): string[] {
  const problems: string[] = [];
  const middlewares = new Map(objectsOf(objects, 'Middleware').map((m) => [m.metadata.name, asMap(m.spec) ?? {}]));
  const routers = ingressRouters(objects, 'websecure', problems);
  if (routers.length === 0) problems.push('no IngressRoute on the websecure entry point');

  for (const route of objectsOf(objects, 'IngressRoute')) {
    for (const [i, raw] of asList(asMap(route.spec)?.routes).entries()) {
      const text = String(asMap(raw)?.match);
      let hosts: string[] = [];
      try {
        hosts = ruleHosts(parseTraefikRule(text));
      } catch {
        continue; // reported above for websecure routes
      }
      if (hosts.length !== 1 || hosts[0] !== context.host)
        problems.push(
          `IngressRoute ${route.metadata.name}[${i}]: Host is ${hosts.join(', ') || 'missing'}, not ${context.host} (params.env)`,
        );
      for (const name of asList(asMap(raw)?.middlewares).map((m) => String(asMap(m)?.name)))
        if (!middlewares.has(name))
          problems.push(`IngressRoute ${route.metadata.name}[${i}]: middleware ${name} is not rendered`);
    }
    const tls = asMap(asMap(route.spec)?.tls);
    const onWebsecure = asList(asMap(route.spec)?.entryPoints).includes('websecure');
    if (onWebsecure && tls?.certResolver === undefined && tls?.secretName === undefined)
      problems.push(`${objectId(route)}: websecure without tls.certResolver or tls.secretName`);
  }

  const limit = loadGatewayConfig({}).rateLimitPerMinute;
  const isRateLimit = (name: string) => asMap(middlewares.get(name)?.rateLimit) !== undefined;
  for (const [name, spec] of middlewares) {
    const rate = asMap(spec.rateLimit);
    if (rate === undefined) continue;
    if (rate.average !== limit || rate.burst !== limit || parseDuration(String(rate.period)) !== 60_000)
      problems.push(
        `Middleware ${name}: must be average ${limit}, period 1m, burst ${limit} (the gateway's RATE_LIMIT_PER_MINUTE)`,
      );
    const depth = asMap(asMap(rate.sourceCriterion)?.ipStrategy)?.depth;
    if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 0)
      problems.push(`Middleware ${name}: needs sourceCriterion.ipStrategy.depth, an integer (per client address)`);
  }

  problems.push(
    ...gatewayParityProblems({
      prefix: 'IngressRoute',
      routers,
      host: context.host,
      upstreamOf: (router) => INGRESS_UPSTREAMS[router.service],
      isLimited: (router) => router.middlewares.some(isRateLimit),
      replacedPath: (router) =>
        router.middlewares
          .map((m) => asMap(middlewares.get(m)?.replacePath)?.path)
          .find((p) => p !== undefined)
          ?.toString(),
      hasRoute: context.hasRoute,
      docsUpstream: 'gateway',
      gatewayHealthUpstream: 'gateway',
    }),
  );
  if (!context.hasRoute('gateway', 'GET', GATEWAY_HEALTH_PATH))
    problems.push(`the gateway does not serve ${GATEWAY_HEALTH_PATH}, which the IngressRoutes route to it`);
  return problems;
}

/**
 * The HTTP → HTTPS redirect's problems (empty when plain HTTP to the host answers a permanent redirect to https for
 * every path, and reaches no service).
 */
export function checkHttpsRedirect(objects: readonly K8sObject[], host: string): string[] {
  const problems: string[] = [];
  const routers = ingressRouters(objects, 'web', problems);
  const middlewares = new Map(objectsOf(objects, 'Middleware').map((m) => [m.metadata.name, asMap(m.spec) ?? {}]));
  for (const path of ['/', '/quotes', '/users/health', '/apidocs', '/metrics']) {
    const router = routers
      .filter((r) => ruleMatches(r.rule, { method: 'GET', path, host }))
      .sort((a, b) => b.priority - a.priority)[0];
    const redirect = router?.middlewares.map((m) => asMap(middlewares.get(m)?.redirectScheme)).find((r) => r !== undefined);
    if (router === undefined || redirect?.scheme !== 'https' || redirect.permanent !== true)
      problems.push(`web: GET http://${host}${path} is not redirected permanently to https`);
    else if (router.service in INGRESS_UPSTREAMS) problems.push(`web: router ${router.name} reaches ${router.service} over HTTP`);
  }
  return problems;
}
