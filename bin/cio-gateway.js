#!/usr/bin/env node
// Entry of the `cio-gateway` command. Builds the TypeScript sources first when the build output is
// missing (a fresh clone after `npm ci`), so `npm start` works with no other step.
import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const entry = join(root, 'dist', 'src', 'cli.js')
if (!existsSync(entry)) {
  process.stderr.write('cio-gateway: building (dist/ is missing)…\n')
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
}
const { main } = await import(pathToFileURL(entry).href)
const code = await main(process.argv.slice(2))
if (code >= 0) process.exitCode = code
