#!/usr/bin/env node
// Realtime fan-out benchmark (issue 4): 1,000 authenticated sockets, in 10 permission sets
// (mode `ten`) or each in a permission set of its own (mode `distinct`); the admin patches a
// user N times over REST and every socket allowed to read users receives `users patched`,
// shaped for its field scopes. Reports, per mode, events/s, deliveries/s and the delivery
// latency (REST request sent -> event received by the socket) p50 / p99 / max.
//
// Not a test and not part of `npm test`. Run from client-js/ after a release build:
//
//   ulimit -n 65536; node bench/fanout.js [--sockets 1000] [--events 200]
//       [--concurrency 4] [--modes ten,distinct] [--json]
//
// It starts <CARGO_TARGET_DIR or ../target>/release/roost (or ROOST_BIN) on a fresh SQLite data directory per
// mode, with the bootstrap admin from ROOST_ADMIN_EMAIL / ROOST_ADMIN_PASSWORD.
// Setup (users, roles, logins) is not timed; only the patch -> event phase is.

import { readFileSync } from 'node:fs'

import { io } from 'socket.io-client'

import { startRoost, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD } from '../test/helpers.js'
import { parseArgs } from './args.js'

const args = parseArgs(process.argv.slice(2))
const SOCKETS = Number(args.sockets ?? 1000)
const EVENTS = Number(args.events ?? 200)
const CONCURRENCY = Number(args.concurrency ?? 4)
const MODES = String(args.modes ?? 'ten,distinct').split(',')
const SETUP_PARALLEL = Number(args.setup ?? 8)

// users_read is in every set (so every socket receives the events); ten more scopes make
// the sets differ: four change what a `users` record shows, six do not.
const BITS = [
  'users_read_full_name', 'users_read_email', 'users_read_phone', 'users_read_picture',
  'roles_read', 'user_roles_read', 'scopes_read', 'access_groups_read',
  'user_group_roles_read', 'role_scopes_read'
]


