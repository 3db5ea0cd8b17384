// A Feathers v5 hook that accepts Roost access tokens in another app, verified against
// Roost's published keys (no shared secret). Quoted verbatim in README.md and run by
// jwks.test.js.
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { NotAuthenticated } from '@feathersjs/errors'

export function roostAuthenticate ({ roostUrl, audience = 'roost', issuer = 'roost' }) {
  // Fetched on first use, cached, and fetched again for a `kid` it has not seen (rotation).
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', roostUrl))
  return async (context) => {
    const { params } = context
    if (!params.provider) return context // internal calls
    const header = params.headers?.authorization ?? ''
    const accessToken = params.authentication?.accessToken ?? header.replace(/^Bearer\s+/i, '')
    if (!accessToken) throw new NotAuthenticated('Not authenticated')
    try {
      const { payload } = await jwtVerify(accessToken, jwks, {
        algorithms: ['EdDSA'], // what Roost is configured with; never accept HS256 here
        audience,
        issuer,
        typ: 'access'
      })
      params.roost = { userId: payload.sub, sessionId: payload.jti }
    } catch (error) {
      throw new NotAuthenticated(error.message)
    }
    return context
  }
}
