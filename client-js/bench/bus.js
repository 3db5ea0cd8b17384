#!/usr/bin/env node
// Cluster bus benchmark (issue 13): N Roost instances on one fresh PostgreSQL database,
// exchanging realtime events over LISTEN/NOTIFY (src/realtime/bus.rs). Writes are REST
// patches of users on instance 0; one authenticated Socket.IO client on every instance
// receives `users patched`. Instance 0's own socket is the local reference; the others
// measure cross-instance delivery.
//
// Two phases per instance count:
// - `rest`: closed-loop writers at rising concurrency (fixed window each) until the write
//   rate stops rising or the cross-instance p99 passes 1 s. Per level: writes/s (REST answers), cross-instance deliveries/s
//   within the window (per receiving socket), latency (request sent -> event received)
//   p50 / p99, the drain (last answer -> last cross-instance receipt) and machine CPU.
// - `notify`: the bus alone, without REST: 1, 2, 4 (--senders) psql sessions send --notify
//   pg_notify calls on the bus channel, one statement (one transaction) at a time as a
//   bus sender does, each an `event` message from a foreign instance id; every instance
//   applies them exactly as a peer's. One sender is the ceiling of one instance's bus
//   sender; several show where NOTIFY itself or the receivers stop keeping up.
//
// Not a test and not part of `npm test`. Run from client-js/ after a release build, with
// PostgreSQL reachable and `psql` installed:
//
//   node bench/bus.js [--instances 2,3] [--levels 1,2,4,8,16,32,64] [--seconds 3]
//       [--notify 10000] [--senders 1,2,4] [--db postgres://postgres@127.0.0.1:5432/test]
//       [--json]
//
// It creates database `roost_bus_<random>` next to the one given (per instance count) and
// drops it after. Client, servers and PostgreSQL share the machine: on a small one the
// CPU saturates first (`cpu` is the whole machine's, busy over the window).

import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { io } from 'socket.io-client'

import { startRoost, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD } from '../test/helpers.js'
import { parseArgs } from './args.js'

const args = parseArgs(process.argv.slice(2))
const INSTANCES = String(args.instances ?? '2,3').split(',').map(Number)
const LEVELS = String(args.levels ?? '1,2,4,8,16,32,64').split(',').map(Number)
const SECONDS = Number(args.seconds ?? 3)
const NOTIFY = Number(args.notify ?? 10000)
const SENDERS = String(args.senders ?? '1,2,4').split(',').map(Number)
const ADMIN_URL = String(args.db ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
// Latency counts as exploded past this p99 (the bus queue is growing, not just busy).
const EXPLODED_MS = 1000

function psql (url, sql) {
  execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: 'inherit' })
}

