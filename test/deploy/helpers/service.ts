/**
 * A child process the deploy tests depend on (the gateway, Prometheus): started, polled until its
 * readiness URL answers 200, stopped with SIGTERM (SIGKILL after 10 s) and its directory removed in
 * teardown. Output is kept for the error message when it exits or never gets ready.
 */
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Teardownable { teardown: (fn: () => unknown) => void }

export interface ServiceOptions {
  name: string
  command: string
  args: readonly string[]
  /** Removed in teardown. */
  dir: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Polled until it answers 200. */
  readyUrl: string
  timeoutMs: number
  pollMs: number
}

export async function startService (t: Teardownable, options: ServiceOptions): Promise<{ output: () => string }> {
  let output = ''
  const child = spawn(options.command, [...options.args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(killer)
    }
    rmSync(options.dir, { recursive: true, force: true })
  })
  const deadline = Date.now() + options.timeoutMs
  while (true) {
    if (child.exitCode !== null) throw new Error(`${options.name} exited with ${child.exitCode}:\n${output}`)
    try {
      if ((await fetch(options.readyUrl)).status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${options.name} was not ready within ${options.timeoutMs / 1000} s:\n${output}`)
    await sleep(options.pollMs)
  }
  return { output: () => output }
}
