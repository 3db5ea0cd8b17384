#!/usr/bin/env node
// Cross-instance revocation bound (issue 13): two Roost instances on one fresh PostgreSQL
// database. Each trial logs a user in on B, uses the token on A (so A caches the session as
// valid), logs out on B, then calls A with the token until A refuses it (401). Reports the
// time from B's logout answer to A's first refusal: p50 / p99 / max, and how many trials A
// refused on the very first call.
//
// Not a test and not part of `npm test`. Run from client-js/ after a release build, with
// PostgreSQL reachable and `psql` installed:
//
//   node bench/revocation.js [--trials 1000] [--db postgres://postgres@127.0.0.1:5432/test]
//
// It creates database `roost_revocation_<random>` next to the one given and drops it after.

import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

import { startRoost, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD } from '../test/helpers.js'
import { parseArgs } from './args.js'

const args = parseArgs(process.argv.slice(2))
const TRIALS = Number(args.trials ?? 1000)
const ADMIN_URL = String(args.db ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')


function psql (sql) {
  execFileSync('psql', [ADMIN_URL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: 'inherit' })
}

async function call (url, method, path, token, body) {
  const res = await fetch(`${url}/${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {})
    },
    body: body ? JSON.stringify(body) : undefined
  })
  const json = await res.json().catch(() => null)
  return { status: res.status, json }
}

function quantile (sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

const name = `roost_revocation_${randomBytes(6).toString('hex')}`
psql(`CREATE DATABASE ${name}`)
const dbUrl = ADMIN_URL.replace(/\/[^/?]*(\?.*)?$/, (_m, query) => `/${name}${query ?? ''}`)
const shared = {
  ROOST_DATABASE_URL: dbUrl,
  ROOST_AUTHENTICATION__TOKEN_KEY: randomBytes(32).toString('hex')
}
const a = await startRoost(shared)
const b = await startRoost(shared)
try {
  const admin = await call(b.url, 'POST', 'authentication', null, { strategy: 'local', email: ADMIN_EMAIL, password: ADMIN_PASSWORD })
  const email = 'revoked@roost.test'
  const user = await call(b.url, 'POST', 'users', admin.json.accessToken, { email, password: PASSWORD })
  const uid = user.json.id
  const latencies = []
  let immediate = 0
  for (let i = 0; i < TRIALS; i++) {
    const login = await call(b.url, 'POST', 'authentication', null, { strategy: 'local', email, password: PASSWORD })
    const token = login.json.accessToken
    const warm = await call(a.url, 'GET', `users/${uid}`, token)
    if (warm.status !== 200) throw new Error(`A refused a fresh token: ${warm.status}`)
    const out = await call(b.url, 'DELETE', 'authentication', token)
    if (out.status !== 200) throw new Error(`logout on B: ${out.status}`)
    const t0 = process.hrtime.bigint()
    for (let tries = 0; ; tries++) {
      const r = await call(a.url, 'GET', `users/${uid}`, token)
      if (r.status === 401) {
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6)
        if (tries === 0) immediate++
        break
      }
      if (tries > 100000) throw new Error('A never refused the revoked token')
    }
  }
  latencies.sort((x, y) => x - y)
  const f = (ms) => `${ms.toFixed(2)} ms`
  console.log(`${TRIALS} logouts on B, token then used on A (two instances, one PostgreSQL database)`)
  console.log(`refused by A on the first call after the logout answer: ${immediate}/${TRIALS}`)
  console.log(`time from B's answer to A's first 401: p50 ${f(quantile(latencies, 0.5))}, p99 ${f(quantile(latencies, 0.99))}, max ${f(latencies[latencies.length - 1])}`)
} finally {
  await a.stop()
  await b.stop()
  psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
}
