/**
 * External programs the deployment tests drive. A missing one is a failure that names the Debian
 * package to install (scripts/ci-apt.sh installs them all), never a skipped test.
 */
import { execFileSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

export const DEBIAN_PACKAGE: Record<string, string> = {
  go: 'golang-go',
  promtool: 'prometheus',
  prometheus: 'prometheus'
}

export function findOnPath (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not there, or not executable
    }
  }
  return undefined
}

/** The path of `name`, or an error telling which Debian package provides it. */
export function requireTool (name: string): string {
  const found = findOnPath(name)
  if (found !== undefined) return found
  const pkg = DEBIAN_PACKAGE[name]
  throw new Error(`'${name}' is not on PATH: install the Debian package ${pkg ?? name} (apt-get install -y ${pkg ?? name}, or run scripts/ci-apt.sh)`)
}

export interface RunResult { status: number, stdout: string, stderr: string }

/** Runs a program to completion and returns its exit status and output, whatever the status. */
export function run (file: string, args: readonly string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): RunResult {
  try {
    const stdout = execFileSync(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024
    })
    return { status: 0, stdout, stderr: '' }
  } catch (error) {
    const failed = error as { status?: number | null, stdout?: string, stderr?: string, message: string }
    if (failed.status === undefined || failed.status === null) throw error
    return { status: failed.status, stdout: failed.stdout ?? '', stderr: failed.stderr ?? failed.message }
  }
}
