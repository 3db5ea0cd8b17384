// OAuth test support, loopback only:
// - a real OpenID provider (the certified `oidc-provider` package) with a test-owned RSA
//   key, so tests can also mint ID tokens and tamper with the ones it issues;
// - a small plain-OAuth2 provider (authorization code + PKCE S256, userinfo only, numeric
//   ids like GitHub);
// - a "browser": fetch with manual redirects, a cookie jar and form posts, which walks
//   the provider's devInteractions login and consent forms.

import { createServer } from 'node:http'
import crypto from 'node:crypto'

import Provider from 'oidc-provider'

import { freePort } from './helpers.js'

const b64url = (buf) => Buffer.from(buf).toString('base64url')

/** RS256-signs `claims` with `key` (a node KeyObject) under `kid`. */
export function signJwt (claims, key, kid) {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }))
  const payload = b64url(JSON.stringify(claims))
  const signature = crypto.sign('sha256', Buffer.from(`${header}.${payload}`), key)
  return `${header}.${payload}.${b64url(signature)}`
}

export function decodeJwt (token) {
  const [header, payload] = token.split('.').slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()))
  return { header, payload }
}

/**
 * Starts oidc-provider on 127.0.0.1. `clients`: [{ client_id, client_secret, redirect_uris }].
 * `accounts`: login -> claims. `tamper.mode` ('expired' | 'nonce' | 'signature' | null)
 * rewrites the next ID tokens the token endpoint issues.
 */
export async function startOidc ({ clients, accounts }) {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
  const kid = 'test-key-1'
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }
  const tamper = { mode: null }
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...c
    })),
    jwks: { keys: [jwk] },
    cookies: { keys: ['oidc-test-cookie-key-0123456789'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['given_name', 'family_name', 'name']
    },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    findAccount: async (ctx, id) => ({
      accountId: id,
      async claims () { return { sub: id, ...(accounts[id] || {}) } }
    }),
    ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 }
  })
  // Koa middleware after the token endpoint: the test's man in the middle.
  provider.use(async (ctx, next) => {
    await next()
    if (ctx.method === 'POST' && ctx.path === '/token' && tamper.mode && ctx.body && ctx.body.id_token) {
      ctx.body = { ...ctx.body, id_token: tamperWith(ctx.body.id_token, tamper.mode, privateKey, kid) }
    }
  })
  const server = createServer(provider.callback())
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    issuer,
    tamper,
    /** An ID token signed with the provider's key (for the token strategy). */
    mint (claims) { return signJwt(claims, privateKey, kid) },
    close () { return new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }) }
  }
}

function tamperWith (token, mode, key, kid) {
  const { payload } = decodeJwt(token)
  const now = Math.floor(Date.now() / 1000)
  if (mode === 'expired') {
    return signJwt({ ...payload, iat: now - 7200, exp: now - 3600 }, key, kid)
  }
  if (mode === 'nonce') {
    return signJwt({ ...payload, nonce: 'not-the-nonce-roost-sent' }, key, kid)
  }
  if (mode === 'signature') {
    // Same header and signature, other claims: the signature no longer matches.
    const [header, , signature] = token.split('.')
    return `${header}.${b64url(JSON.stringify({ ...payload, sub: 'someone-else' }))}.${signature}`
  }
  return token
}

/**
 * A plain OAuth2 provider (not OpenID Connect): `/authorize` approves at once (user
 * chosen by `user.current`), `/token` checks client credentials, the code, redirect_uri
 * and the PKCE verifier; `/user` answers `{id, login, email, email_verified}`.
 */
