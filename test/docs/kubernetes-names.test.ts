/**
 * The Kubernetes objects the docs' commands name (`deploy/…`, `svc/…`, the Secret) are the ones the
 * chart creates when installed as docs/kubernetes.md installs it: release `cio-gateway`, namespace
 * `cio`, the walkthrough's values (helm/ci/walkthrough-values.yaml).
 */
import t from 'tap'
import { join } from 'node:path'
import { codeBlocksOf, docFiles } from './helpers/markdown.js'
import { CI_VALUES_DIR, render } from '../deploy/helpers/chart.js'

const KINDS: Record<string, string> = { deploy: 'Deployment', deployment: 'Deployment', svc: 'Service', service: 'Service' }

t.test('every deploy/… and svc/… in a kubectl command of the docs is an object of the installed chart', async (t) => {
  const manifests = render({ releaseName: 'cio-gateway', namespace: 'cio', valuesFiles: [join(CI_VALUES_DIR, 'walkthrough-values.yaml')] })
  const names = new Set(manifests.map((m) => `${m.kind}/${m.metadata.name}`))
  const named: string[] = []
  for (const file of docFiles()) {
    for (const block of codeBlocksOf(file).filter((b) => b.lang === 'sh')) {
      for (const line of block.text.split('\n').filter((l) => /\bkubectl\b/.test(l))) {
        for (const [, kind, name] of line.matchAll(/\b(deploy|deployment|svc|service)\/(\S+)/g)) {
          named.push(`${file}: ${KINDS[kind as string] ?? ''}/${name ?? ''}`)
        }
      }
    }
  }
  t.ok(named.length >= 3, 'the docs name the chart\'s objects')
  t.same(named.filter((entry) => !names.has(entry.slice(entry.indexOf(': ') + 2))), [])
})
