// Tokens another app verifies without Roost's secret: Roost signs with EdDSA (a key made
// here with node:crypto), the official Feathers clients log in, and `jose` verifies the
// access tokens against GET /.well-known/jwks.json, as the README's guide does. The hook
// the guide quotes (roost-jwks-hook.js) runs in a Feathers app of its own.

import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose'
import { feathers } from '@feathersjs/feathers'
import { NotAuthenticated } from '@feathersjs/errors'

import { ADMIN_EMAIL, ADMIN_PASSWORD, TRANSPORTS, makeClient, repo, startRoost } from './helpers.js'
import { roostAuthenticate } from './roost-jwks-hook.js'

const keyDir = mkdtempSync(path.join(os.tmpdir(), 'roost-jwks-'))
const keyFile = path.join(keyDir, 'roost-signing.pem')
// What `openssl genpkey -algorithm ed25519 -out roost-signing.pem` writes.
const { privateKey } = generateKeyPairSync('ed25519')
writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })

const server = await startRoost({
  ROOST_AUTHENTICATION__ALGORITHM: 'EdDSA',
  ROOST_AUTHENTICATION__SIGNING_KEY_FILE: keyFile
})
after(async () => {
  await server.stop()
  rmSync(keyDir, { recursive: true, force: true })
})

const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', server.url))
const verify = (token, options = {}) => jwtVerify(token, jwks, {
  algorithms: ['EdDSA'], audience: 'roost', issuer: 'roost', typ: 'access', ...options
})

/** `token` with another `sub` and the original signature. */
function tamper (token) {
  const [header, payload, signature] = token.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url'))
  claims.sub = String(Number(claims.sub) + 1000)
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.')
}

async function loginOver (transport) {
  const client = makeClient(server.url, transport)
  const result = await client.app.authenticate({ strategy: 'local', email: ADMIN_EMAIL, password: ADMIN_PASSWORD })
  return { client, result }
}

describe('the published keys', () => {
  it('are public Ed25519 JWKs, cacheable', async () => {
    const res = await fetch(new URL('/.well-known/jwks.json', server.url))
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('cache-control'), 'public, max-age=300')
    const { keys } = await res.json()
    assert.equal(keys.length, 1)
    assert.deepEqual(Object.keys(keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
    assert.equal(keys[0].kty, 'OKP')
    assert.equal(keys[0].crv, 'Ed25519')
    assert.equal(keys[0].alg, 'EdDSA')
    assert.equal(keys[0].use, 'sig')
    // The public half of the key Roost was given.
    const x = privateKey.export({ format: 'jwk' }).x
    assert.equal(keys[0].x, x)
  })
})

for (const transport of TRANSPORTS) {
  describe(`tokens from a ${transport} login`, () => {
    it('verify with jose against the JWKS; a tampered one does not', async () => {
      const { client, result } = await loginOver(transport)
      try {
        const token = result.accessToken
        const header = decodeProtectedHeader(token)
        assert.equal(header.alg, 'EdDSA')
        assert.equal(header.typ, 'access')
        assert.equal(typeof header.kid, 'string')
        const { payload, protectedHeader } = await verify(token)
        assert.equal(payload.sub, String(result.user.id))
        assert.equal(payload.jti, result.authentication.payload.jti)
        assert.equal(protectedHeader.kid, header.kid)
        await assert.rejects(verify(tamper(token)), errors.JWSSignatureVerificationFailed)
        await assert.rejects(verify(token, { audience: 'another-app' }), errors.JWTClaimValidationFailed)
        // Roost refuses the tampered token too, with Node jsonwebtoken's message.
        const other = makeClient(server.url, transport)
        try {
          await assert.rejects(
            other.app.authenticate({ strategy: 'jwt', accessToken: tamper(token) }),
            (err) => err instanceof NotAuthenticated && err.message === 'invalid signature'
          )
        } finally {
          other.close()
        }
        // And still serves the real one.
        const me = await client.app.service('users').get(result.user.id)
        assert.equal(me.email, ADMIN_EMAIL)
      } finally {
        client.close()
      }
    })
  })
}

describe('a Feathers app with the README hook', () => {
  const app = feathers()
  app.use('notes', {
    async find (params) {
      return [{ owner: params.roost.userId }]
    }
  })
  app.service('notes').hooks({ before: { all: [roostAuthenticate({ roostUrl: server.url })] } })

  it('accepts Roost tokens from the Authorization header and params.authentication', async () => {
    const { client, result } = await loginOver('rest')
    client.close()
    const owner = String(result.user.id)
    const headers = { authorization: `Bearer ${result.accessToken}` }
    assert.deepEqual(await app.service('notes').find({ provider: 'rest', headers }), [{ owner }])
    const authentication = { strategy: 'jwt', accessToken: result.accessToken }
    assert.deepEqual(await app.service('notes').find({ provider: 'socketio', authentication }), [{ owner }])
  })

  it('refuses tampered, foreign and missing tokens', async () => {
    const { client, result } = await loginOver('rest')
    client.close()
    const refuse = (params) => assert.rejects(
      app.service('notes').find({ provider: 'rest', ...params }),
      (err) => err instanceof NotAuthenticated && err.code === 401
    )
    await refuse({ headers: { authorization: `Bearer ${tamper(result.accessToken)}` } })
    // An HS256 token (here signed with the public key's bytes) is not an EdDSA token.
    const [, payload] = result.accessToken.split('.')
    const hsHeader = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'access' })).toString('base64url')
    await refuse({ headers: { authorization: `Bearer ${hsHeader}.${payload}.c2lnbmF0dXJl` } })
    await refuse({ headers: {} })
  })

  it('is the code the README quotes', () => {
    const hook = readFileSync(new URL('./roost-jwks-hook.js', import.meta.url), 'utf8')
    const readme = readFileSync(path.join(repo, 'README.md'), 'utf8')
    // The README indents it inside a list item.
    const flat = (text) => text.split('\n').map((line) => line.trim()).join('\n')
    const body = hook.slice(hook.indexOf('import '))
    assert.ok(flat(readme).includes(flat(body)), 'README.md must quote test/roost-jwks-hook.js from its first import')
  })
})