export async function startPlain ({ clientId, clientSecret, users }) {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const codes = new Map()
  const tokens = new Map()
  const user = { current: Object.keys(users)[0] }
  const server = createServer(async (req, res) => {
    const u = new URL(req.url, url)
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (u.pathname === '/authorize') {
      const q = u.searchParams
      if (q.get('client_id') !== clientId || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') || !q.get('state')) {
        return json(400, { error: 'invalid_request' })
      }
      const code = crypto.randomBytes(16).toString('hex')
      codes.set(code, { challenge: q.get('code_challenge'), redirectUri: q.get('redirect_uri'), login: user.current })
      const back = new URL(q.get('redirect_uri'))
      back.searchParams.set('code', code)
      back.searchParams.set('state', q.get('state'))
      res.writeHead(302, { location: back.href })
      return res.end()
    }
    if (u.pathname === '/token' && req.method === 'POST') {
      let body = ''
      for await (const chunk of req) body += chunk
      const form = new URLSearchParams(body)
      const grant = codes.get(form.get('code'))
      codes.delete(form.get('code'))
      const verifierOk = grant && b64url(crypto.createHash('sha256').update(form.get('code_verifier') || '').digest()) === grant.challenge
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
        return json(401, { error: 'invalid_client' })
      }
      if (!grant || !verifierOk || form.get('redirect_uri') !== grant.redirectUri) {
        return json(400, { error: 'invalid_grant' })
      }
      const token = crypto.randomBytes(16).toString('hex')
      tokens.set(token, grant.login)
      return json(200, { access_token: token, token_type: 'bearer', scope: 'user:email' })
    }
    if (u.pathname === '/user') {
      const token = (req.headers.authorization || '').replace(/^Bearer /, '')
      const login = tokens.get(token)
      return login ? json(200, users[login]) : json(401, { message: 'Bad credentials' })
    }
    json(404, { error: 'not_found' })
  })
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    url,
    user,
    close () { return new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }) }
  }
}

/** A cookie jar keyed by host name (as browsers do: ports share cookies). */
export class CookieJar {
  constructor () { this.hosts = new Map() }

  store (url, response) {
    const host = new URL(url).hostname
    const jar = this.hosts.get(host) || new Map()
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) ||
        attrs.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now())
      if (expired || value === '') jar.delete(name)
      else jar.set(name, value)
    }
    this.hosts.set(host, jar)
  }

  header (url) {
    const jar = this.hosts.get(new URL(url).hostname)
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : ''
  }

  names (url) {
    const jar = this.hosts.get(new URL(url).hostname)
    return jar ? [...jar.keys()] : []
  }
}

function formOf (html) {
  const action = html.match(/<form[^>]*action="([^"]+)"/)
  if (!action) return null
  const fields = {}
  for (const [tag] of html.matchAll(/<input[^>]*>/g)) {
    const name = tag.match(/name="([^"]+)"/)
    const value = tag.match(/value="([^"]*)"/)
    if (name) fields[name[1]] = value ? value[1] : ''
  }
  return { action: action[1].replace(/&amp;/g, '&'), fields }
}

/**
 * Follows redirects and posts the provider's forms (login as `login`), starting at
 * `url`. Stops at the first redirect whose target starts with `stopAt` (returned, not
 * followed) or at a non-redirect answer. Returns `{ location, raw, response, visited }`
 * (`raw`: the Location header exactly as sent).
 */
export async function browse (url, { jar, login, stopAt, maxSteps = 20 }) {
  let method = 'GET'
  let body
  const visited = []
  for (let step = 0; step < maxSteps; step++) {
    visited.push(`${method} ${url.split('?')[0]}`)
    const headers = { cookie: jar.header(url) }
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded'
    const response = await fetch(url, { method, body, headers, redirect: 'manual' })
    jar.store(url, response)
    if ([301, 302, 303, 307, 308].includes(response.status)) {
      const raw = response.headers.get('location')
      const location = new URL(raw, url).href
      if (stopAt && location.startsWith(stopAt)) return { location, raw, response, visited }
      url = location
      method = 'GET'
      body = undefined
      continue
    }
    const type = response.headers.get('content-type') || ''
    if (response.status === 200 && type.includes('html')) {
      const html = await response.text()
      const form = formOf(html)
      if (!form) return { response, html, visited }
      if ('login' in form.fields) form.fields.login = login
      if ('password' in form.fields) form.fields.password = 'any-password'
      url = new URL(form.action, url).href
      method = 'POST'
      body = new URLSearchParams(form.fields).toString()
      continue
    }
    return { response, visited }
  }
  throw new Error(`too many steps: ${visited.join(' -> ')}`)
}
