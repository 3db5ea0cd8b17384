// examples/chat (the Feathers chat reference API, ../shared/peers/feathers-ref, on Roost as
// a library) with the official v5 clients: sign-up, login, messages whose author is set by
// the server, only the author patches or removes (others get 404, as in the reference),
// and `messages created` reaching authenticated sockets only.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'

import { BadRequest, NotAuthenticated, NotFound } from '@feathersjs/errors'

import { PASSWORD, makeClient, nextEvent, sleep, startChat } from './helpers.js'

const server = await startChat()
after(() => server.stop())

/** Signs `email` up over REST, then returns a client of `transport` logged in as it. */
async function signUpAndLogin (email, transport) {
  const anon = makeClient(server.url, 'rest', { auth: false })
  const user = await anon.app.service('users').create({ email, password: PASSWORD })
  assert.equal(user.email, email)
  assert.equal(user.password, undefined)
  const c = makeClient(server.url, transport)
  const result = await c.app.authenticate({ strategy: 'local', email, password: PASSWORD })
  assert.equal(result.user.id, user.id)
  assert.equal(typeof result.accessToken, 'string')
  return { ...c, user }
}

describe('chat example', () => {
  let alice
  let bob
  before(async () => {
    alice = await signUpAndLogin('alice@chat.test', 'rest')
    bob = await signUpAndLogin('bob@chat.test', 'websocket')
  })
  after(() => {
    alice?.close()
    bob?.close()
  })

  it('refuses callers without a token (401)', async () => {
    const anon = makeClient(server.url, 'rest', { auth: false })
    await assert.rejects(anon.app.service('messages').find(), (e) => e instanceof NotAuthenticated && e.code === 401)
  })

  it('sets user_id and created_at from the caller, and refuses other fields', async () => {
    const before = Date.now()
    const m = await alice.app.service('messages').create({ text: 'hello from alice' })
    assert.deepEqual(Object.keys(m), ['id', 'text', 'user_id', 'created_at'])
    assert.equal(m.user_id, alice.user.id)
    assert.equal(m.text, 'hello from alice')
    assert.equal(typeof m.created_at, 'number')
    assert.ok(m.created_at >= before - 1000 && m.created_at <= Date.now() + 1000)
    const spoof = alice.app.service('messages').create({ text: 'as bob', user_id: bob.user.id })
    await assert.rejects(spoof, (e) => e instanceof BadRequest)
  })

  it('validates text: required, not empty, at most 10000 characters', async () => {
    const messages = alice.app.service('messages')
    for (const data of [{}, { text: '' }, { text: '   ' }, { text: 'x'.repeat(10001) }, { text: null }]) {
      await assert.rejects(messages.create(data), (e) => e instanceof BadRequest, JSON.stringify(data).slice(0, 40))
    }
    const long = await messages.create({ text: 'x'.repeat(10000) })
    assert.equal(long.text.length, 10000)
  })

  it('lets any authenticated user read; only the author patches and removes (others: 404)', async () => {
    const mine = await alice.app.service('messages').create({ text: 'only alice may change this' })
    const seen = await bob.app.service('messages').get(mine.id)
    assert.equal(seen.user_id, alice.user.id)
    const page = await bob.app.service('messages').find({ query: { user_id: alice.user.id, $limit: 50 } })
    assert.ok(page.data.some((m) => m.id === mine.id))
    assert.equal(page.limit, 50)

    await assert.rejects(bob.app.service('messages').patch(mine.id, { text: 'bob was here' }), (e) => e instanceof NotFound)
    await assert.rejects(bob.app.service('messages').remove(mine.id), (e) => e instanceof NotFound)
    assert.equal((await alice.app.service('messages').get(mine.id)).text, 'only alice may change this')

    const patched = await alice.app.service('messages').patch(mine.id, { text: 'edited by alice' })
    assert.equal(patched.text, 'edited by alice')
    assert.equal(patched.user_id, alice.user.id)
    await assert.rejects(alice.app.service('messages').patch(mine.id, { user_id: bob.user.id }), (e) => e instanceof BadRequest)
    const removed = await alice.app.service('messages').remove(mine.id)
    assert.equal(removed.id, mine.id)
    await assert.rejects(alice.app.service('messages').get(mine.id), (e) => e instanceof NotFound)
  })

  it("sends 'messages created' to authenticated sockets only", async () => {
    const anon = makeClient(server.url, 'websocket', { auth: false })
    try {
      await new Promise((resolve) => anon.socket.connected ? resolve() : anon.socket.once('connect', resolve))
      let anonGot = null
      const text = `realtime ${Date.now()}`
      anon.app.service('messages').on('created', (m) => { if (m.text === text) anonGot = m })
      const event = nextEvent(bob.app.service('messages'), 'created')
      const created = await alice.app.service('messages').create({ text })
      const got = await event
      assert.equal(got.id, created.id)
      assert.equal(got.user_id, alice.user.id)
      await sleep(300)
      assert.equal(anonGot, null)
    } finally {
      anon.close()
    }
  })
})