/** A tiny REST client over fetch (the admin's). */
function restClient (url) {
  let token = null
  async function call (method, path, body) {
    const res = await fetch(`${url}/${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {})
      },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const json = await res.json().catch(() => null)
    if (!res.ok) throw new Error(`${method} /${path}: ${res.status} ${JSON.stringify(json)}`)
    return json
  }
  return {
    call,
    async login (email, password) {
      const r = await call('POST', 'authentication', { strategy: 'local', email, password })
      token = r.accessToken
      return r
    }
  }
}

/** Runs `fn(i)` for i in 0..n with at most `parallel` at once. */
async function pool (n, parallel, fn) {
  let next = 0
  async function worker () {
    while (next < n) {
      const i = next++
      await fn(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker))
}

/** The scope slugs of permission set `k` (bit pattern over BITS). */
function scopeSet (k) {
  return ['users_read', ...BITS.filter((_, bit) => (k >> bit) & 1)]
}

async function setup (url, mode) {
  const admin = restClient(url)
  await admin.login(ADMIN_EMAIL, ADMIN_PASSWORD)
  const scopes = await admin.call('GET', 'access_scopes?$limit=200')
  const scopeId = Object.fromEntries((scopes.data ?? scopes).map((s) => [s.slug, s.id]))
  for (const slug of ['users_read', ...BITS]) {
    if (!scopeId[slug]) throw new Error(`no access scope ${slug}`)
  }
  const sets = mode === 'ten' ? 10 : SOCKETS
  if (sets > 1 << BITS.length) throw new Error(`at most ${1 << BITS.length} distinct sets`)
  // One role per permission set.
  const roles = new Array(sets)
  await pool(sets, SETUP_PARALLEL, async (k) => {
    // Spread the ten sets over the bit patterns (0, 102, 204, ...) so they differ widely.
    const pattern = mode === 'ten' ? Math.floor((k * ((1 << BITS.length) - 1)) / 9) : k
    const role = await admin.call('POST', 'roles', { slug: `bench-${mode}-${k}`, name: `Bench ${k}` })
    for (const slug of scopeSet(pattern)) {
      await admin.call('POST', 'role_access_scopes', { role_id: role.id, access_scope_id: scopeId[slug] })
    }
    roles[k] = role.id
  })
  // One user per socket, holding the role of its set.
  const users = new Array(SOCKETS)
  await pool(SOCKETS, SETUP_PARALLEL, async (i) => {
    const user = await admin.call('POST', 'users', {
      email: `bench-${i}@roost.test`, password: PASSWORD, first_name: `B${i}`
    })
    await admin.call('POST', 'user_roles', { user_id: user.id, role_id: roles[i % sets] })
    users[i] = user
  })
  const target = await admin.call('POST', 'users', {
    email: 'bench-target@roost.test',
    password: PASSWORD,
    first_name: 'Target',
    last_name: 'Record',
    phone: '+15550000000'
  })
  return { admin, users, target }
}

/** Connects and logs in one socket per user; resolves with the sockets. */
async function connectAll (url, users) {
  const sockets = new Array(users.length)
  await pool(users.length, SETUP_PARALLEL, async (i) => {
    const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false })
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('connect_error', reject)
    })
    await new Promise((resolve, reject) => {
      socket.timeout(30000).emit('create', 'authentication',
        { strategy: 'local', email: users[i].email, password: PASSWORD }, {},
        (timeout, err, data) => (timeout || err ? reject(timeout || new Error(JSON.stringify(err))) : resolve(data)))
    })
    sockets[i] = socket
  })
  return sockets
}

/** CPU seconds (user + system) used so far by process `pid` (Linux /proc), or NaN. */
function cpuSeconds (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in clock ticks
  } catch {
    return NaN
  }
}

function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, i)]
}

async function measure (url, mode) {
  const server = await startRoost({ RUST_LOG: 'warn' })
  try {
    const t0 = Date.now()
    const { admin, users, target } = await setup(server.url, mode)
    const sockets = await connectAll(server.url, users)
    const setupS = (Date.now() - t0) / 1000

    const sentAt = new Map() // seq -> hrtime ms
    const latencies = []
    const shapes = new Set()
    let lastReceipt = 0
    for (const socket of sockets) {
      socket.on('users patched', (record) => {
        const now = performance.now()
        const seq = Number(String(record.username ?? '').split('-')[1])
        const sent = sentAt.get(seq)
        if (sent === undefined) return
        latencies.push(now - sent)
        lastReceipt = now
        if (seq === 0) shapes.add(Object.keys(record).sort().join(','))
      })
    }
    // Warm-up patch (not measured): loads every recipient's scopes into the cache.
    await admin.call('PATCH', `users/${target.id}`, { username: 'warm-up', first_name: 'warm' })
    await new Promise((resolve) => setTimeout(resolve, 1000))

    const started = performance.now()
    const serverCpu0 = cpuSeconds(server.proc.pid)
    const clientCpu0 = process.cpuUsage()
    let seq = 0
    await pool(EVENTS, CONCURRENCY, async () => {
      const s = seq++
      sentAt.set(s, performance.now())
      // `username` is readable with users_read alone: every shape carries the sequence.
      await admin.call('PATCH', `users/${target.id}`, { username: `seq-${s}`, first_name: `f-${s}` })
    })
    const expected = EVENTS * SOCKETS
    const deadline = performance.now() + 60000
    while (latencies.length < expected && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const elapsed = (lastReceipt - started) / 1000
    const serverCpu = cpuSeconds(server.proc.pid) - serverCpu0
    const clientUsage = process.cpuUsage(clientCpu0)
    const clientCpu = (clientUsage.user + clientUsage.system) / 1e6
    latencies.sort((a, b) => a - b)
    for (const s of sockets) s.close()
    return {
      mode,
      sockets: SOCKETS,
      permission_sets: mode === 'ten' ? 10 : SOCKETS,
      events: EVENTS,
      deliveries: latencies.length,
      missing: expected - latencies.length,
      seconds: Number(elapsed.toFixed(3)),
      events_per_s: Math.round(EVENTS / elapsed),
      deliveries_per_s: Math.round(latencies.length / elapsed),
      p50_ms: Number(percentile(latencies, 50).toFixed(1)),
      p99_ms: Number(percentile(latencies, 99).toFixed(1)),
      max_ms: Number(latencies[latencies.length - 1]?.toFixed(1)),
      record_shapes: shapes.size,
      server_cpu_s: Number(serverCpu.toFixed(2)),
      bench_cpu_s: Number(clientCpu.toFixed(2)),
      setup_s: setupS
    }
  } finally {
    await server.stop()
  }
}

const results = []
for (const mode of MODES) {
  if (mode !== 'ten' && mode !== 'distinct') throw new Error(`unknown mode ${mode}`)
  const r = await measure(null, mode)
  results.push(r)
  if (!args.json) {
    console.log(`${r.mode.padEnd(8)} sockets=${r.sockets} sets=${r.permission_sets} events=${r.events} ` +
      `deliveries=${r.deliveries} missing=${r.missing} in ${r.seconds}s: ${r.events_per_s} events/s, ` +
      `${r.deliveries_per_s} deliveries/s, latency p50=${r.p50_ms}ms p99=${r.p99_ms}ms max=${r.max_ms}ms ` +
      `(shapes=${r.record_shapes}; cpu: server ${r.server_cpu_s}s, bench client ${r.bench_cpu_s}s; setup ${r.setup_s}s)`)
  }
}
if (args.json) console.log(JSON.stringify(results, null, 2))
process.exit(0)
