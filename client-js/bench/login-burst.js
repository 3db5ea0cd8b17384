#!/usr/bin/env node
// Login burst (attack review): N simultaneous `POST /authentication` for unknown emails
// from one client, against a server that is already running. Reports the status counts
// and, given the server's PID, its resident memory before, at the peak and after
// (VmRSS sampled every 5 ms, and VmHWM, from /proc/PID/status).
//
// Not a test and not part of `npm test`; it starts nothing itself. Run from client-js/:
//
//   node bench/login-burst.js --url http://127.0.0.1:3030 [--pid 1234] [--n 200]
//       [--settle-ms 2000] [--json]
//
// Requirement (README, "Passwords and login"): 200 simultaneous unknown-account logins
// raise RSS by no more than 150 MB and get no 5xx.

import { readFileSync } from 'node:fs'
import { parseArgs } from './args.js'

const args = parseArgs(process.argv.slice(2))
const URL_BASE = String(args.url ?? 'http://127.0.0.1:3030').replace(/\/$/, '')
const N = Number(args.n ?? 200)
const PID = args.pid ? Number(args.pid) : null
const SETTLE_MS = Number(args['settle-ms'] ?? 2000)


/** `{rss, hwm}` in kB from /proc/PID/status, or null. */
function memory (pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const field = name => Number((text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm')) || [])[1])
    return { rss: field('VmRSS'), hwm: field('VmHWM') }
  } catch {
    return null
  }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function main () {
  const before = PID ? memory(PID) : null
  let peak = before ? before.rss : 0
  let sampling = Boolean(PID)
  const sampler = (async () => {
    while (sampling) {
      const m = memory(PID)
      if (m && m.rss > peak) peak = m.rss
      await sleep(5)
    }
  })()

  const run = Date.now().toString(36)
  const started = performance.now()
  const one = async i => {
    const t0 = performance.now()
    try {
      const res = await fetch(`${URL_BASE}/authentication`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          strategy: 'local',
          email: `burst-${run}-${i}@unknown.test`,
          password: 'Not-The-Password-1'
        })
      })
      await res.arrayBuffer()
      return { status: res.status, retryAfter: res.headers.get('retry-after'), ms: performance.now() - t0 }
    } catch (e) {
      return { status: `error:${e.cause?.code ?? e.message}`, ms: performance.now() - t0 }
    }
  }
  const results = await Promise.all(Array.from({ length: N }, (_, i) => one(i)))
  const wall = performance.now() - started

  await sleep(SETTLE_MS)
  sampling = false
  await sampler
  const after = PID ? memory(PID) : null

  const counts = {}
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1
  const times = results.map(r => r.ms).sort((a, b) => a - b)
  const pct = p => times[Math.min(times.length - 1, Math.floor(p * times.length))]
  const report = {
    url: URL_BASE,
    requests: N,
    statuses: counts,
    fiveXX: results.filter(r => typeof r.status === 'number' && r.status >= 500).length,
    wallMs: Math.round(wall),
    latencyMs: { p50: Math.round(pct(0.5)), p99: Math.round(pct(0.99)), max: Math.round(times[times.length - 1]) }
  }
  if (PID) {
    const mb = kb => (kb / 1024).toFixed(1)
    report.rssMB = {
      before: mb(before.rss),
      peakSampled: mb(peak),
      hwm: mb(after?.hwm ?? 0),
      after: mb(after?.rss ?? 0),
      rise: mb(peak - before.rss)
    }
  }
  if (args.json) {
    console.log(JSON.stringify(report))
  } else {
    console.log(`${N} simultaneous logins for unknown emails -> ${URL_BASE}`)
    console.log(`statuses: ${JSON.stringify(counts)}  (5xx: ${report.fiveXX})`)
    console.log(`wall ${report.wallMs} ms; latency p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms, max ${report.latencyMs.max} ms`)
    if (PID) {
      const r = report.rssMB
      console.log(`RSS MB: before ${r.before}, peak ${r.peakSampled} (VmHWM ${r.hwm}), after ${r.after}; rise ${r.rise}`)
    }
  }
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
