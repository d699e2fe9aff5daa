/**
 * The supported runtimes (SPEC §14), as package.json's `engines` states them and as the locked
 * dependencies allow: Node 22 and 24 supported, Node 20 still working. Read from package-lock.json,
 * so a dependency upgrade that drops a supported line fails here, not in a user's `npm ci`.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import semver from 'semver'
import { ROOT } from '../helpers/process.js'

interface LockedPackage { version?: string, dev?: boolean, engines?: { node?: string } | string[] }

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockedPackage> }
const engines = new semver.Range(pkg.engines.node)
/** The lowest version `engines` allows in each release line it names, e.g. 22 → 22.11.0. */
const lowest = new Map(engines.set.map((comparators) => {
  const version = semver.minVersion(comparators.map((comparator) => comparator.value).join(' ')) as semver.SemVer
  return [version.major, version.version]
}))

/** Production packages (installed by `npm ci --omit=dev`) whose `engines.node` excludes `version`. */
function refusing (version: string): string[] {
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.dev !== true)
    .filter(([, entry]) => !Array.isArray(entry.engines) && entry.engines?.node !== undefined && !semver.satisfies(version, entry.engines.node))
    .map(([path, entry]) => `${path.replace(/^.*node_modules\//, '')}@${entry.version ?? '?'} (node ${(entry.engines as { node: string }).node})`)
}

t.test('engines names Node 20 (still working), 22 and 24 (supported), and no odd release line', async (t) => {
  t.same([...lowest.keys()].sort((a, b) => a - b), [20, 22, 24])
  t.equal(lowest.get(22), '22.11.0', "from the first LTS release of 22 ('Jod')")
  t.equal(lowest.get(24), '24.11.0', "from the first LTS release of 24 ('Krypton')")
  for (const odd of ['21.7.3', '23.11.1']) t.notOk(semver.satisfies(odd, engines), `${odd} is not supported`)
  t.ok(semver.satisfies(process.version, engines), `the Node running the tests (${process.version}) is one engines allows`)
})

t.test('on Node 22 and 24 every production dependency accepts the runtime: npm ci prints no EBADENGINE for them', async (t) => {
  for (const line of [22, 24]) t.same(refusing(lowest.get(line) as string), [], `production packages refusing Node ${lowest.get(line) ?? line}`)
})

t.test('on Node 20 only the packages known to be harmless there refuse it', async (t) => {
  // cookie 2 (via fastify → light-my-request) asks for Node 22 but runs on 20: it serves only
  // fastify.inject(), which the gateway never calls outside tests (which pass on Node 20).
  t.same(refusing(lowest.get(20) as string).map((entry) => entry.replace(/@.*$/, '')), ['cookie'])
})
