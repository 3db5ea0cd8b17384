// Starts the real roost binaries and builds Feathers client apps with the official
// @feathersjs v5 client packages, exactly as a browser or Node app would.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { feathers } from '@feathersjs/feathers'
import rest from '@feathersjs/rest-client'
import socketio from '@feathersjs/socketio-client'
import authentication, { MemoryStorage } from '@feathersjs/authentication-client'
import { io } from 'socket.io-client'

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '..', '..')

export const ADMIN_EMAIL = 'admin@roost.test'
export const ADMIN_PASSWORD = 'Admin-Passw0rd-For-Tests!'
export const PASSWORD = 'Quiet-Lantern-Orbit-77'
const SECRET = 'client-js-secret-0123456789-abcdefghijklmnop'

// Where cargo put the release build: `CARGO_TARGET_DIR` (a relative one is taken from the
// repository root, where .ci/test runs cargo), else ../target.
const TARGET_DIR = path.resolve(repo, process.env.CARGO_TARGET_DIR || 'target')

/** `ROOST_BIN` (relative to client-js/) or <target dir>/release/roost. */
export const ROOST_BIN = process.env.ROOST_BIN
  ? path.resolve(here, '..', process.env.ROOST_BIN)
  : path.join(TARGET_DIR, 'release', 'roost')
/** `ROOST_PEOPLE_BIN` (relative to client-js/) or <target dir>/release/examples/people. */
export const PEOPLE_BIN = process.env.ROOST_PEOPLE_BIN
  ? path.resolve(here, '..', process.env.ROOST_PEOPLE_BIN)
  : path.join(TARGET_DIR, 'release', 'examples', 'people')

/**
 * `CHAT_BIN` (relative to client-js/) or <target dir>/release/examples/chat. (Not a
 * `ROOST_*` name: the binaries refuse unknown `ROOST_*` variables, and this one is not
 * on their list of test-tool variables.)
 */
export const CHAT_BIN = process.env.CHAT_BIN
  ? path.resolve(here, '..', process.env.CHAT_BIN)
  : path.join(TARGET_DIR, 'release', 'examples', 'chat')

/** A free TCP port on 127.0.0.1. */
export function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

function canConnect (port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' })
    sock.once('connect', () => { sock.destroy(); resolve(true) })
    sock.once('error', () => resolve(false))
  })
}

/**
 * Spawns `bin` with `env` on a free port and a fresh temporary data directory; resolves
 * once it accepts connections. Returns `{ url, port, dir, proc, logs, stop }`.
 */
export async function startBinary (bin, extraEnv = {}) {
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: build it first (cargo build --release --bins --examples)`)
  }
  const port = await freePort()
  const dir = mkdtempSync(path.join(os.tmpdir(), 'roost-client-js-'))
  const env = {
    ...process.env,
    ROOST_HOST: '127.0.0.1',
    ROOST_PORT: String(port),
    ROOST_DATA_DIR: dir,
    ROOST_DATABASE_URL: `sqlite://${path.join(dir, 'roost.db')}?mode=rwc`,
    ROOST_AUTHENTICATION__SECRET: SECRET,
    // The server reads its log filter from ROOST_LOG (RUST_LOG is ignored); default
    // `roost=info,warn`.
    ...(process.env.ROOST_LOG ? { ROOST_LOG: process.env.ROOST_LOG } : {}),
    ...extraEnv
  }
  const proc = spawn(bin, [], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let logs = ''
  // Every line is kept: log-leak tests search all of it.
  const keep = (chunk) => { logs += chunk.toString() }
  proc.stdout.on('data', keep)
  proc.stderr.on('data', keep)
  let exited = null
  proc.on('exit', (code, signal) => { exited = { code, signal } })

  const deadline = Date.now() + 30000
  while (!(await canConnect(port))) {
    if (exited) {
      throw new Error(`${path.basename(bin)} exited early (${JSON.stringify(exited)}):\n${logs.slice(-20000)}`)
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`${path.basename(bin)} did not listen on ${port} within 30 s:\n${logs.slice(-20000)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    port,
    dir,
    proc,
    get logs () { return logs },
    async stop () {
      if (!exited) {
        const done = new Promise((resolve) => proc.once('exit', resolve))
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
        await done
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** The roost server with a bootstrap admin. */
export function startRoost (extraEnv = {}) {
  return startBinary(ROOST_BIN, {
    ROOST_ADMIN_EMAIL: ADMIN_EMAIL,
    ROOST_ADMIN_PASSWORD: ADMIN_PASSWORD,
    ...extraEnv
  })
}

/** The `people` example (for @feathersjs/adapter-tests). */
export function startPeople () {
  return startBinary(PEOPLE_BIN)
}

/** The `chat` example (the Feathers chat reference API on Roost as a library). */
export function startChat (extraEnv = {}) {
  // The page's browser builds come from this package's node_modules.
  return startBinary(CHAT_BIN, { CHAT_NODE_MODULES: path.join(here, '..', 'node_modules'), ...extraEnv })
}

/**
 * The transports a Feathers app can use:
 * - `rest`: @feathersjs/rest-client over fetch;
 * - `socketio`: @feathersjs/socketio-client, socket.io-client defaults (polling, then upgrade);
 * - `websocket`: @feathersjs/socketio-client with `transports: ['websocket']`.
 */
export const TRANSPORTS = ['rest', 'socketio', 'websocket']

/** A Feathers client app over `transport`, with authentication-client unless `auth` is false. */
export function makeClient (url, transport, { auth = true } = {}) {
  const app = feathers()
  let socket = null
  if (transport === 'rest') {
    app.configure(rest(url).fetch(fetch))
  } else {
    socket = io(url, {
      transports: transport === 'websocket' ? ['websocket'] : ['polling', 'websocket'],
      forceNew: true,
      reconnectionDelay: 50,
      reconnectionDelayMax: 200,
      // A missing ack fails the call after 10 s instead of hanging the test run.
      ackTimeout: 10000
    })
    app.configure(socketio(socket))
  }
  if (auth) {
    app.configure(authentication({ storage: new MemoryStorage() }))
  }
  return {
    app,
    socket,
    close () {
      if (socket) {
        // authentication-client re-authenticates on every disconnect; a deliberate close
        // must not leave that call pending (it would time out after the test).
        socket.removeAllListeners('disconnect')
        socket.close()
      }
    }
  }
}

/** A client logged in as `email` (the admin by default). */
export async function login (url, transport, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  const client = makeClient(url, transport)
  await client.app.authenticate({ strategy: 'local', email, password })
  return client
}

/** Resolves with the next `event` of `service`, or rejects after `ms`. */
export function nextEvent (service, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      service.removeListener(event, handler)
      reject(new Error(`no '${event}' event within ${ms} ms`))
    }, ms)
    function handler (data) {
      clearTimeout(timer)
      service.removeListener(event, handler)
      resolve(data)
    }
    service.on(event, handler)
  })
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export { repo }
