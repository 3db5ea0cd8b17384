// Drives the roost binary like a Feathers app would, with the official v5 clients over
// REST (fetch), Socket.IO (polling, then upgrade) and Socket.IO (websocket only).

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'

import {
  BadRequest, Conflict, FeathersError, MethodNotAllowed, NotAuthenticated, NotFound
} from '@feathersjs/errors'

import {
  ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TRANSPORTS, login, makeClient, nextEvent, sleep, startRoost
} from './helpers.js'

const server = await startRoost()
after(() => server.stop())

/** Asserts that `promise` rejects with an instance of `Class` (and its code). */
async function rejectsWith (promise, Class, check = () => {}, what = '') {
  const expected = new Class()
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof FeathersError, `not a FeathersError: ${err && err.stack}`)
    assert.ok(err instanceof Class, `expected ${expected.name}, got ${err.name} (${err.code}): ${err.message}`)
    assert.equal(err.name, expected.name)
    assert.equal(err.code, expected.code)
    assert.equal(err.className, expected.className)
    check(err)
    return true
  }, `expected ${expected.name}${what ? ` (${what})` : ''}, but the call succeeded`)
}

function decodeJwt (token) {
  const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()))
  return { header, payload }
}

function connected (socket) {
  return socket.connected ? Promise.resolve() : new Promise((resolve) => socket.once('connect', resolve))
}

function noPassword (value) {
  const text = JSON.stringify(value)
  assert.ok(!/password/i.test(text), `a password field leaked: ${text}`)
  assert.ok(!text.includes(PASSWORD) && !text.includes(ADMIN_PASSWORD), `a password leaked: ${text}`)
}

/** Seeded access scope ids (1..39) matching `query`, sorted by id. */
async function scopeIds (app, query) {
  const page = await app.service('access_scopes').find({
    query: { $sort: { id: 1 }, $limit: 50, ...query, $and: [{ id: { $lte: 39 } }, ...(query.$and || [])] }
  })
  return page.data.map((r) => r.id)
}

