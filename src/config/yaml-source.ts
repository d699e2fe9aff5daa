/**
 * routes.yaml text → its YAML document, the environment interpolated, and its plain data.
 * Whatever the YAML parser refuses (a syntax error, a duplicate key, an alias that points nowhere,
 * an alias bomb, nesting too deep) comes back as config problems, with a position when the
 * parser gives one; nothing of it escapes as another kind of exception. A reload must be able to
 * refuse any file and keep running.
 */
import { LineCounter, isAlias, parseDocument, visit, type Document, type YAMLError } from 'yaml'
import { interpolateDocument } from './interpolate.js'
import type { ConfigProblem } from './problems.js'

export type YamlSource =
  /** `problems`: the variables needed and not set. */
  | { readonly document: Document, readonly lines: LineCounter, readonly data: unknown, readonly problems: readonly ConfigProblem[] }
  /** The parser could not produce the data. */
  | { readonly document: undefined, readonly problems: readonly ConfigProblem[] }

export function readYaml (text: string, env: NodeJS.ProcessEnv): YamlSource {
  const lines = new LineCounter()
  let document: Document
  try {
    document = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  } catch (error) {
    return { document: undefined, problems: [refused(error)] }
  }
  if (document.errors.length > 0) return { document: undefined, problems: syntaxProblems(document.errors, lines) }
  const unset = interpolateDocument(document, env, lines)
  try {
    return { document, lines, data: document.toJS() ?? {}, problems: unset }
  } catch (error) {
    return { document: undefined, problems: [...unset, aliasProblem(document, lines) ?? refused(error)] }
  }
}

/** More than this many syntax errors are one broken construct, reported at every character after it. */
const MAX_SYNTAX_PROBLEMS = 20

function syntaxProblems (errors: readonly YAMLError[], lines: LineCounter): ConfigProblem[] {
  const problems = errors.slice(0, MAX_SYNTAX_PROBLEMS).map((error) => {
    const { line, col } = lines.linePos(error.pos[0])
    return { line, col, path: '', message: syntaxMessage(error) }
  })
  const more = errors.length - problems.length
  const next = errors[MAX_SYNTAX_PROBLEMS]
  if (next !== undefined) problems.push({ ...lines.linePos(next.pos[0]), path: '', message: `and ${more} more YAML syntax error${more === 1 ? '' : 's'} from here on` })
  return problems
}

/** The parser's message, without the bits of the file a few of them quote (they may be part of a secret). */
function syntaxMessage (error: YAMLError): string {
  const message = error.message.split('\n')[0] ?? ''
  if (error.code === 'BAD_DQ_ESCAPE') return 'invalid escape sequence in a double-quoted string (single quotes take backslashes as they are)'
  if (message.startsWith('Block scalar header includes extra characters')) return 'a block scalar header (| or >) has extra characters after it'
  if (message.startsWith('Maximum call stack size exceeded')) return 'the YAML nests too deep to be read'
  return message === '' ? 'YAML syntax error' : message
}

/** An alias whose anchor is not defined before it, at its own place. */
function aliasProblem (document: Document, lines: LineCounter): ConfigProblem | undefined {
  let problem: ConfigProblem | undefined
  visit(document, {
    Alias: (_key, alias) => {
      if (!isAlias(alias) || alias.resolve(document) !== undefined) return undefined
      const { line, col } = lines.linePos(alias.range?.[0] ?? 0)
      problem = { line, col, path: '', message: `alias *${alias.source} refers to no anchor &${alias.source} before it` }
      return visit.BREAK
    }
  })
  return problem
}

/**
 * The parser gave up without a position: for an alias bomb (aliases that expand to far more data
 * than the file holds) it stops counting, rather than filling the memory.
 */
function refused (error: unknown): ConfigProblem {
  const message = (error as Error).message ?? String(error)
  const reason = /alias count/i.test(message)
    ? 'its aliases expand to far more data than the file holds (an alias bomb)'
    : message
  return { line: 1, col: 1, path: '', message: `the YAML parser refuses the file: ${reason}` }
}
