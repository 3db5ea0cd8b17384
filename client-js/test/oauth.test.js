// OAuth / OpenID Connect login against a real OpenID provider (oidc-provider) and a small
// plain-OAuth2 provider, all on 127.0.0.1. The browser flow is walked with fetch, manual
// redirects, a cookie jar and the provider's own login and consent forms; the result is
// picked up by @feathersjs/authentication-client exactly as in a browser.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { readFileSync, existsSync } from 'node:fs'
import path from 'node:path'

import { BadRequest, FeathersError, NotAuthenticated } from '@feathersjs/errors'

import { ADMIN_PASSWORD, PASSWORD, login, makeClient, nextEvent, startRoost } from './helpers.js'
import { CookieJar, browse, decodeJwt, startOidc, startPlain } from './oauth-support.js'

const APP = 'http://app.roost.test:5173'
const OIDC_SECRET = 'oidc-client-secret-Kq3vT9xZ'
const PLAIN_SECRET = 'plain-client-secret-Wm7pR2yL'
const NO_FLOW = 'No valid oAuth response. You must initiate the oAuth flow from the authorize endpoint.'
const JWT_FRAGMENT = /^#access_token=[\w-]+\.[\w-]+\.[\w-]+$/

const server = await startRoost({
  ROOST_OAUTH__ORIGINS: APP,
  ROOST_NOTIFY__TRANSPORT: 'log',
  // Debug level: the log-leak test below must see everything the server can log.
  ROOST_LOG: 'debug'
})
const accounts = {
  alice: { email: 'alice@idp.test', email_verified: true, given_name: 'Alice', family_name: 'Liddell' },
  bob: { email: 'bob@idp.test', email_verified: true },
  mallory: { email: 'victim@roost.test', email_verified: false },
  impostor: { email: 'victim@roost.test', email_verified: true },
  dave: { email: 'dave@idp.test', email_verified: true },
  tampered: { email: 'tampered@idp.test', email_verified: true },
  replay: { email: 'replay@idp.test', email_verified: true }
}
const callbacks = ['oidc', 'closed'].map((slug) => `${server.url}/oauth/${slug}/callback`)
const oidc = await startOidc({
  clients: [{ client_id: 'roost-oidc', client_secret: OIDC_SECRET, redirect_uris: callbacks }],
  accounts
})
const plain = await startPlain({
  clientId: 'roost-plain',
  clientSecret: PLAIN_SECRET,
  users: { octocat: { id: 4242, login: 'octocat', email: 'octo@plain.test' } }
})
after(async () => {
  await Promise.all([oidc.close(), plain.close()])
  await server.stop()
})

let admin

async function rejectsWith (promise, Class, check = () => {}) {
  const expected = new Class()
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof FeathersError, `not a FeathersError: ${err && err.stack}`)
    assert.equal(err.name, expected.name, `${err.name}: ${err.message}`)
    assert.equal(err.code, expected.code)
    check(err)
    return true
  })
}

/** Walks the browser flow of provider `slug` as `login`; returns the final app URL. */
async function oauthLogin (slug, loginName, query = '', jar = new CookieJar()) {
  const { location, raw, response, visited } = await browse(`${server.url}/oauth/${slug}${query}`, { jar, login: loginName, stopAt: APP })
  assert.ok(location, `no redirect to the app: ${response && response.status} after ${visited.join(' -> ')}`)
  const url = new URL(location)
  url.raw = raw // exactly as sent (URL adds a `/` to a bare origin)
  return url
}

/**
 * The link flow as a browser app runs it: `fetch` POST /oauth/:slug/link with the access
 * token in the Authorization header (the jar keeps the flow cookie it sets), then the
 * window navigates to the returned location. Returns the final app URL.
 */
