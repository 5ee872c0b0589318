import * as certManagerV1 from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import * as monitoringV1 from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as monitoringV1alpha1 from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1';
import * as traefikV1alpha1 from '@kubernetes-models/traefik/traefik.io/v1alpha1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as schedulingV1 from 'kubernetes-models/scheduling.k8s.io/v1';
import * as coreV1 from 'kubernetes-models/v1';
import { type K8sObject, objectId } from './k8s-render.ts';

/** A schema package's model class: its API version and kind, and validation on an instance. */
interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: never): { validate(): void };
}

function isModelClass(value: unknown): value is ModelClass {
  return (
    typeof value === 'function' &&
    typeof (value as { apiVersion?: unknown }).apiVersion === 'string' &&
    typeof (value as { kind?: unknown }).kind === 'string' &&
    typeof (value as { prototype?: { validate?: unknown } }).prototype?.validate === 'function'
  );
}

/**
 * The API versions the manifests may use, each with the schema package that validates it: the stable
 * Kubernetes groups (kubernetes-models), Traefik v3's CRDs (traefik.io, not the old traefik.containo.us),
 * the Prometheus Operator's and cert-manager's. An object of any other apiVersion has no schema: a problem.
 */
export const SCHEMA_MODULES: Readonly<Record<string, { readonly source: string; readonly module: object }>> = {
  v1: { source: 'kubernetes-models', module: coreV1 },
  'apps/v1': { source: 'kubernetes-models', module: appsV1 },
  'autoscaling/v2': { source: 'kubernetes-models', module: autoscalingV2 },
  'batch/v1': { source: 'kubernetes-models', module: batchV1 },
  'networking.k8s.io/v1': { source: 'kubernetes-models', module: networkingV1 },
  'policy/v1': { source: 'kubernetes-models', module: policyV1 },
  'rbac.authorization.k8s.io/v1': { source: 'kubernetes-models', module: rbacV1 },
  'scheduling.k8s.io/v1': { source: 'kubernetes-models', module: schedulingV1 },
  'traefik.io/v1alpha1': { source: '@kubernetes-models/traefik', module: traefikV1alpha1 },
  'monitoring.coreos.com/v1': { source: '@kubernetes-models/prometheus-operator', module: monitoringV1 },
  'monitoring.coreos.com/v1alpha1': { source: '@kubernetes-models/prometheus-operator', module: monitoringV1alpha1 },
  'cert-manager.io/v1': { source: '@kubernetes-models/cert-manager', module: certManagerV1 },
};

/** A kind's schema: the package's model class and where it comes from. */
export interface Schema {
  readonly Model: ModelClass;
  readonly source: string;
  readonly apiVersion: string;
  readonly kind: string;
}

/** `apiVersion kind` → its model, every model of {@link SCHEMA_MODULES} whose own apiVersion is the module's. */
export const SCHEMAS: ReadonlyMap<string, Schema> = (() => {
  const registry = new Map<string, Schema>();
  for (const [apiVersion, { source, module }] of Object.entries(SCHEMA_MODULES)) {
    for (const value of Object.values(module)) {
      // A package's module for one version re-exports nothing of another: checked, not assumed.
      if (!isModelClass(value) || value.apiVersion !== apiVersion) continue;
      registry.set(`${apiVersion} ${value.kind}`, { Model: value, source, apiVersion, kind: value.kind });
    }
  }
  return registry;
})();

/** The schema of an object's apiVersion and kind, if a package has one. */
export function schemaFor(apiVersion: string, kind: string): Schema | undefined {
  return SCHEMAS.get(`${apiVersion} ${kind}`);
}

/**
 * The object as the API server decodes it: Kustomize wraps a Secret's long base64 values over several lines, which
 * Go's base64 decoder reads (it ignores CR and LF) but the schema's `byte` format refuses; nothing else is touched.
 */
function asDecoded(obj: K8sObject): K8sObject {
  const copy = structuredClone(obj) as K8sObject & { data?: unknown };
  if (obj.kind === 'Secret' && typeof copy.data === 'object' && copy.data !== null) {
    const data = copy.data as Record<string, unknown>;
    for (const [key, value] of Object.entries(data)) if (typeof value === 'string') data[key] = value.replace(/[\r\n]/g, '');
  }
  return copy;
}

/** The validator's error message, shortened to its first lines. */
function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').slice(0, 6).join('; ');
}

/**
 * Validates every object against its package's schema. Nothing is skipped: an object whose apiVersion and kind
 * no package describes is a problem, named with the kinds that apiVersion does have.
 */
export function checkSchemas(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const obj of objects) {
    const id = objectId(obj);
    const schema = schemaFor(obj.apiVersion, obj.kind);
    if (schema === undefined) {
      const sameKind = [...SCHEMAS.values()].filter((m) => m.kind === obj.kind).map((m) => m.apiVersion);
      problems.push(
        sameKind.length > 0
          ? `${id}: no schema for ${obj.kind} in ${obj.apiVersion} (schemas exist for ${sameKind.join(', ')})`
          : `${id}: no schema package describes kind ${obj.kind} (${obj.apiVersion})`,
      );
      continue;
    }
    try {
      // The model keeps the object's own apiVersion and kind, so a mismatch fails too.
      new schema.Model(asDecoded(obj) as never).validate();
    } catch (error) {
      problems.push(`${id}: not valid against ${schema.source} ${obj.apiVersion} ${obj.kind}: ${messageOf(error)}`);
    }
  }
  return problems;
}
