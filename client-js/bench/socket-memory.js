#!/usr/bin/env node
// Resident memory per authenticated Socket.IO connection (performance issue 11), against a
// server that is already running and seeded (user1@example.com / bench-password, as
// `chat seed` makes it). Logs in once over REST, then opens N Feathers clients the way the
// shared harness does (websocket transport only, one connection each, `authentication`
// `create` with the JWT), holds them, and reads VmRSS from /proc/PID/status before
// connecting and after they settled. Not a test; it starts nothing itself. From client-js/:
//
//   node bench/socket-memory.js --url http://127.0.0.1:3040 --pid 1234 [--n 1000]
//       [--parallel 50] [--settle-ms 3000] [--quiet-ms 8000]
//       [--hold-ms 0] [--email ...] [--password ...] [--json]
//
// Requirement (issue 11): at most 12 kB per authenticated socket.

import { readFileSync } from 'node:fs'
import { feathers } from '@feathersjs/feathers'
import socketioClient from '@feathersjs/socketio-client'
import { io } from 'socket.io-client'
import { parseArgs } from './args.js'

const args = parseArgs(process.argv.slice(2))
const URL_BASE = String(args.url ?? 'http://127.0.0.1:3040').replace(/\/$/, '')
const PID = Number(args.pid)
const N = Number(args.n ?? 1000)
const PARALLEL = Number(args.parallel ?? 50)
const SETTLE_MS = Number(args['settle-ms'] ?? 3000)
const QUIET_MS = Number(args['quiet-ms'] ?? 8000)
const HOLD_MS = Number(args['hold-ms'] ?? 0)
const EMAIL = String(args.email ?? 'user1@example.com')
const PASSWORD = String(args.password ?? 'bench-password')

/** VmRSS in kB from /proc/PID/status. */
function rss (pid) {
  return status(pid, 'VmRSS')
}

function status (pid, field) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(text.match(new RegExp(`^${field}:\\s+(\\d+)`, 'm'))[1])
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function connect (accessToken) {
  const socket = io(URL_BASE, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 30000 })
  const client = feathers()
  client.configure(socketioClient(socket, { timeout: 30000 }))
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  await client.service('authentication').create({ strategy: 'jwt', accessToken })
  return socket
}

async function main () {
  if (!PID) throw new Error('--pid is required')
  const res = await fetch(`${URL_BASE}/authentication`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ strategy: 'local', email: EMAIL, password: PASSWORD })
  })
  if (res.status !== 201) throw new Error(`login: ${res.status} ${await res.text()}`)
  const { accessToken } = await res.json()
  // One socket first, so code paths touched once (lazy statics, first allocations of each
  // size) are not counted per socket; then a wait past the login's own memory (a password
  // hashing buffer is released after 5 idle seconds).
  ;(await connect(accessToken)).close()
  await sleep(QUIET_MS)

  const before = rss(PID)
  const sockets = []
  const started = performance.now()
  let next = 0
  const worker = async () => {
    while (next < N) {
      next++
      sockets.push(await connect(accessToken))
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, N) }, worker))
  const connectMs = performance.now() - started
  await sleep(SETTLE_MS)
  const connected = rss(PID)
  if (HOLD_MS) {
    console.log(`holding ${sockets.length} sockets for ${HOLD_MS} ms (RSS ${connected} kB)`)
    await sleep(HOLD_MS)
  }
  for (const socket of sockets) socket.close()
  await sleep(SETTLE_MS)
  const closed = rss(PID)

  const report = {
    sockets: sockets.length,
    connectMs: Math.round(connectMs),
    rssKb: { before, connected, closed },
    threads: status(PID, 'Threads'),
    kbPerSocket: Math.round(((connected - before) / sockets.length) * 10) / 10
  }
  if (args.json) {
    console.log(JSON.stringify(report))
  } else {
    const mb = kb => (kb / 1024).toFixed(1)
    console.log(`${report.sockets} authenticated sockets in ${report.connectMs} ms`)
    console.log(`RSS MB: before ${mb(before)}, connected ${mb(connected)}, after close ${mb(closed)}`)
    console.log(`${report.kbPerSocket} kB per socket (${report.threads} server threads)`)
  }
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
