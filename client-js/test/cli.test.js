// The roost binary as operators use it: environment configuration, the first log line,
// /health, `roost migrate` and `roost admin create`.

import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { PASSWORD, ROOST_BIN, login, startBinary } from './helpers.js'

// eslint-disable-next-line no-control-regex
const stripAnsi = (text) => text.replace(/\x1b\[[0-9;]*m/g, '')

describe('roost binary', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'roost-cli-'))
  const env = {
    ...process.env,
    ROOST_DATA_DIR: dir,
    ROOST_DATABASE_URL: `sqlite://${path.join(dir, 'cli.db')}?mode=rwc`,
    ROOST_AUTHENTICATION__SECRET: 'cli-test-secret-0123456789-abcdefghijkl'
  }
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('migrate creates and migrates the database', () => {
    const run = spawnSync(ROOST_BIN, ['migrate'], { env, encoding: 'utf8', timeout: 60000 })
    assert.equal(run.status, 0, run.stderr)
    assert.ok(existsSync(path.join(dir, 'cli.db')), 'the SQLite file exists')
  })

  it('admin create makes a full_access administrator who can log in', async () => {
    const file = path.join(dir, 'password')
    writeFileSync(file, `${PASSWORD}\n`)
    const run = spawnSync(ROOST_BIN, ['admin', 'create', '--email', 'ops@roost.test', '--password-file', file],
      { env, encoding: 'utf8', timeout: 60000 })
    assert.equal(run.status, 0, run.stderr)

    writeFileSync(file, 'short\n')
    const refused = spawnSync(ROOST_BIN, ['admin', 'create', '--email', 'weak@roost.test', '--password-file', file],
      { env, encoding: 'utf8', timeout: 60000 })
    assert.notEqual(refused.status, 0, 'a password the policy refuses is an error')

    const server = await startBinary(ROOST_BIN, {
      ROOST_DATABASE_URL: env.ROOST_DATABASE_URL,
      ROOST_AUTHENTICATION__SECRET: env.ROOST_AUTHENTICATION__SECRET
    })
    try {
      const first = stripAnsi(server.logs.split('\n')[0])
      assert.match(first, new RegExp(`listening on http://127\\.0\\.0\\.1:${server.port}\\b`), `first log line: ${first}`)
      const health = await fetch(`${server.url}/health`)
      assert.equal(health.status, 200)
      const ops = await login(server.url, 'rest', 'ops@roost.test', PASSWORD)
      const role = await ops.app.service('roles').create({ slug: 'made-by-ops' })
      assert.equal(role.slug, 'made-by-ops')
      const weak = await ops.app.service('users').find({ query: { email: 'weak@roost.test' } })
      assert.equal(weak.total, 0)
    } finally {
      await server.stop()
    }
  })

  it('lists come from comma-separated environment variables', async () => {
    const server = await startBinary(ROOST_BIN, {
      ROOST_DATABASE_URL: env.ROOST_DATABASE_URL,
      ROOST_AUTHENTICATION__SECRET: env.ROOST_AUTHENTICATION__SECRET,
      ROOST_HTTP__CORS_ORIGINS: 'http://a.test, http://b.test'
    })
    try {
      const preflight = (origin) => fetch(`${server.url}/roles`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'GET' }
      })
      const allowed = await preflight('http://b.test')
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://b.test')
      const other = await preflight('http://c.test')
      assert.equal(other.headers.get('access-control-allow-origin'), null)
    } finally {
      await server.stop()
    }
  })
})