for (const transport of TRANSPORTS) {
  describe(`roost over ${transport}`, () => {
    const tag = transport
    let client
    let app

    before(async () => {
      client = await login(server.url, transport)
      app = client.app
    })
    after(() => client.close())

    it('logs in with the local strategy', async () => {
      const c = makeClient(server.url, transport)
      try {
        const result = await c.app.authenticate({ strategy: 'local', email: ADMIN_EMAIL, password: ADMIN_PASSWORD })
        assert.equal(typeof result.accessToken, 'string')
        assert.equal(result.authentication.strategy, 'local')
        assert.equal(result.user.email, ADMIN_EMAIL)
        noPassword(result)
        const { header, payload } = decodeJwt(result.accessToken)
        assert.equal(header.alg, 'HS256')
        assert.equal(header.typ, 'access')
        assert.deepEqual(Object.keys(payload), ['iat', 'exp', 'aud', 'iss', 'sub', 'jti'])
        assert.equal(payload.sub, String(result.user.id))
        assert.deepEqual(result.authentication.payload, payload)
        assert.equal(await c.app.authentication.getAccessToken(), result.accessToken)
        const stored = await c.app.get('authentication')
        assert.equal(stored.accessToken, result.accessToken)
        const me = await c.app.service('users').get(result.user.id)
        assert.equal(me.email, ADMIN_EMAIL)
      } finally {
        c.close()
      }
    })

    it('rejects bad credentials with NotAuthenticated', async () => {
      const c = makeClient(server.url, transport)
      try {
        await rejectsWith(c.app.authenticate({ strategy: 'local', email: ADMIN_EMAIL, password: 'wrong-password-1' }), NotAuthenticated,
          (err) => assert.equal(err.message, 'Invalid login'))
        await rejectsWith(c.app.authenticate({ strategy: 'local', email: 'nobody@roost.test', password: ADMIN_PASSWORD }), NotAuthenticated,
          (err) => assert.equal(err.message, 'Invalid login'))
        await rejectsWith(c.app.service('roles').find(), NotAuthenticated)
        await rejectsWith(c.app.authenticate({ strategy: 'jwt', accessToken: 'not-a-token' }), NotAuthenticated)
      } finally {
        c.close()
      }
    })

    it('reAuthenticate() logs in again with the stored token', async () => {
      const token = await app.authentication.getAccessToken()
      const again = await app.reAuthenticate(true)
      assert.equal(again.accessToken, token, 'the jwt strategy returns the same token')
      assert.equal(again.authentication.strategy, 'jwt')
      const c = makeClient(server.url, transport)
      try {
        await c.app.authentication.setAccessToken(token)
        const result = await c.app.reAuthenticate()
        assert.equal(result.accessToken, token)
        assert.equal(result.user.email, ADMIN_EMAIL)
        await c.app.service('roles').find()
      } finally {
        c.close()
      }
    })

    it('CRUD on roles', async () => {
      const roles = app.service('roles')
      const created = await roles.create({ name: 'Editors', slug: `${tag}-editors`, description: 'Edit' })
      assert.equal(typeof created.id, 'number')
      assert.equal(created.slug, `${tag}-editors`)
      assert.deepEqual(await roles.get(created.id), created)
      const page = await roles.find({ query: { slug: `${tag}-editors` } })
      assert.deepEqual(page, { total: 1, limit: 10, skip: 0, data: [created] })
      const patched = await roles.patch(created.id, { name: 'Editors 2' })
      assert.equal(patched.name, 'Editors 2')
      assert.equal(patched.description, 'Edit')
      const updated = await roles.update(created.id, { name: 'Writers', slug: `${tag}-editors` })
      assert.equal(updated.name, 'Writers')
      assert.notEqual(updated.description, 'Edit', 'update replaces the record')
      const selected = await roles.get(created.id, { query: { $select: ['slug'] } })
      assert.deepEqual(selected, { id: created.id, slug: `${tag}-editors` })
      const removed = await roles.remove(created.id)
      assert.deepEqual(removed, updated)
      await rejectsWith(roles.get(created.id), NotFound, (err) => assert.equal(err.message, `No record found for id '${created.id}'`))
    })

    it('CRUD on access_group_types and access_groups', async () => {
      const type = await app.service('access_group_types').create({ name: 'Team', slug: `${tag}-team` })
      const group = await app.service('access_groups').create({ type_id: type.id, name: 'Red', slug: `${tag}-red` })
      assert.equal(group.type_id, type.id)
      const page = await app.service('access_groups').find({ query: { type_id: type.id } })
      assert.deepEqual(page.data.map((g) => g.slug), [`${tag}-red`])
      await rejectsWith(app.service('access_groups').create({ type_id: 987654, name: 'x', slug: `${tag}-x` }), BadRequest)
      await app.service('access_groups').remove(group.id)
      await app.service('access_group_types').remove(type.id)
    })

    it('users never expose passwords', async () => {
      const users = app.service('users')
      const user = await users.create({ email: `${tag}-jane@roost.test`, password: PASSWORD, first_name: 'Jane' })
      noPassword(user)
      noPassword(await users.get(user.id))
      noPassword(await users.find({ query: { email: user.email } }))
      const patched = await users.patch(user.id, { first_name: 'Janet' })
      assert.equal(patched.first_name, 'Janet')
      noPassword(patched)
      const other = await login(server.url, transport, user.email, PASSWORD)
      other.close()
      await rejectsWith(users.create({ email: user.email, password: PASSWORD }), Conflict,
        (err) => assert.ok(err.errors && err.errors.email !== undefined, JSON.stringify(err.toJSON())))
      noPassword(await users.remove(user.id))
    })

    it('every query operator', async () => {
      assert.deepEqual(await scopeIds(app, { $limit: 3, $skip: 2 }), [3, 4, 5])
      assert.deepEqual(await scopeIds(app, { $sort: { id: -1 }, $limit: 2 }), [39, 38])
      assert.deepEqual(await scopeIds(app, { id: { $in: [1, 5, 9] } }), [1, 5, 9])
      assert.deepEqual(await scopeIds(app, { id: { $lte: 5, $nin: [2, 4] } }), [1, 3, 5])
      assert.deepEqual(await scopeIds(app, { id: { $lt: 3 } }), [1, 2])
      assert.deepEqual(await scopeIds(app, { id: { $lte: 3 } }), [1, 2, 3])
      assert.deepEqual(await scopeIds(app, { id: { $gt: 37 } }), [38, 39])
      assert.deepEqual(await scopeIds(app, { id: { $gte: 37 } }), [37, 38, 39])
      assert.deepEqual(await scopeIds(app, { id: { $ne: 1, $lt: 4 } }), [2, 3])
      assert.deepEqual(await scopeIds(app, { $or: [{ slug: 'full_access' }, { id: 3 }] }), [1, 3])
      assert.deepEqual(await scopeIds(app, { $and: [{ id: { $gte: 2 } }, { id: { $lte: 4 } }] }), [2, 3, 4])
      assert.deepEqual(await scopeIds(app, { slug: { $like: 'users_read%' } }), [9, 13, 14, 15, 16])
      assert.deepEqual(await scopeIds(app, { slug: { $notlike: '%s' }, id: { $lte: 10 } }), [3, 4, 5, 6, 7, 8, 9, 10])
      assert.deepEqual(await scopeIds(app, { slug: { $ilike: 'USERS_READ%' } }), [9, 13, 14, 15, 16])
      assert.deepEqual(await scopeIds(app, { id: { $in: Array.from({ length: 25 }, (_, i) => i + 1) } }),
        Array.from({ length: 25 }, (_, i) => i + 1))
      const selected = await app.service('access_scopes').find({ query: { id: 2, $select: ['slug'] } })
      assert.deepEqual(selected.data, [{ id: 2, slug: 'roles' }])
      await rejectsWith(app.service('access_scopes').find({ query: { id: { $foo: 1 } } }), BadRequest)
    })

    it('pagination', async () => {
      const page = await app.service('access_scopes').find()
      assert.deepEqual(Object.keys(page).sort(), ['data', 'limit', 'skip', 'total'])
      assert.equal(page.limit, 10)
      assert.equal(page.skip, 0)
      assert.equal(page.data.length, 10)
      assert.ok(page.total >= 39)
      const capped = await app.service('access_scopes').find({ query: { $limit: 1000 } })
      assert.equal(capped.limit, 50)
      const counted = await app.service('access_scopes').find({ query: { $limit: 0, id: { $lte: 39 } } })
      assert.deepEqual(counted, { total: 39, limit: 0, skip: 0, data: [] })
    })

    it('errors arrive as @feathersjs/errors classes', async () => {
      const roles = app.service('roles')
      const role = await roles.create({ slug: `${tag}-taken` })
      await rejectsWith(roles.create({ slug: `${tag}-taken` }), Conflict,
        (err) => assert.ok(err.errors && err.errors.slug !== undefined, JSON.stringify(err.toJSON())))
      await rejectsWith(roles.get(987654), NotFound)
      await rejectsWith(roles.get('568225fbfe21222432e836ff'), NotFound)
      await rejectsWith(roles.patch(null, { name: 'all' }), MethodNotAllowed)
      await rejectsWith(roles.remove(null), MethodNotAllowed)
      await rejectsWith(roles.create([{ slug: `${tag}-m1` }]), MethodNotAllowed)
      await rejectsWith(roles.update(null, { slug: 'x' }), BadRequest)
      await rejectsWith(roles.create({ name: 'no slug' }), BadRequest)
      await rejectsWith(app.service('events').remove(1), MethodNotAllowed)
      await rejectsWith(app.service('nothing').find(), NotFound)
      await roles.remove(role.id)
      const anon = makeClient(server.url, transport)
      try {
        await rejectsWith(anon.app.service('users').find(), NotAuthenticated)
      } finally {
        anon.close()
      }
    })

    it('realtime events reach authenticated sockets only', async () => {
      const listener = await login(server.url, 'websocket')
      const anonymous = makeClient(server.url, 'websocket')
      const leaked = []
      try {
        await connected(anonymous.socket)
        for (const ev of ['created', 'updated', 'patched', 'removed']) {
          anonymous.app.service('roles').on(ev, (data) => leaked.push([ev, data]))
        }
        const roles = listener.app.service('roles')
        let event = nextEvent(roles, 'created')
        const created = await app.service('roles').create({ name: 'Live', slug: `${tag}-live` })
        assert.deepEqual(await event, created)
        event = nextEvent(roles, 'patched')
        const patched = await app.service('roles').patch(created.id, { name: 'Live 2' })
        assert.deepEqual(await event, patched)
        event = nextEvent(roles, 'updated')
        const updated = await app.service('roles').update(created.id, { name: 'Live 3', slug: `${tag}-live` })
        assert.deepEqual(await event, updated)
        event = nextEvent(roles, 'removed')
        const removed = await app.service('roles').remove(created.id)
        assert.deepEqual(await event, removed)
        await sleep(200)
        assert.deepEqual(leaked, [], 'anonymous sockets receive nothing')
        // After logout the listener receives nothing more.
        await listener.app.logout()
        let after = null
        roles.on('created', (data) => { after = data })
        const sentinel = await login(server.url, 'websocket')
        const seen = nextEvent(sentinel.app.service('roles'), 'created')
        const last = await app.service('roles').create({ slug: `${tag}-after-logout` })
        assert.deepEqual(await seen, last)
        await sleep(200)
        assert.equal(after, null, 'a logged-out socket received an event')
        sentinel.close()
        await app.service('roles').remove(last.id)
      } finally {
        listener.close()
        anonymous.close()
      }
    })

    if (transport !== 'rest') {
      it('re-authenticates after a dropped connection', async () => {
        const c = await login(server.url, transport)
        try {
          const before = c.socket.id
          const reconnected = new Promise((resolve) => c.socket.io.once('reconnect', resolve))
          c.socket.io.engine.close()
          const page = await c.app.service('roles').find({ query: { $limit: 1 } })
          assert.equal(page.limit, 1)
          await reconnected
          assert.notEqual(c.socket.id, before, 'a new connection')
          // Still authenticated on the new connection, without a new login.
          await c.app.service('users').find({ query: { $limit: 1 } })
        } finally {
          c.close()
        }
      })
    }

    if (transport === 'socketio') {
      it('upgrades from polling to websocket', async () => {
        const c = await login(server.url, transport)
        try {
          const engine = c.socket.io.engine
          if (engine.transport.name !== 'websocket') {
            await new Promise((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error(`still on ${engine.transport.name}`)), 5000)
              engine.once('upgrade', () => { clearTimeout(timer); resolve() })
            })
          }
          assert.equal(engine.transport.name, 'websocket')
          await c.app.service('roles').find()
        } finally {
          c.close()
        }
      })
    }

    it('logout', async () => {
      const c = await login(server.url, transport)
      try {
        const token = await c.app.authentication.getAccessToken()
        await c.app.service('roles').find()
        await c.app.logout()
        assert.equal(await c.app.authentication.getAccessToken(), null, 'the stored token is gone')
        await rejectsWith(c.app.service('roles').find(), NotAuthenticated, undefined, 'a call after logout')
        // The session is over: its token no longer authenticates.
        const again = makeClient(server.url, transport)
        try {
          await rejectsWith(again.app.authenticate({ strategy: 'jwt', accessToken: token }), NotAuthenticated, undefined,
            'the token of a logged-out session')
        } finally {
          again.close()
        }
      } finally {
        c.close()
      }
    })
  })
}
