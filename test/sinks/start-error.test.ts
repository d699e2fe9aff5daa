/**
 * A sink that cannot start stops the gateway with a message that names the sink, and for a
 * permission error the path and the user refused (the Docker image runs as uid 1000 and used to
 * fail with a bare "EACCES: permission denied, mkdir …").
 */
import t from 'tap'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { BIN, ROOT, cleanEnv } from '../helpers/process.js'
import { tempDir } from '../helpers/app.js'

/** Root may write anywhere: as root the gateway runs as nobody, under a directory only root may write to. */
const NOBODY = 65534
const asRoot = process.getuid?.() === 0

async function serveAs (config: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config], {
    cwd: ROOT, env: cleanEnv({ PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'], ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {})
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, stdout, stderr }
}

t.test('a file sink whose directory may not be created: exit 1, naming the sink, the path and the uid', async (t) => {
  const dir = tempDir(t)
  chmodSync(dir, 0o755)
  const locked = join(dir, 'locked')
  mkdirSync(locked)
  // Owned by root and 0755 when the test runs as root (the gateway runs as nobody); read-only otherwise.
  chmodSync(locked, asRoot ? 0o755 : 0o555)
  t.teardown(() => chmodSync(locked, 0o755))
  const events = join(locked, 'events')
  const config = join(dir, 'routes.yaml')
  writeFileSync(config, `
server: { host: 127.0.0.1 }
sources:
  customerio: { type: customerio, secrets: ["k"] }
sinks:
  archive: { type: file, path: "${events}" }
routes:
  - { name: everything, match: {}, sinks: [archive] }
`)
  const result = await serveAs(config)
  const uid = asRoot ? NOBODY : process.getuid?.()
  t.equal(result.code, 1)
  t.match(result.stderr, `cio-gateway: sink 'archive' (file) could not start: EACCES: permission denied, mkdir '${events}'; ` +
    `the gateway (uid ${String(uid)}) may not write to ${events}: make it writable for that user, or change the sink's settings\n`)
})
