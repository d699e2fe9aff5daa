/**
 * Validates rendered manifests against the Kubernetes OpenAPI schemas shipped in the npm packages
 * kubernetes-models (core and apps, policy, autoscaling, networking...) and
 * @kubernetes-models/prometheus-operator (ServiceMonitor, PrometheusRule).
 *
 * Those schemas, like the API server's, accept unknown fields; the tests that read particular
 * fields back (probes, args, volumes) are what catch a field put in the wrong place.
 */
import type { Manifest } from './chart.js'

interface ModelClass {
  new (data: unknown): { validate: () => void }
  apiVersion: string
  kind: string
}

function modulesFor (apiVersion: string): string {
  if (apiVersion === 'v1') return 'kubernetes-models/v1'
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}`
  return `kubernetes-models/${apiVersion}`
}

/** Throws with the manifest's kind, name and every schema error when it does not validate. */
export async function validateManifest (manifest: Manifest): Promise<void> {
  const where = `${manifest.kind}/${manifest.metadata?.name ?? '?'} (${manifest.apiVersion})`
  let mod: Record<string, unknown>
  try {
    mod = await import(modulesFor(manifest.apiVersion)) as Record<string, unknown>
  } catch (error) {
    throw new Error(`${where}: no schema for apiVersion ${manifest.apiVersion}: ${(error as Error).message}`)
  }
  const Model = mod[manifest.kind] as ModelClass | undefined
  if (Model === undefined || Model.apiVersion !== manifest.apiVersion || Model.kind !== manifest.kind) {
    throw new Error(`${where}: kind ${manifest.kind} is not known in ${manifest.apiVersion}`)
  }
  try {
    new Model(manifest).validate()
  } catch (error) {
    const details = (error as { errors?: Array<{ instancePath: string, message?: string, params?: unknown }> }).errors
    const lines = details?.map((e) => `  ${e.instancePath || '/'}: ${e.message ?? ''} ${JSON.stringify(e.params ?? {})}`) ?? []
    throw new Error(`${where} does not validate:\n${lines.join('\n') || (error as Error).message}`)
  }
}
