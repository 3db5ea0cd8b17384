#!/usr/bin/env node
// Account-service timing (attack review): median latency of `otp`, `verify` and `recover`
// `create` for addresses with and without an account, requests sent one at a time and
// interleaved (known, unknown, known, ...). Not a test; it starts nothing itself.
//
// The server must trust one proxy hop, so each request can come from its own client IP
// (the send throttle allows 20 per IP), and have the bootstrap admin:
//
//   ROOST_HTTP__TRUSTED_PROXIES=1 ROOST_ADMIN_EMAIL=admin@example.com \
//     ROOST_ADMIN_PASSWORD=... ROOST_DATABASE_URL='sqlite:///tmp/t.db?mode=rwc' roost
//   node bench/account-timing.js --url http://127.0.0.1:3030 --admin-email admin@example.com \
//     --admin-password ... [--n 100] [--json]

import { parseArgs } from './args.js'

const args = parseArgs(process.argv.slice(2))
const URL_BASE = String(args.url ?? 'http://127.0.0.1:3030').replace(/\/$/, '')
const N = Number(args.n ?? 100)
const PER_USER = 4 // sends per address per purpose stay below the 5 free ones


let ipCounter = 0
function nextIp () {
  ipCounter++
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`
}

async function post (path, body, token) {
  const headers = { 'content-type': 'application/json', 'x-forwarded-for': nextIp() }
  if (token) headers.authorization = `Bearer ${token}`
  const t0 = process.hrtime.bigint()
  const res = await fetch(`${URL_BASE}${path}`, { method: 'POST', headers, body: JSON.stringify(body) })
  const json = await res.json()
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  return { status: res.status, json, ms }
}

const median = xs => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function main () {
  const login = await post('/authentication', { email: args['admin-email'], password: args['admin-password'] })
  if (login.status !== 201) throw new Error(`admin login: ${login.status} ${JSON.stringify(login.json)}`)
  const token = login.json.accessToken
  const run = Date.now().toString(36)
  const users = Math.ceil(N / PER_USER)
  for (let i = 0; i < users; i++) {
    const r = await post('/users', { email: `known-${run}-${i}@timing.test`, password: 'Quiet-Lantern-Orbit-77' }, token)
    if (r.status !== 201) throw new Error(`create user: ${r.status} ${JSON.stringify(r.json)}`)
  }
  const report = {}
  for (const path of ['otp', 'verify', 'recover']) {
    const known = []
    const unknown = []
    // Warm-up, not counted.
    for (let i = 0; i < 5; i++) await post(`/${path}`, { email: `warm-${run}-${i}@timing.test` })
    for (let i = 0; i < N; i++) {
      const a = await post(`/${path}`, { email: `known-${run}-${i % users}@timing.test` })
      const b = await post(`/${path}`, { email: `unknown-${run}-${i}@timing.test` })
      if (a.status !== 201 || b.status !== 201) throw new Error(`${path}: ${a.status} / ${b.status} ${JSON.stringify(a.json)} ${JSON.stringify(b.json)}`)
      known.push(a.ms)
      unknown.push(b.ms)
    }
    report[path] = { knownMedianMs: +median(known).toFixed(3), unknownMedianMs: +median(unknown).toFixed(3) }
  }
  if (args.json) console.log(JSON.stringify({ n: N, ...report }))
  else {
    console.log(`median latency over ${N} interleaved pairs (ms) -> ${URL_BASE}`)
    for (const [path, r] of Object.entries(report)) console.log(`${path.padEnd(8)} known ${r.knownMedianMs}  unknown ${r.unknownMedianMs}`)
  }
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
