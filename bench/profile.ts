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

/** Self time per function (summed over its call sites), largest first. */
export function topSelfTime (file: string, limit = 15): { totalMs: number, idleShare: number, top: SelfTime[] } {
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
  let totalUs = 0
  let idleUs = 0
  for (const [id, us] of selfUs) {
    const frame = byNode.get(id)?.callFrame
    if (frame === undefined) continue
    totalUs += us
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
    if (name === '(idle)') idleUs += us
    const where = frame.url === '' ? '' : `${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    const key = `${name} ${where}`
    const entry = totals.get(key) ?? { name, where, us: 0 }
    entry.us += us
    totals.set(key, entry)
  }
  const top = [...totals.values()].sort((a, b) => b.us - a.us).slice(0, limit)
    .map((entry) => ({ name: entry.name, where: entry.where, ms: entry.us / 1000, share: totalUs === 0 ? 0 : entry.us / totalUs }))
  return { totalMs: totalUs / 1000, idleShare: totalUs === 0 ? 0 : idleUs / totalUs, top }
}

function shortUrl (url: string): string {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const modules = path.lastIndexOf('node_modules/')
  if (modules >= 0) return path.slice(modules + 'node_modules/'.length)
  const dist = path.lastIndexOf('/dist/')
  return dist >= 0 ? path.slice(dist + '/dist/'.length) : path
}

export function formatTop (result: ReturnType<typeof topSelfTime>): string {
  const lines = [`  ${(result.totalMs / 1000).toFixed(1)} s sampled, ${(result.idleShare * 100).toFixed(1)}% idle`]
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
