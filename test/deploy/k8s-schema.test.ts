import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  CLUSTER_DIR,
  EXAMPLE_DIRS,
  K8S_OVERLAYS,
  type K8sObject,
  OVERLAY_DIRS,
  objectId,
  parseManifests,
  renderKustomization,
} from '../../src/platform/deploy-checks/k8s-render.ts';
import { checkSchemas, SCHEMA_MODULES, SCHEMAS, schemaFor } from '../../src/platform/deploy-checks/k8s-schema.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'k8s');

/** Every kustomization whose objects reach a cluster: both overlays, cluster/, and the examples of the optional components. */
const KUSTOMIZATIONS = [
  ...K8S_OVERLAYS.map((name) => OVERLAY_DIRS[name]),
  CLUSTER_DIR,
  EXAMPLE_DIRS.productionSentinel,
  EXAMPLE_DIRS.certManager,
];

/** The apiVersion each kind the platform uses must have (the current stable or the CRDs' served version). */
const EXPECTED_API_VERSIONS: Readonly<Record<string, string>> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  HorizontalPodAutoscaler: 'autoscaling/v2',
  PodDisruptionBudget: 'policy/v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  PriorityClass: 'scheduling.k8s.io/v1',
  CronJob: 'batch/v1',
  Job: 'batch/v1',
  Role: 'rbac.authorization.k8s.io/v1',
  RoleBinding: 'rbac.authorization.k8s.io/v1',
  IngressRoute: 'traefik.io/v1alpha1',
  Middleware: 'traefik.io/v1alpha1',
  ServiceMonitor: 'monitoring.coreos.com/v1',
  PrometheusRule: 'monitoring.coreos.com/v1',
  AlertmanagerConfig: 'monitoring.coreos.com/v1alpha1',
  Certificate: 'cert-manager.io/v1',
};

describe('deploy/k8s: every rendered object is valid against a maintained schema package', () => {
  for (const dir of KUSTOMIZATIONS) {
    test(`${dir}: every object valid, none without a schema, API versions as expected`, () => {
      const objects: K8sObject[] = renderKustomization(dir);
      assert.ok(objects.length > 0, `${dir} renders no object`);
      assert.deepEqual(checkSchemas(objects), []);
      const wrongVersion = objects
        .filter((o) => EXPECTED_API_VERSIONS[o.kind] !== undefined && EXPECTED_API_VERSIONS[o.kind] !== o.apiVersion)
        .map((o) => `${objectId(o)} is ${o.apiVersion}, expected ${EXPECTED_API_VERSIONS[o.kind]}`);
      assert.deepEqual(wrongVersion, []);
    });
  }

  test('each schema package models the API version the manifests use', () => {
    for (const [kind, apiVersion] of Object.entries(EXPECTED_API_VERSIONS)) {
      const schema = schemaFor(apiVersion, kind);
      assert.ok(schema, `no schema for ${kind} ${apiVersion}`);
      assert.equal(schema.Model.apiVersion, apiVersion, `${schema.source}'s ${kind} is ${schema.Model.apiVersion}`);
      assert.equal(schema.Model.kind, kind);
    }
    // Every registered module gave at least one model of its own version (a renamed export would empty it).
    for (const apiVersion of Object.keys(SCHEMA_MODULES))
      assert.ok(
        [...SCHEMAS.values()].some((s) => s.apiVersion === apiVersion),
        `no model registered for ${apiVersion}`,
      );
  });

  test('fixture schema-invalid.yaml fails: a string replicas, an unknown kind, a retired version, the old Traefik group, a string average, a Secret value not base64', () => {
    const problems = checkSchemas(parseManifests(readFileSync(join(FIXTURES, 'schema-invalid.yaml'), 'utf8')));
    const expected = [
      /^Deployment\/users-service \(haddock-production\): not valid against kubernetes-models apps\/v1 Deployment: .*replicas must be integer/,
      /^QuoteBook\/unknown-kind \(haddock-production\): no schema package describes kind QuoteBook/,
      /^HorizontalPodAutoscaler\/users-service .*no schema for HorizontalPodAutoscaler in autoscaling\/v2beta2 \(schemas exist for autoscaling\/v2\)/,
      /^Middleware\/rate-limit .*no schema for Middleware in traefik\.containo\.us\/v1alpha1 \(schemas exist for traefik\.io\/v1alpha1\)/,
      /^Middleware\/rate-limit-bad-period .*not valid against @kubernetes-models\/traefik .*average/,
      /^Secret\/not-base64 .*not valid against kubernetes-models v1 Secret: .*password must match format "byte"/,
    ];
    assert.equal(problems.length, expected.length, problems.join('\n'));
    for (const [i, pattern] of expected.entries()) assert.match(problems[i] ?? '', pattern);
  });

  test('a missing kubectl fails naming it and how to install it', () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      assert.throws(
        () => renderKustomization(OVERLAY_DIRS.production),
        /kubectl is not installed or not on PATH.*install it from/,
      );
    } finally {
      process.env.PATH = path;
    }
  });
});