async function linkAs (accessToken, slug, loginName, query = '', jar = new CookieJar()) {
  const start = `${server.url}/oauth/${slug}/link${query}`
  const res = await fetch(start, { method: 'POST', headers: { authorization: `Bearer ${accessToken}` } })
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('cache-control'), 'no-store')
  assert.match(res.headers.get('set-cookie'), new RegExp(`^roost_oauth_[0-9a-f]{16}=[\\w-]+; Path=/oauth/${slug}/callback; Max-Age=\\d+; HttpOnly; SameSite=Lax`))
  jar.store(start, res)
  const { location } = await res.json()
  assert.ok(location.startsWith(oidc.issuer) || location.startsWith(plain.url), location)
  const { location: final, raw, response, visited } = await browse(location, { jar, login: loginName, stopAt: APP })
  assert.ok(final, `no redirect to the app: ${response && response.status} after ${visited.join(' -> ')}`)
  const url = new URL(final)
  url.raw = raw
  return url
}

async function waitFor (check, ms = 5000) {
  const end = Date.now() + ms
  while (!check()) {
    assert.ok(Date.now() < end, 'timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function tokenOf (url) {
  assert.match(url.hash, JWT_FRAGMENT, `expected #access_token=, got ${url.href}`)
  return url.hash.slice('#access_token='.length)
}

function errorOf (url) {
  assert.match(url.hash, /^#error=/, `expected #error=, got ${url.hash.slice(0, 40)}`)
  return decodeURIComponent(url.hash.slice('#error='.length))
}

/** A REST client authenticated with `token`. */
async function clientWith (token) {
  const client = makeClient(server.url, 'rest')
  await client.app.authenticate({ strategy: 'jwt', accessToken: token })
  return client.app
}

async function customEvents (userId, name) {
  const page = await admin.service('events').find({ query: { user_id: userId, custom_event: name, $limit: 50 } })
  return page.total
}

before(async () => {
  admin = (await login(server.url, 'rest')).app
  const providers = admin.service('oauth_providers')
  await providers.create({ name: 'Test IdP', slug: 'oidc', key: 'roost-oidc', secret: OIDC_SECRET, scope: 'openid email profile', nonce: true, issuer: oidc.issuer, allow_signup: true })
  await providers.create({ name: 'Closed IdP', slug: 'closed', key: 'roost-oidc', secret: OIDC_SECRET, scope: 'openid email', issuer: oidc.issuer })
  await providers.create({
    name: 'Plain', slug: 'plain', key: 'roost-plain', secret: PLAIN_SECRET, scope: 'user:email', allow_signup: true,
    authorize_url: `${plain.url}/authorize`, token_url: `${plain.url}/token`, userinfo_url: `${plain.url}/user`, subject_field: 'id'
  })
})

describe('oauth: starting a flow', () => {
  it('answers 303 to the provider with state, PKCE S256, nonce and a browser-binding cookie', async () => {
    const res = await fetch(`${server.url}/oauth/oidc?redirect=/dashboard`, { redirect: 'manual' })
    assert.equal(res.status, 303)
    const to = new URL(res.headers.get('location'))
    assert.equal(to.origin, oidc.issuer)
    const q = to.searchParams
    assert.equal(q.get('response_type'), 'code')
    assert.equal(q.get('client_id'), 'roost-oidc')
    assert.equal(q.get('redirect_uri'), `${server.url}/oauth/oidc/callback`)
    assert.equal(q.get('scope'), 'openid email profile')
    assert.equal(q.get('code_challenge_method'), 'S256')
    assert.match(q.get('code_challenge'), /^[\w-]{43}$/)
    assert.ok(q.get('state').length >= 43)
    assert.ok(q.get('nonce').length >= 32)
    const cookie = res.headers.get('set-cookie')
    assert.match(cookie, /^roost_oauth_[0-9a-f]{16}=[\w-]+; Path=\/oauth\/oidc\/callback; Max-Age=\d+; HttpOnly; SameSite=Lax/)
  })

  it('refuses open redirects and unknown providers', async () => {
    for (const redirect of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'http://app.roost.test:5174/', 'javascript:alert(1)']) {
      const res = await fetch(`${server.url}/oauth/oidc?redirect=${encodeURIComponent(redirect)}`, { redirect: 'manual' })
      assert.equal(res.status, 400, redirect)
      const body = await res.json()
      assert.equal(body.name, 'BadRequest')
      assert.equal(body.message, 'Invalid redirect path.')
    }
    const ok = await fetch(`${server.url}/oauth/oidc?redirect=${encodeURIComponent(`${APP}/welcome`)}`, { redirect: 'manual' })
    assert.equal(ok.status, 303)
    const missing = await fetch(`${server.url}/oauth/nope`, { redirect: 'manual' })
    assert.equal(missing.status, 404)
    assert.equal((await missing.json()).name, 'NotFound')
  })

  it('refuses feathers_token in the start URL (link with POST /oauth/:slug/link)', async () => {
    const res = await fetch(`${server.url}/oauth/oidc?feathers_token=not.a.jwt`, { redirect: 'manual' })
    assert.equal(res.status, 400)
    assert.equal(res.headers.get('set-cookie'), null)
    const body = await res.json()
    assert.equal(body.name, 'BadRequest')
    assert.match(body.message, /POST \/oauth\/<slug>\/link/)
  })

  it('starts a link only with an access token in the Authorization header', async () => {
    await admin.service('users').create({ email: 'erin@roost.test', password: PASSWORD })
    const erin = makeClient(server.url, 'rest')
    const { accessToken } = await erin.app.authenticate({ strategy: 'local', email: 'erin@roost.test', password: PASSWORD })
    const url = `${server.url}/oauth/oidc/link`
    const refused = [
      fetch(url, { method: 'POST' }),
      fetch(`${url}?feathers_token=${accessToken}&access_token=${accessToken}`, { method: 'POST' }),
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accessToken, feathers_token: accessToken }) }),
      fetch(url, { method: 'POST', headers: { authorization: 'Bearer not.a.jwt' } })
    ]
    for (const res of await Promise.all(refused)) {
      assert.equal(res.status, 401)
      assert.equal(res.headers.get('set-cookie'), null)
      assert.equal((await res.json()).name, 'NotAuthenticated')
    }
    // A revoked session cannot link.
    await erin.app.logout()
    const revoked = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${accessToken}` } })
    assert.equal(revoked.status, 401)
  })
})

describe('oauth: OpenID Connect browser flow', () => {
  let alice

  it('signs up a new user and redirects with #access_token that authentication-client picks up', async () => {
    const url = await oauthLogin('oidc', 'alice', '?redirect=/dashboard')
    assert.equal(`${url.origin}${url.pathname}`, `${APP}/dashboard`)
    const token = tokenOf(url)
    assert.equal(url.raw, `${APP}/dashboard#access_token=${token}`)

    // What a browser app does on load: authentication-client reads location.hash.
    const client = makeClient(server.url, 'rest')
    const location = { hash: url.hash }
    globalThis.window = { location }
    let result
    try {
      result = await client.app.reAuthenticate()
    } finally {
      delete globalThis.window
    }
    assert.equal(location.hash, '#', 'the token is removed from the hash')
    assert.equal(result.authentication.strategy, 'jwt')
    assert.equal(result.accessToken, token)
    alice = result.user
    assert.equal(alice.email, 'alice@idp.test')
    assert.equal(alice.first_name, 'Alice')
    assert.ok(alice.email_verified_at, 'the provider verified the email')

    const links = await client.app.service('user_oauth_providers').find({ query: {} })
    assert.deepEqual(links.data.map((l) => [l.slug, l.sub]), [['oidc', 'alice']])
    const sessions = await client.app.service('auth_sessions').find({ query: {} })
    assert.deepEqual(sessions.data.map((s) => s.auth_provider), ['oidc'])
    assert.equal(decodeJwt(token).payload.sub, String(alice.id))
    assert.equal(await customEvents(alice.id, 'oauth_login'), 1)
    assert.equal(await customEvents(alice.id, 'oauth_linked'), 1)
    assert.equal(await customEvents(alice.id, 'login'), 1)
  })

  it('logs a returning user in to the same account', async () => {
    const url = await oauthLogin('oidc', 'alice')
    const token = tokenOf(url)
    assert.equal(url.raw, `${APP}#access_token=${token}`, 'Feathers: <origin>#access_token=<jwt>')
    assert.equal(decodeJwt(token).payload.sub, String(alice.id))
    const links = await admin.service('user_oauth_providers').find({ query: { user_id: alice.id } })
    assert.equal(links.total, 1)
    assert.equal(await customEvents(alice.id, 'oauth_login'), 2)
  })

  it('links the identity to the logged-in user who POSTs /oauth/:slug/link, and tells them', async () => {
    await admin.service('users').create({ email: 'carol@roost.test', password: PASSWORD })
    const carol = makeClient(server.url, 'rest')
    const auth = await carol.app.authenticate({ strategy: 'local', email: 'carol@roost.test', password: PASSWORD })
    const url = await linkAs(auth.accessToken, 'oidc', 'bob', '?redirect=/settings')
    assert.equal(`${url.origin}${url.pathname}`, `${APP}/settings`)
    const token = tokenOf(url)
    assert.equal(decodeJwt(token).payload.sub, String(auth.user.id))
    const links = await carol.app.service('user_oauth_providers').find({ query: {} })
    assert.deepEqual(links.data.map((l) => [l.slug, l.sub]), [['oidc', 'bob']])
    assert.equal(await customEvents(auth.user.id, 'oauth_linked'), 1)
    // The account is told (log transport here), with no token in the notice.
    await waitFor(() => server.logs.includes('A sign-in method (Test IdP) was linked to your account carol@roost.test'))
    assert.ok(!server.logs.includes(auth.accessToken) && !server.logs.includes(token))
    // Later logins with that identity reach carol.
    const again = await oauthLogin('oidc', 'bob')
    assert.equal(decodeJwt(tokenOf(again)).payload.sub, String(auth.user.id))
  })

  it('never links through GET /oauth/:slug?feathers_token= (a page sending the victim there)', async () => {
    await admin.service('users').create({ email: 'trudy@roost.test', password: PASSWORD })
    const trudy = makeClient(server.url, 'rest')
    const attacker = await trudy.app.authenticate({ strategy: 'local', email: 'trudy@roost.test', password: PASSWORD })
    // The victim's browser follows the attacker's link: refused before the provider.
    const jar = new CookieJar()
    const { response, visited } = await browse(`${server.url}/oauth/oidc?feathers_token=${attacker.accessToken}`, { jar, login: 'dave', stopAt: APP })
    assert.equal(response.status, 400)
    assert.deepEqual(visited, [`GET ${server.url}/oauth/oidc`])
    assert.deepEqual(jar.names(`${server.url}/oauth/oidc/callback`), [])
    const links = await trudy.app.service('user_oauth_providers').find({ query: {} })
    assert.equal(links.total, 0)
    assert.equal(await customEvents(attacker.user.id, 'oauth_linked'), 0)
  })

  it('refuses a link callback in a browser that did not POST the link', async () => {
    await admin.service('users').create({ email: 'frank@roost.test', password: PASSWORD })
    const frank = makeClient(server.url, 'rest')
    const auth = await frank.app.authenticate({ strategy: 'local', email: 'frank@roost.test', password: PASSWORD })
    const res = await fetch(`${server.url}/oauth/oidc/link`, { method: 'POST', headers: { authorization: `Bearer ${auth.accessToken}` } })
    assert.equal(res.status, 200)
    const { location } = await res.json()
    // Another browser (a fresh jar, without the flow cookie) goes through the provider.
    const callback = `${server.url}/oauth/oidc/callback`
    const other = await browse(location, { jar: new CookieJar(), login: 'replay', stopAt: callback })
    const done = await fetch(other.location, { redirect: 'manual' })
    assert.equal(done.status, 303)
    assert.match(errorOf(new URL(done.headers.get('location'))), /another browser/)
    const links = await frank.app.service('user_oauth_providers').find({ query: {} })
    assert.equal(links.total, 0)
  })

  it('refuses to link by email unless both the provider and Roost verified it', async () => {
    const victim = await admin.service('users').create({ email: 'victim@roost.test', password: PASSWORD })
    // The provider does not vouch for the address.
    const a = errorOf(await oauthLogin('oidc', 'mallory'))
    assert.match(a, /already exists/)
    // The provider vouches, but Roost never verified the local address.
    const b = errorOf(await oauthLogin('oidc', 'impostor'))
    assert.match(b, /already exists/)
    const links = await admin.service('user_oauth_providers').find({ query: { user_id: victim.id } })
    assert.equal(links.total, 0)

    // Once Roost verified it, a provider-verified identity with that address links.
    const anon = makeClient(server.url, 'rest', { auth: false })
    await anon.app.service('verify').create({ email: 'victim@roost.test' })
    let token = null
    for (let i = 0; i < 50 && !token; i++) {
      const m = [...server.logs.matchAll(/To verify victim@roost\.test,\s+use this token:\s+(\S+)/g)].pop()
      token = m && m[1]
      if (!token) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.ok(token, 'verification token in the log transport')
    await anon.app.service('verify').patch('victim@roost.test', { token })
    const c = await oauthLogin('oidc', 'impostor')
    assert.equal(decodeJwt(tokenOf(c)).payload.sub, String(victim.id))
  })

  it('does not sign up when sign-up is closed and the provider may not', async () => {
    const message = errorOf(await oauthLogin('closed', 'dave'))
    assert.match(message, /Sign-up is closed/)
    const users = await admin.service('users').find({ query: { email: 'dave@idp.test' } })
    assert.equal(users.total, 0)
  })

  it('refuses a wrong or missing state with 401 JSON', async () => {
    for (const query of ['?code=abc&state=forged-state', '?code=abc', '']) {
      const res = await fetch(`${server.url}/oauth/oidc/callback${query}`, { redirect: 'manual' })
      assert.equal(res.status, 401)
      const body = await res.json()
      assert.equal(body.name, 'NotAuthenticated')
      assert.equal(body.message, NO_FLOW)
    }
  })

  it('takes a state once: a replayed callback is refused', async () => {
    const jar = new CookieJar()
    const callback = `${server.url}/oauth/oidc/callback`
    const { location } = await browse(`${server.url}/oauth/oidc`, { jar, login: 'replay', stopAt: callback })
    assert.ok(location.startsWith(callback))
    const first = await fetch(location, { redirect: 'manual', headers: { cookie: jar.header(location) } })
    assert.equal(first.status, 303)
    tokenOf(new URL(first.headers.get('location')))
    const second = await fetch(location, { redirect: 'manual', headers: { cookie: jar.header(location) } })
    assert.equal(second.status, 401)
    assert.equal((await second.json()).message, NO_FLOW)
  })

  it('refuses a callback in a browser that did not start the flow', async () => {
    const jar = new CookieJar()
    const callback = `${server.url}/oauth/oidc/callback`
    const { location } = await browse(`${server.url}/oauth/oidc`, { jar, login: 'replay', stopAt: callback })
    const res = await fetch(location, { redirect: 'manual' }) // no cookies: another browser
    assert.equal(res.status, 303)
    assert.match(errorOf(new URL(res.headers.get('location'))), /another browser/)
  })

  for (const [mode, expected] of [['nonce', /nonce mismatch/], ['expired', /expired/], ['signature', /bad signature/]]) {
    it(`refuses an ID token with ${mode === 'nonce' ? 'a wrong nonce' : mode === 'expired' ? 'an expired exp' : 'a tampered signature'}`, async () => {
      oidc.tamper.mode = mode
      try {
        const message = errorOf(await oauthLogin('oidc', 'tampered'))
        assert.match(message, /^Invalid ID token/)
        assert.match(message, expected)
      } finally {
        oidc.tamper.mode = null
      }
      const users = await admin.service('users').find({ query: { email: 'tampered@idp.test' } })
      assert.equal(users.total, 0, 'no account was created')
    })
  }
})

