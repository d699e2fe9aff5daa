/**
 * No dangling references in the docs: every relative link (README.md, CONTRIBUTING.md, the chart's
 * README, docs/**) reaches a file of the project and, with a #fragment, a heading of that page;
 * every repository path the docs quote in code exists; no page cites the spec, which is not part
 * of the project; and no file of the project names a docs page that does not exist.
 */
import t from 'tap'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { marked, type Tokens } from 'marked'
import { ROOT, anchorsOf, docFiles, linksOf, readDoc } from './helpers/markdown.js'

const EXTERNAL = /^[a-z][a-z0-9+.-]*:/i

/** What is wrong with one link of `file`, or undefined when it leads somewhere. */
function problemOf (file: string, href: string): string | undefined {
  if (EXTERNAL.test(href)) return undefined
  const [path = '', fragment] = href.split('#', 2)
  const target = path === '' ? file : normalize(join(dirname(file), decodeURI(path)))
  if (target.startsWith('..')) return `${href}: leaves the project`
  if (!existsSync(join(ROOT, target))) return `${href}: ${target} does not exist`
  if (fragment === undefined) return undefined
  if (!target.endsWith('.md')) return `${href}: a #fragment into a file that is not Markdown`
  if (!anchorsOf(target).has(fragment)) return `${href}: ${target} has no heading #${fragment}`
  return undefined
}

t.test('every relative link reaches a file, and every #fragment a heading', async (t) => {
  for (const file of docFiles()) {
    const problems = linksOf(file).map((href) => problemOf(file, href)).filter((p) => p !== undefined)
    t.same(problems, [], file)
  }
})

/** Code spans such as `plugins/queue/ingest-script.ts` that name a path in the repository. */
const REPO_PATH = /^(?:\.ci|bench|bin|docs|helm|plugins|scripts|src|test)\/[\w./-]*$|^[\w.-]+\.(?:md|yaml|json|ts|mjs)$/
/** Made by a build, not kept in the repository. */
const BUILT = /(^|\/)(dist|\.build)\//

t.test('every repository path quoted in the docs exists', async (t) => {
  for (const file of docFiles()) {
    const missing: string[] = []
    marked.walkTokens(marked.lexer(readDoc(file)), (token) => {
      if (token.type !== 'codespan') return
      const text = (token as Tokens.Codespan).text
      if (!REPO_PATH.test(text) || BUILT.test(text) || !text.includes('/')) return
      if (!existsSync(join(ROOT, text))) missing.push(text)
    })
    t.same(missing, [], file)
  }
})

t.test('no page cites the spec, which is not part of the project', async (t) => {
  for (const file of docFiles()) t.notMatch(readDoc(file), /\bSPEC\b/, file)
})

/** Text files of the project outside the docs, where a docs page may be named in a comment. */
function projectFiles (): string[] {
  const top = ['.ci', 'bench', 'bin', 'helm', 'plugins', 'scripts', 'src', 'test']
  const files = ['Dockerfile', 'deno.json', 'package.json', 'routes.yaml']
  for (const dir of top) {
    for (const entry of readdirSync(join(ROOT, dir), { recursive: true }) as string[]) {
      const path = join(dir, entry)
      if (BUILT.test(path + '/') || path.includes('node_modules') || path.includes(join('test', 'fixtures'))) continue
      if (statSync(join(ROOT, path)).isFile() && /\.(ts|js|mjs|go|yaml|yml|json|tpl|txt|sh)$|^\.ci\/run$/.test(path)) files.push(path)
    }
  }
  return files
}

t.test('every docs page a project file names exists', async (t) => {
  const missing: string[] = []
  for (const file of projectFiles()) {
    for (const [page] of readFileSync(join(ROOT, file), 'utf8').matchAll(/\bdocs\/[\w/-]+\.md\b/g)) {
      if (!existsSync(join(ROOT, page))) missing.push(`${file}: ${page}`)
    }
  }
  t.same(missing, [])
})

t.test('every page of docs/ is reachable from the README', async (t) => {
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    for (const href of linksOf(file)) {
      const [path = ''] = href.split('#', 1)
      if (EXTERNAL.test(href) || path === '' || !path.endsWith('.md')) continue
      const target = normalize(join(dirname(file), decodeURI(path)))
      if (existsSync(join(ROOT, target))) visit(target)
    }
  }
  visit('README.md')
  t.same(docFiles().filter((file) => !seen.has(file)), [])
})
