/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and lists the functions with the most self time.
 * Also a command: `node dist/bench/profile.js FILE.cpuprofile [N]`.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

export interface SelfTime {
  readonly name: string
  readonly where: string
  readonly ms: number
  readonly share: number
}

export interface ProfileSummary {
  readonly totalMs: number
  readonly idleShare: number
  /** Functions by self time (summed over their call sites), largest first. */
  readonly top: SelfTime[]
  /** Self time by where the code lives: a package, node internals, the gateway's own code, GC… (busy time only). */
  readonly byOwner: { readonly owner: string, readonly share: number }[]
}

/** Reads a profile and sums its self time per function and per owner. */
export function topSelfTime (file: string, limit = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byNode = new Map<number, ProfileNode>(profile.nodes.map((node) => [node.id, node]))
  const selfUs = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  // Each sample's time is the delta to the next sample.
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? 0))
  }
  const totals = new Map<string, { name: string, where: string, us: number }>()
  const owners = new Map<string, number>()
  let totalUs = 0
  let idleUs = 0
  for (const [id, us] of selfUs) {
    const frame = byNode.get(id)?.callFrame
    if (frame === undefined) continue
    totalUs += us
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
    if (name === '(idle)') idleUs += us
    else owners.set(ownerOf(frame.url, name), (owners.get(ownerOf(frame.url, name)) ?? 0) + us)
    const where = frame.url === '' ? '' : `${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    const key = `${name} ${where}`
    const entry = totals.get(key) ?? { name, where, us: 0 }
    entry.us += us
    totals.set(key, entry)
  }
  const top = [...totals.values()].sort((a, b) => b.us - a.us).slice(0, limit)
    .map((entry) => ({ name: entry.name, where: entry.where, ms: entry.us / 1000, share: totalUs === 0 ? 0 : entry.us / totalUs }))
  const busyUs = totalUs - idleUs
  const byOwner = [...owners.entries()].sort((a, b) => b[1] - a[1]).map(([owner, us]) => ({ owner, share: busyUs === 0 ? 0 : us / busyUs }))
  return { totalMs: totalUs / 1000, idleShare: totalUs === 0 ? 0 : idleUs / totalUs, top, byOwner }
}

/** `fastify`, `@google-cloud/bigquery`, `node` (internals), `gateway` (src/, plugins/), or a V8 pseudo-frame such as `(garbage collector)`. */
function ownerOf (url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : 'native'
  if (url.startsWith('node:')) return 'node'
  const modules = url.lastIndexOf('node_modules/')
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/')
    return (parts[0] ?? '').startsWith('@') ? `${parts[0] ?? ''}/${parts[1] ?? ''}` : parts[0] ?? ''
  }
  return 'gateway'
}

function shortUrl (url: string): string {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const modules = path.lastIndexOf('node_modules/')
  if (modules >= 0) return path.slice(modules + 'node_modules/'.length)
  const dist = path.lastIndexOf('/dist/')
  return dist >= 0 ? path.slice(dist + '/dist/'.length) : path
}

export function formatTop (result: ProfileSummary): string {
  const lines = [`  ${(result.totalMs / 1000).toFixed(1)} s sampled, ${(result.idleShare * 100).toFixed(1)}% idle`]
  lines.push(`  busy time by owner: ${result.byOwner.slice(0, 12).map((entry) => `${entry.owner} ${(entry.share * 100).toFixed(1)}%`).join(', ')}`)
  for (const entry of result.top) {
    lines.push(`  ${(entry.share * 100).toFixed(1).padStart(5)}%  ${entry.ms.toFixed(0).padStart(6)} ms  ${entry.name}  ${entry.where}`)
  }
  return lines.join('\n')
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile.js FILE.cpuprofile [N]\n')
    process.exit(2)
  }
  process.stdout.write(formatTop(topSelfTime(file, Number(process.argv[3] ?? 25))) + '\n')
}