/** A tiny REST client over fetch. */
function restClient (url) {
  let token = null
  async function call (method, p, body) {
    const res = await fetch(`${url}/${p}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {})
      },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const json = await res.json().catch(() => null)
    if (!res.ok) throw new Error(`${method} /${p}: ${res.status} ${JSON.stringify(json)}`)
    return json
  }
  return {
    call,
    async login () {
      token = (await call('POST', 'authentication', { strategy: 'local', email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken
    }
  }
}

/** An authenticated (admin) socket on `url`. */
async function adminSocket (url) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false })
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  await new Promise((resolve, reject) => {
    socket.timeout(30000).emit('create', 'authentication',
      { strategy: 'local', email: ADMIN_EMAIL, password: ADMIN_PASSWORD }, {},
      (timeout, err, data) => (timeout || err ? reject(timeout || new Error(JSON.stringify(err))) : resolve(data)))
  })
  return socket
}

/** Whole-machine CPU counters (jiffies) from /proc/stat: busy and total. */
function machineCpu () {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const idle = f[3] + (f[4] ?? 0)
  const total = f.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

function busyPercent (c0, c1) {
  return Math.round((100 * (c1.busy - c0.busy)) / Math.max(1, c1.total - c0.total))
}

function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))]
}

/** Events the servers logged as not sent to a socket (its outgoing buffer was full). */
function socketDrops (servers) {
  return servers.reduce((a, s) => a + (s.logs.match(/realtime publish failed/g) ?? []).length, 0)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitFor (cond, ms) {
  const deadline = performance.now() + ms
  while (!cond() && performance.now() < deadline) await sleep(10)
  return cond()
}

/** Waits until every map holds `count` entries, or none grew for `idleMs` (some are lost). */
async function waitReceipts (maps, count, idleMs = 2000) {
  let total = -1
  let since = performance.now()
  while (!maps.every((m) => m.size >= count)) {
    const now = maps.reduce((a, m) => a + m.size, 0)
    if (now !== total) { total = now; since = performance.now() } else if (performance.now() - since > idleMs) return false
    await sleep(10)
  }
  return true
}

async function runInstances (n) {
  const name = `roost_bus_${randomBytes(6).toString('hex')}`
  psql(ADMIN_URL, `CREATE DATABASE ${name}`)
  const dbUrl = ADMIN_URL.replace(/\/[^/?]*(\?.*)?$/, (_m, query) => `/${name}${query ?? ''}`)
  const shared = {
    ROOST_DATABASE_URL: dbUrl,
    ROOST_AUTHENTICATION__TOKEN_KEY: randomBytes(32).toString('hex'),
    ROOST_LOG: 'warn'
  }
  const servers = []
  const sockets = []
  try {
    // One at a time: the first runs the migrations and creates the admin.
    for (let i = 0; i < n; i++) servers.push(await startRoost(shared))
    const admin = restClient(servers[0].url)
    await admin.login()
    const maxLevel = Math.max(...LEVELS)
    // One target user per writer, so writers do not queue on one row's lock.
    const targets = []
    for (let i = 0; i < maxLevel; i++) {
      targets.push(await admin.call('POST', 'users', { email: `bus-${i}@roost.test`, password: PASSWORD }))
    }

    // receipts[k]: seq -> receipt time, for the socket on instance k.
    const receipts = servers.map(() => new Map())
    for (let k = 0; k < n; k++) {
      const socket = await adminSocket(servers[k].url)
      socket.on('users patched', (record) => {
        const now = performance.now()
        const m = /^b-(\d+)$/.exec(String(record.username ?? ''))
        if (m) receipts[k].set(Number(m[1]), now)
      })
      sockets.push(socket)
    }
    // Warm-up: every listener is up and every cache loaded before anything is timed.
    let seq = 0
    for (let tries = 0; ; tries++) {
      const s = seq++
      await admin.call('PATCH', `users/${targets[0].id}`, { username: `b-${s}` })
      if (await waitFor(() => receipts.every((r) => r.has(s)), 2000)) break
      if (tries > 10) throw new Error('the bus never delivered the warm-up event')
    }

    const levels = []
    let best = 0
    let flat = 0
    for (const level of LEVELS) {
      for (const m of receipts) m.clear()
      const first = seq
      const sentAt = new Map()
      const drops0 = socketDrops(servers)
      const c0 = machineCpu()
      const started = performance.now()
      const end = started + SECONDS * 1000
      await Promise.all(Array.from({ length: level }, async (_, w) => {
        while (performance.now() < end) {
          const s = seq++
          sentAt.set(s, performance.now())
          await admin.call('PATCH', `users/${targets[w].id}`, { username: `b-${s}` })
        }
      }))
      const stopped = performance.now()
      const cpu = busyPercent(c0, machineCpu())
      const last = seq
      const remote = receipts.slice(1)
      const writes = last - first
      // Let the receivers catch up (a lagging bus shows as drain time).
      await waitReceipts(remote, writes)
      const window = (stopped - started) / 1000
      const lat = { local: [], remote: [] }
      let missing = 0
      let lastRemote = 0
      const inWindow = remote.map(() => 0)
      for (let s = first; s < last; s++) {
        const t0 = sentAt.get(s)
        const local = receipts[0].get(s)
        if (local !== undefined) lat.local.push(local - t0)
        remote.forEach((r, k) => {
          const t = r.get(s)
          if (t === undefined) { missing++; return }
          lat.remote.push(t - t0)
          lastRemote = Math.max(lastRemote, t)
          if (t <= stopped) inWindow[k]++
        })
      }
      lat.local.sort((a, b) => a - b)
      lat.remote.sort((a, b) => a - b)
      const r = {
        instances: n,
        concurrency: level,
        writes,
        writes_per_s: Math.round(writes / window),
        // The slowest receiving instance: what every instance sees at least.
        delivered_per_s: Math.round(Math.min(...inWindow) / window),
        local_p50_ms: +percentile(lat.local, 50).toFixed(1),
        local_p99_ms: +percentile(lat.local, 99).toFixed(1),
        remote_p50_ms: +percentile(lat.remote, 50).toFixed(1),
        remote_p99_ms: +percentile(lat.remote, 99).toFixed(1),
        remote_max_ms: +(lat.remote[lat.remote.length - 1] ?? NaN).toFixed(1),
        drain_ms: Math.max(0, Math.round(lastRemote - stopped)),
        missing,
        dropped_at_socket: socketDrops(servers) - drops0,
        cpu_percent: cpu
      }
      levels.push(r)
      report(r)
      if (r.remote_p99_ms > EXPLODED_MS) break
      // Stop once two levels in a row add less than 5 % to the best write rate.
      if (r.writes_per_s > best * 1.05) { best = r.writes_per_s; flat = 0 } else if (++flat >= 2) break
    }

    const notify = []
    if (NOTIFY > 0) {
      for (const senders of SENDERS) {
        notify.push(await notifyOnly(n, servers, dbUrl, targets[0], receipts, seq, senders))
        seq += NOTIFY
      }
    }
    return { instances: n, levels, notify }
  } finally {
    for (const s of sockets) s.close()
    for (const s of servers) await s.stop()
    psql(ADMIN_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  }
}

/**
 * The bus without REST: `senders` psql sessions send NOTIFY events as foreign instances,
 * one autocommit statement each (as a bus sender does), NOTIFY messages in all; every
 * instance's socket should receive each one.
 */
async function notifyOnly (n, servers, dbUrl, target, receipts, first, senders) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'roost-bus-'))
  const files = Array.from({ length: senders }, (_, k) => {
    const lines = []
    for (let i = k; i < NOTIFY; i += senders) {
      const record = { ...target, username: `b-${first + i}` }
      const payload = JSON.stringify({ from: `bench-${k}`, msg: { kind: 'event', path: 'users', event: 'patched', record } })
      lines.push(`SELECT pg_notify('roost_bus', '${payload.replace(/'/g, "''")}');`)
    }
    const file = path.join(dir, `notify-${k}.sql`)
    writeFileSync(file, lines.join('\n') + '\n')
    return file
  })
  for (const m of receipts) m.clear()
  const drops0 = socketDrops(servers)
  const c0 = machineCpu()
  const started = performance.now()
  await Promise.all(files.map((file) => new Promise((resolve, reject) => {
    const p = spawn('psql', [dbUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-o', '/dev/null', '-f', file], { stdio: 'inherit' })
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}`))))
  })))
  const sent = performance.now()
  const cpu = busyPercent(c0, machineCpu())
  await waitReceipts(receipts, NOTIFY)
  rmSync(dir, { recursive: true, force: true })
  const perSocket = receipts.map((r) => {
    const times = [...r.values()]
    const last = times.length ? Math.max(...times) : started
    const inWindow = times.filter((t) => t <= sent).length
    return { received: r.size, per_s: Math.round(inWindow / ((sent - started) / 1000)), last }
  })
  const lastReceipt = Math.max(...perSocket.map((s) => s.last))
  const dropped = socketDrops(servers) - drops0
  const r = {
    instances: n,
    senders,
    notifies: NOTIFY,
    sent_per_s: Math.round(NOTIFY / ((sent - started) / 1000)),
    // Every instance is a receiver here (the senders are psql): the slowest one, counting
    // what arrived while the senders were sending.
    delivered_per_s: Math.min(...perSocket.map((s) => s.per_s)),
    // Over the whole run, until the last receipt.
    overall_per_s: Math.round(NOTIFY / ((lastReceipt - started) / 1000)),
    missing: perSocket.reduce((a, s) => a + (NOTIFY - s.received), 0),
    dropped_at_socket: dropped,
    drain_ms: Math.max(0, Math.round(lastReceipt - sent)),
    cpu_percent: cpu
  }
  if (!args.json) {
    console.log(`instances=${n} NOTIFY only, ${senders} psql sender(s): ${r.notifies} sent at ${r.sent_per_s}/s, ` +
      `delivered ${r.delivered_per_s}/s while sending (slowest instance; ${r.overall_per_s}/s to the last), ` +
      `missing ${r.missing} (dropped at a full socket buffer: ${r.dropped_at_socket}), drain ${r.drain_ms} ms, cpu ${r.cpu_percent}%`)
  }
  return r
}

function report (r) {
  if (args.json) return
  console.log(`instances=${r.instances} concurrency=${String(r.concurrency).padStart(2)}: ` +
    `${r.writes_per_s} writes/s, ${r.delivered_per_s} cross-instance deliveries/s (slowest receiver, within the window), ` +
    `remote p50 ${r.remote_p50_ms} ms p99 ${r.remote_p99_ms} ms max ${r.remote_max_ms} ms ` +
    `(local p50 ${r.local_p50_ms} p99 ${r.local_p99_ms}), drain ${r.drain_ms} ms, missing ${r.missing} (dropped at a full socket buffer: ${r.dropped_at_socket}), cpu ${r.cpu_percent}%`)
}

if (!args.json) {
  // Other work on the machine skews every figure: say how busy it was.
  console.log(`${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
}
const results = []
for (const n of INSTANCES) {
  if (!(n >= 2)) throw new Error('--instances: each count must be at least 2')
  results.push(await runInstances(n))
}
if (args.json) console.log(JSON.stringify(results, null, 2))
process.exit(0)
