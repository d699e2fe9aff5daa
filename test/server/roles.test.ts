/**
 * Roles and queue modes (SPEC §9): ingest hands events to workers through Redis, so an ingest
 * process on the embedded in-memory queue is refused before it listens (it used to answer 200 to
 * events nothing would ever deliver).
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanEnv, runCli } from '../helpers/process.js'
import { tempDir } from '../helpers/app.js'
import { INGEST_NEEDS_REDIS } from '../../src/server.js'

t.test('serve --role ingest without queue.redis_url exits 1 with a message saying why and what to do', async (t) => {
  const dir = tempDir(t)
  const config = join(dir, 'routes.yaml')
  writeFileSync(config, `
sources:
  customerio: { type: customerio, secrets: ["k"] }
sinks:
  local: { type: file, path: "${join(dir, 'events')}" }
routes:
  - { name: everything, match: {}, sinks: [local] }
`)
  for (const args of [['serve', '--role', 'ingest', '--config', config], ['--config', config]]) {
    const env = cleanEnv(args.includes('--role') ? {} : { CIO_GATEWAY_ROLE: 'ingest' })
    const result = await runCli(args, env)
    t.equal(result.code, 1, `cio-gateway ${args.join(' ')}${args.includes('--role') ? '' : ' with CIO_GATEWAY_ROLE=ingest'}`)
    t.equal(result.stderr, `cio-gateway: ${INGEST_NEEDS_REDIS}\n`)
    t.equal(result.stdout, '', 'no banner: it never listened')
  }
  t.match(INGEST_NEEDS_REDIS, /queue\.redis_url.*--role all/)
})
