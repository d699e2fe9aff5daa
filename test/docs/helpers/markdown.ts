/**
 * The project's Markdown docs, read the way GitHub renders them: which files they are, the anchors
 * their headings get, their links, and their fenced code blocks with the `<!-- docs-test: … -->`
 * marker (if any) written just before each block.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import GithubSlugger from 'github-slugger'
import { marked, type Token, type Tokens } from 'marked'

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** README.md, CONTRIBUTING.md, the chart's README and every page under docs/, as paths from the root. */
export function docFiles (): string[] {
  const pages = (readdirSync(join(ROOT, 'docs'), { recursive: true }) as string[])
    .filter((file) => file.endsWith('.md'))
    .map((file) => join('docs', file))
    .sort()
  return ['README.md', 'CONTRIBUTING.md', join('helm', 'cio-gateway', 'README.md'), ...pages]
}

export function readDoc (file: string): string {
  return readFileSync(join(ROOT, file), 'utf8')
}

function tokensOf (file: string): Token[] {
  return marked.lexer(readDoc(file))
}

/** The text a reader sees: code spans and emphasis reduced to their characters. */
function plainText (tokens: readonly Token[]): string {
  return tokens.map((token) => {
    const children = (token as { tokens?: Token[] }).tokens
    if (children !== undefined && children.length > 0) return plainText(children)
    return (token as { text?: string }).text ?? ''
  }).join('')
}

/** The `#fragment`s GitHub gives the headings of a file, in order (a repeated one gets `-1`, `-2`, …). */
export function anchorsOf (file: string): Set<string> {
  const slugger = new GithubSlugger()
  const anchors = new Set<string>()
  for (const token of tokensOf(file)) {
    if (token.type === 'heading') anchors.add(slugger.slug(plainText((token as Tokens.Heading).tokens)))
  }
  return anchors
}

/** Every link and image target of a file, tables and lists included. */
export function linksOf (file: string): string[] {
  const links: string[] = []
  marked.walkTokens(tokensOf(file), (token) => {
    if (token.type === 'link' || token.type === 'image') links.push((token as Tokens.Link).href)
  })
  return links
}

export interface CodeBlock {
  file: string
  /** The fence's language, e.g. `sh`; empty when none. */
  lang: string
  text: string
  /** What the `<!-- docs-test: … -->` comment right before the block says, e.g. `background`. */
  marker: string | undefined
  /** The heading the block is under (its plain text), empty before the first one. */
  section: string
  /** The ```text block right after this one, which shows its output. */
  output: string | undefined
}

const MARKER = /^<!--\s*docs-test:\s*(.*?)\s*-->\s*$/

/** The fenced code blocks of a file, in order. */
export function codeBlocksOf (file: string): CodeBlock[] {
  const blocks: CodeBlock[] = []
  let section = ''
  let marker: string | undefined
  let previous: CodeBlock | undefined
  for (const token of tokensOf(file)) {
    if (token.type === 'space') continue
    if (token.type === 'heading') section = plainText((token as Tokens.Heading).tokens)
    if (token.type === 'html') {
      marker = MARKER.exec((token as Tokens.HTML).text.trim())?.[1]
      previous = undefined
      continue
    }
    if (token.type === 'code') {
      const { lang, text } = token as Tokens.Code
      if (lang === 'text' && previous !== undefined && marker === undefined) {
        previous.output = text
        previous = undefined
        continue
      }
      const block: CodeBlock = { file, lang: lang ?? '', text, marker, section, output: undefined }
      blocks.push(block)
      previous = block
    } else {
      previous = undefined
    }
    marker = undefined
  }
  return blocks
}