describe('oauth: plain OAuth2 provider (userinfo only)', () => {
  it('signs up through userinfo with a numeric subject id', async () => {
    const url = await oauthLogin('plain', 'octocat', '?redirect=/home')
    const token = tokenOf(url)
    const app = await clientWith(token)
    const links = await app.service('user_oauth_providers').find({ query: {} })
    assert.deepEqual(links.data.map((l) => [l.slug, l.sub]), [['plain', '4242']])
    const me = await app.service('users').get(decodeJwt(token).payload.sub)
    assert.equal(me.email, 'octo@plain.test')
    assert.equal(me.email_verified_at, null, 'the provider did not vouch for the email')
  })

  it('applies a changed provider row at once (a wrong secret fails the next login)', async () => {
    const [row] = (await admin.service('oauth_providers').find({ query: { slug: 'plain' } })).data
    await admin.service('oauth_providers').patch(row.id, { secret: 'wrong-secret-value' })
    try {
      const message = errorOf(await oauthLogin('plain', 'octocat'))
      assert.equal(message, 'The identity provider refused the token exchange')
    } finally {
      await admin.service('oauth_providers').patch(row.id, { secret: PLAIN_SECRET })
    }
    tokenOf(await oauthLogin('plain', 'octocat'))
  })
})

describe('oauth: linked identities', () => {
  it('refuses to unlink the last sign-in method of an account without a password', async () => {
    const token = tokenOf(await oauthLogin('oidc', 'alice'))
    const app = await clientWith(token)
    const [link] = (await app.service('user_oauth_providers').find({ query: {} })).data
    await rejectsWith(app.service('user_oauth_providers').remove(link.id), BadRequest, (e) => {
      assert.match(e.message, /last way to sign in/)
    })
  })

  it('unlinks when another method remains, with oauth_unlinked', async () => {
    const carol = makeClient(server.url, 'rest')
    const auth = await carol.app.authenticate({ strategy: 'local', email: 'carol@roost.test', password: PASSWORD })
    const [link] = (await carol.app.service('user_oauth_providers').find({ query: {} })).data
    const removed = await carol.app.service('user_oauth_providers').remove(link.id)
    assert.equal(removed.sub, 'bob')
    assert.equal(await customEvents(auth.user.id, 'oauth_unlinked'), 1)
  })

  it('never shows one user the links of another', async () => {
    const carol = makeClient(server.url, 'rest')
    await carol.app.authenticate({ strategy: 'local', email: 'carol@roost.test', password: PASSWORD })
    const all = await admin.service('user_oauth_providers').find({ query: { slug: 'oidc', sub: 'alice' } })
    await assert.rejects(carol.app.service('user_oauth_providers').remove(all.data[0].id), (e) => e.code === 404)
  })
})

