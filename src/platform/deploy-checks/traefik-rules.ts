import { GATEWAY_HEALTH_PATH, HEALTH_PATHS, isDocsPath, isPrivatePath, upstreamFor } from '../gateway/routing.ts';

/** One compiled matcher of a Traefik rule. */
export type RuleNode =
  | { readonly kind: 'and' | 'or'; readonly left: RuleNode; readonly right: RuleNode }
  | { readonly kind: 'not'; readonly node: RuleNode }
  | { readonly kind: 'matcher'; readonly name: string; readonly args: readonly string[] };

const MATCHERS = ['Host', 'Path', 'PathPrefix', 'PathRegexp', 'Method'];

/**
 * Parses the part of Traefik's rule language the platform uses (compose routers and IngressRoute `match`
 * strings alike): Host, Path, PathPrefix, PathRegexp, Method, &&, ||, !, (). Any other matcher is refused, so a
 * rule this evaluator cannot judge is reported rather than guessed.
 */
export function parseTraefikRule(rule: string): RuleNode {
  const tokens = rule.match(/&&|\|\||!|\(|\)|[A-Za-z]+\((?:\s*`[^`]*`\s*,?)*\)/g) ?? [];
  if (tokens.join('').replace(/\s/g, '') !== rule.replace(/\s/g, '')) throw new Error(`cannot read the rule ${rule}`);
  let i = 0;
  const primary = (): RuleNode => {
    const token = tokens[i++];
    if (token === '!') return { kind: 'not', node: primary() };
    if (token === '(') {
      const node = or();
      if (tokens[i++] !== ')') throw new Error(`unbalanced parentheses in ${rule}`);
      return node;
    }
    const match = token === undefined ? null : /^([A-Za-z]+)\((.*)\)$/.exec(token);
    if (match?.[1] === undefined) throw new Error(`unexpected "${token ?? 'end'}" in ${rule}`);
    const args = [...(match[2] ?? '').matchAll(/`([^`]*)`/g)].map((m) => m[1] ?? '');
    if (!MATCHERS.includes(match[1])) throw new Error(`matcher ${match[1]} is not checked: ${rule}`);
    return { kind: 'matcher', name: match[1], args };
  };
  const and = (): RuleNode => {
    let node = primary();
    while (tokens[i] === '&&') {
      i++;
      node = { kind: 'and', left: node, right: primary() };
    }
    return node;
  };
  const or = (): RuleNode => {
    let node = and();
    while (tokens[i] === '||') {
      i++;
      node = { kind: 'or', left: node, right: and() };
    }
    return node;
  };
  const node = or();
  if (i !== tokens.length) throw new Error(`unexpected "${tokens[i]}" in ${rule}`);
  return node;
}

/** A request as a rule sees it; `host` undefined matches no Host rule. */
export interface RuleRequest {
  readonly method: string;
  readonly path: string;
  readonly host?: string;
}

/** Whether a parsed rule matches a request (Host compared case-insensitively, as Traefik does). */
export function ruleMatches(node: RuleNode, request: RuleRequest): boolean {
  switch (node.kind) {
    case 'and':
      return ruleMatches(node.left, request) && ruleMatches(node.right, request);
    case 'or':
      return ruleMatches(node.left, request) || ruleMatches(node.right, request);
    case 'not':
      return !ruleMatches(node.node, request);
    default: {
      const [arg = ''] = node.args;
      if (node.name === 'Host')
        return request.host !== undefined && node.args.some((h) => h.toLowerCase() === request.host?.toLowerCase());
      if (node.name === 'Path') return request.path === arg;
      if (node.name === 'PathPrefix') return request.path.startsWith(arg);
      if (node.name === 'PathRegexp') return new RegExp(arg).test(request.path);
      return node.args.includes(request.method);
    }
  }
}

/** Every literal path a rule names (Path and PathPrefix arguments). */
export function rulePaths(node: RuleNode): string[] {
  if (node.kind === 'not') return rulePaths(node.node);
  if (node.kind !== 'matcher') return [...rulePaths(node.left), ...rulePaths(node.right)];
  return node.name === 'Path' || node.name === 'PathPrefix' ? [...node.args] : [];
}

/** Every host a rule names (Host arguments). */
export function ruleHosts(node: RuleNode): string[] {
  if (node.kind === 'not') return ruleHosts(node.node);
  if (node.kind !== 'matcher') return [...ruleHosts(node.left), ...ruleHosts(node.right)];
  return node.name === 'Host' ? [...node.args] : [];
}

/** A router (compose) or one route of an IngressRoute: its rule, priority, middlewares and service. */
export interface Router {
  readonly name: string;
  readonly rule: RuleNode;
  readonly priority: number;
  readonly middlewares: readonly string[];
  readonly service: string;
}

/** Traefik picks the matching router of highest priority (by default the rule's length). */
export function routeOf(routers: readonly Router[], request: RuleRequest): Router | undefined {
  return routers.filter((r) => ruleMatches(r.rule, request)).sort((a, b) => b.priority - a.priority)[0];
}

/** What {@link gatewayParityProblems} needs to know about a Traefik configuration. */
export interface GatewayParity {
  /** How problems start (`traefik`, `IngressRoute`…). */
  readonly prefix: string;
  readonly routers: readonly Router[];
  /** The Host header of every probe (an IngressRoute's host; undefined for host-less compose routers). */
  readonly host?: string;
  /** Which of the platform's programs a router's service reaches (`users`… or `gateway`), undefined when none. */
  readonly upstreamOf: (router: Router) => string | undefined;
  /** Whether a router's middlewares include a rate limit. */
  readonly isLimited: (router: Router) => boolean;
  /** The path a router's replacePath middleware sends instead, if it has one. */
  readonly replacedPath: (router: Router) => string | undefined;
  /** Whether a program serves a route (the services' real route tables). */
  readonly hasRoute: (upstream: string, method: string, path: string) => boolean;
  /** Where the documentation page lives: the users service's own page (compose) or the gateway's merged one. */
  readonly docsUpstream: string;
  /** Where /gateway/health goes; undefined when Traefik does not route it (compose: Traefik's ping instead). */
  readonly gatewayHealthUpstream?: string;
}

/**
 * Compares a Traefik configuration with the gateway's routing (src/platform/gateway/routing.ts), path by path: every
 * path either names (and variants around it) goes to the upstream the gateway picks, is rate-limited exactly when the
 * gateway limits it (health and documentation never are), and a private path (/metrics, /<x>/metrics) never reaches a
 * route of a service. Returns the problems, empty when it agrees.
 */
export function gatewayParityProblems(parity: GatewayParity): string[] {
  const problems: string[] = [];
  const probes = new Set<string>([
    '/',
    '/unknown',
    '/metrics',
    '/users/metrics',
    '/quotes/metrics/',
    '//search//metrics',
    '/ops/Metrics',
  ]);
  const prefixes = [
    '/users',
    '/quotes',
    '/search',
    '/ops',
    '/apidocs',
    ...HEALTH_PATHS,
    ...(parity.gatewayHealthUpstream === undefined ? [] : [GATEWAY_HEALTH_PATH]),
    ...parity.routers.flatMap((r) => rulePaths(r.rule)),
  ];
  for (const prefix of prefixes) for (const suffix of ['', '/', '/x', 'x']) probes.add(`${prefix}${suffix}`);
  for (const path of probes) {
    const gatewayHealth = path === GATEWAY_HEALTH_PATH;
    if (gatewayHealth && parity.gatewayHealthUpstream === undefined) continue;
    const request = { method: 'GET', path, ...(parity.host === undefined ? {} : { host: parity.host }) };
    const router = routeOf(parity.routers, request);
    if (router === undefined) {
      problems.push(`${parity.prefix}: GET ${path} matches no router`);
      continue;
    }
    const where = `${parity.prefix}: GET ${path} (router ${router.name})`;
    const upstream = parity.upstreamOf(router);
    if (isPrivatePath(path)) {
      const replaced = parity.replacedPath(router);
      if (replaced === undefined || upstream === undefined || parity.hasRoute(upstream, 'GET', replaced)) {
        problems.push(`${where}: a private path must not reach a service's route (the gateway refuses it)`);
      }
      continue;
    }
    const expected = gatewayHealth ? parity.gatewayHealthUpstream : isDocsPath(path) ? parity.docsUpstream : upstreamFor(path);
    const unlimited = gatewayHealth || isDocsPath(path) || HEALTH_PATHS.includes(path);
    if (upstream !== expected) problems.push(`${where}: goes to ${upstream}, the gateway sends it to ${expected}`);
    if (parity.isLimited(router) === unlimited)
      problems.push(`${where}: ${unlimited ? 'is' : 'is not'} rate-limited, unlike the gateway`);
  }
  return problems;
}
