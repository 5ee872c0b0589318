/** One PromQL query of a dashboard panel. */
export interface PanelExpression {
  /** The panel's title. */
  readonly panel: string;
  /** The query's refId within its panel (`A`, `B`…). */
  readonly refId: string;
  /** The query as written, with its `$variables`. */
  readonly expr: string;
}

interface PanelLike {
  title?: unknown;
  id?: unknown;
  panels?: unknown;
  targets?: unknown;
}

function panelsOf(value: unknown): PanelLike[] {
  return Array.isArray(value) ? value.filter((p): p is PanelLike => typeof p === 'object' && p !== null) : [];
}

/**
 * Every PromQL query of a Grafana dashboard (its JSON text, the parsed
 * object, or the API's `{ dashboard }` wrapper), panel by panel, including
 * the panels of collapsed rows. Template variable queries (`label_values`)
 * are not PromQL and are left out.
 */
export function dashboardExpressions(dashboardJson: string | object): PanelExpression[] {
  const parsed: unknown = typeof dashboardJson === 'string' ? JSON.parse(dashboardJson) : dashboardJson;
  const root = parsed as { panels?: unknown; dashboard?: { panels?: unknown } } | null;
  const top = root?.panels ?? root?.dashboard?.panels;
  if (!Array.isArray(top)) throw new Error('not a Grafana dashboard: no "panels" list');
  const found: PanelExpression[] = [];
  const walk = (panels: PanelLike[]) => {
    for (const panel of panels) {
      const title = typeof panel.title === 'string' && panel.title !== '' ? panel.title : `panel ${String(panel.id)}`;
      const targets = Array.isArray(panel.targets) ? panel.targets : [];
      for (const target of targets as { expr?: unknown; refId?: unknown }[]) {
        if (typeof target?.expr === 'string') {
          found.push({ panel: title, refId: String(target.refId ?? ''), expr: target.expr.trim() });
        }
      }
      walk(panelsOf(panel.panels));
    }
  };
  walk(panelsOf(top));
  return found;
}

/**
 * Values of Grafana's built-in variables used when a test evaluates a
 * dashboard query outside Grafana; any can be overridden.
 */
export const GRAFANA_BUILTIN_VARIABLES: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '15s',
  __interval_ms: '15000',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
};

// $name, ${name}, ${name:format} and the deprecated [[name]]. A name starts with a letter or _,
// so label_replace's "$1" is left alone.
const VARIABLE = /\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)(?::[^\]]*)?\]\]/g;

/**
 * Replaces Grafana variables in a query as Grafana would with one value per
 * variable: `vars` first (`{ namespace: 'haddock', service: 'quotes' }`),
 * then {@link GRAFANA_BUILTIN_VARIABLES}.
 *
 * @throws Error naming every variable that has no value, rather than leaving
 * a `$name` that Prometheus would reject with a less helpful message.
 */
export function substituteVariables(expr: string, vars: Readonly<Record<string, string>>): string {
  const values: Record<string, string> = { ...GRAFANA_BUILTIN_VARIABLES, ...vars };
  const missing = new Set<string>();
  const result = expr.replace(VARIABLE, (whole, braced?: string, bare?: string, bracketed?: string) => {
    const name = braced ?? bare ?? bracketed ?? '';
    const value = values[name];
    if (value === undefined) {
      missing.add(name);
      return whole;
    }
    return value;
  });
  if (missing.size > 0) throw new Error(`no value for dashboard variable(s) ${[...missing].join(', ')} in: ${expr}`);
  return result;
}