describe('oauth: client secrets are write-only', () => {
  it('never returns the secret over REST or in realtime events, and stores it encrypted', async () => {
    const socket = await login(server.url, 'socketio')
    try {
      const events = socket.app.service('oauth_providers')
      const created = nextEvent(events, 'created')
      const row = await admin.service('oauth_providers').create({ slug: 'extra', key: 'k', secret: 'Very-Secret-Value-42', issuer: oidc.issuer })
      const event = await created
      const patched = nextEvent(events, 'patched')
      const changed = await admin.service('oauth_providers').patch(row.id, { secret: 'Another-Secret-Value-43' })
      const patchEvent = await patched
      const got = await admin.service('oauth_providers').get(row.id)
      const found = await admin.service('oauth_providers').find({ query: {} })
      for (const value of [row, event, changed, patchEvent, got, found]) {
        const text = JSON.stringify(value)
        assert.ok(!text.includes('secret') && !text.includes('Secret-Value'), `secret leaked: ${text}`)
      }
      await rejectsWith(admin.service('oauth_providers').find({ query: { $select: ['secret'] } }), BadRequest)
      await rejectsWith(admin.service('oauth_providers').find({ query: { secret: 'Very-Secret-Value-42' } }), BadRequest)
      await admin.service('oauth_providers').remove(row.id)
    } finally {
      socket.close()
    }
    for (const file of ['roost.db', 'roost.db-wal']) {
      const full = path.join(server.dir, file)
      if (!existsSync(full)) continue
      const bytes = readFileSync(full)
      for (const secret of [OIDC_SECRET, PLAIN_SECRET, 'Another-Secret-Value-43']) {
        assert.ok(!bytes.includes(secret), `${secret} stored in clear in ${file}`)
      }
    }
  })

  it('refuses non-https provider URLs', async () => {
    await rejectsWith(admin.service('oauth_providers').create({ slug: 'insecure', key: 'k', issuer: 'http://idp.example.com' }), BadRequest)
  })
})

