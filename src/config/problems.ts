/** Config problems with their place in the file, printed as `file:line:col dotted.path: message`. */
import type { Document, LineCounter, Node } from 'yaml'
import { isMap, isNode, isPair, isScalar } from 'yaml'

export type ConfigPath = readonly (string | number)[]

export interface ConfigProblem {
  readonly line: number
  readonly col: number
  readonly path: string
  readonly message: string
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly file: string
  readonly problems: readonly ConfigProblem[]
  constructor (file: string, problems: readonly ConfigProblem[]) {
    super(problems.map((problem) => formatProblem(file, problem)).join('\n'))
    this.file = file
    this.problems = problems
  }
}

export function formatProblem (file: string, problem: ConfigProblem): string {
  const where = problem.path === '' ? '' : ` ${problem.path}`
  return `${file}:${problem.line}:${problem.col}${where}: ${problem.message}`
}

/** `routes[2].sinks[0]`, `sinks.warehouse.batch` */
export function dottedPath (path: ConfigPath): string {
  let text = ''
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`
    else text += text === '' ? segment : `.${segment}`
  }
  return text
}

/** Locates paths in the parsed document. `key: true` points at a mapping key rather than its value. */
export class Locator {
  constructor (private readonly document: Document, private readonly lines: LineCounter) {}

  problem (path: ConfigPath, message: string, options: { key?: boolean } = {}): ConfigProblem {
    const offset = this.offsetOf(path, options.key === true)
    const { line, col } = this.lines.linePos(offset)
    return { line, col, path: dottedPath(path), message }
  }

  private offsetOf (path: ConfigPath, pointAtKey: boolean): number {
    // Walk as deep as the document goes; a missing leaf is reported at its nearest parent.
    let node: unknown = this.document.contents
    let offset = rangeStart(node) ?? 0
    for (let index = 0; index < path.length; index++) {
      const segment = path[index]
      const isLast = index === path.length - 1
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && keyText(item.key) === String(segment))
        if (pair === undefined) break
        if (isLast && pointAtKey) return rangeStart(pair.key) ?? offset
        node = pair.value
        offset = rangeStart(pair.value) ?? rangeStart(pair.key) ?? offset
      } else if (isNode(node) && 'items' in node && typeof segment === 'number') {
        const item = (node as { items: unknown[] }).items[segment]
        if (item === undefined) break
        node = item
        offset = rangeStart(item) ?? offset
      } else {
        break
      }
    }
    return offset
  }
}

function keyText (key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value)
  return typeof key === 'string' ? key : undefined
}

function rangeStart (node: unknown): number | undefined {
  return isNode(node) ? (node as Node).range?.[0] : undefined
}