describe('oauth: token strategy (native apps)', () => {
  const now = () => Math.floor(Date.now() / 1000)
  const claims = (extra = {}) => ({ iss: oidc.issuer, aud: 'roost-oidc', sub: 'alice', iat: now(), exp: now() + 300, nonce: 'app-nonce-1', ...extra })

  it('logs in with a valid id_token', async () => {
    const client = makeClient(server.url, 'rest')
    const result = await client.app.authenticate({ strategy: 'oidc', id_token: oidc.mint(claims()), nonce: 'app-nonce-1' })
    assert.equal(result.authentication.strategy, 'oidc')
    assert.equal(result.user.email, 'alice@idp.test')
    const sessions = await client.app.service('auth_sessions').find({ query: { $sort: { id: -1 }, $limit: 1 } })
    assert.equal(sessions.data[0].auth_provider, 'oidc')
  })

  it('logs in over Socket.IO too, binding the socket', async () => {
    const client = makeClient(server.url, 'socketio')
    try {
      const result = await client.app.authenticate({ strategy: 'oidc', id_token: oidc.mint(claims()), nonce: 'app-nonce-1' })
      assert.equal(result.user.email, 'alice@idp.test')
      const me = await client.app.service('users').get(result.user.id)
      assert.equal(me.id, result.user.id)
    } finally {
      client.close()
    }
  })

  it('links on a socket bound by the account holder\'s login, and tells them; never over REST', async () => {
    await admin.service('users').create({ email: 'grace@roost.test', password: PASSWORD })
    const client = makeClient(server.url, 'socketio')
    try {
      const grace = await client.app.authenticate({ strategy: 'local', email: 'grace@roost.test', password: PASSWORD })
      const result = await client.app.authenticate({ strategy: 'oidc', id_token: oidc.mint(claims({ sub: 'grace-native', email: 'grace.native@idp.test', email_verified: true })), nonce: 'app-nonce-1' })
      assert.equal(result.user.id, grace.user.id)
      assert.equal(await customEvents(grace.user.id, 'oauth_linked'), 1)
      await waitFor(() => server.logs.includes('A sign-in method (Test IdP) was linked to your account grace@roost.test'))
      // REST: authentication.create ignores the Authorization header, so nothing links.
      const res = await fetch(`${server.url}/authentication`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${grace.accessToken}` },
        body: JSON.stringify({ strategy: 'oidc', id_token: oidc.mint(claims({ sub: 'heidi-native', email: 'heidi.native@idp.test', email_verified: true })), nonce: 'app-nonce-1' })
      })
      assert.equal(res.status, 201)
      const other = await res.json()
      assert.notEqual(other.user.id, grace.user.id)
      assert.equal(other.user.email, 'heidi.native@idp.test')
      assert.equal(await customEvents(grace.user.id, 'oauth_linked'), 1)
    } finally {
      client.close()
    }
  })

  it('logs in with a plain OAuth2 access_token (read through userinfo)', async () => {
    // What a native app does: run the provider flow itself (PKCE), then hand Roost the token.
    const verifier = 'native-app-verifier-0123456789-abcdefghijklmnop'
    const challenge = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))).toString('base64url')
    const redirectUri = 'http://127.0.0.1/native-callback'
    const authorize = new URL(`${plain.url}/authorize`)
    for (const [k, v] of Object.entries({ client_id: 'roost-plain', code_challenge: challenge, code_challenge_method: 'S256', state: 's', redirect_uri: redirectUri })) {
      authorize.searchParams.set(k, v)
    }
    const res = await fetch(authorize, { redirect: 'manual' })
    const code = new URL(res.headers.get('location')).searchParams.get('code')
    const tokenRes = await fetch(`${plain.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, client_id: 'roost-plain', client_secret: PLAIN_SECRET })
    })
    const { access_token: accessToken } = await tokenRes.json()
    const client = makeClient(server.url, 'rest')
    const result = await client.app.authenticate({ strategy: 'plain', access_token: accessToken })
    assert.equal(result.user.email, 'octo@plain.test')
    assert.equal(result.authentication.strategy, 'plain')
    await rejectsWith(makeClient(server.url, 'rest').app.authenticate({ strategy: 'plain', access_token: 'forged' }), NotAuthenticated, (e) => {
      assert.equal(e.message, 'The identity provider refused the userinfo')
    })
  })

  it('refuses bad id_tokens and a bare access_token for an OpenID provider', async () => {
    const attempts = [
      { strategy: 'oidc', id_token: oidc.mint(claims({ exp: now() - 3600, iat: now() - 7200 })), nonce: 'app-nonce-1' },
      { strategy: 'oidc', id_token: oidc.mint(claims({ aud: 'another-client' })), nonce: 'app-nonce-1' },
      { strategy: 'oidc', id_token: oidc.mint(claims({ iss: 'http://127.0.0.1:1' })), nonce: 'app-nonce-1' },
      { strategy: 'oidc', id_token: oidc.mint(claims()), nonce: 'other-nonce' },
      { strategy: 'oidc', id_token: oidc.mint(claims()) },
      { strategy: 'oidc', id_token: oidc.mint(claims()).slice(0, -4) + 'AAAA', nonce: 'app-nonce-1' },
      { strategy: 'oidc', id_token: 'garbage', nonce: 'app-nonce-1' },
      { strategy: 'oidc', access_token: 'some-access-token' },
      { strategy: 'oidc' },
      { strategy: 'no-such-provider', id_token: 'x' }
    ]
    for (const data of attempts) {
      const client = makeClient(server.url, 'rest')
      await rejectsWith(client.app.authenticate(data), NotAuthenticated)
    }
  })
})

describe('oauth: nothing secret in the logs', () => {
  it('logs neither client secrets nor provider codes', () => {
    // The capture works and runs at debug level: otherwise every check below passes.
    assert.match(server.logs, /listening on http:\/\/127\.0\.0\.1:\d+/, 'no start-up line captured')
    assert.match(server.logs, /\bDEBUG\b/, 'the server does not log at debug level')
    for (const secret of [OIDC_SECRET, PLAIN_SECRET, ADMIN_PASSWORD]) {
      assert.ok(!server.logs.includes(secret), `${secret} in the server log`)
    }
    assert.ok(!/code=|state=|access_token=/.test(server.logs), 'a code, state or token in the server log')
  })
})
