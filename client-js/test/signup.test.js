// Self sign-up as a Feathers app does it (create, then authenticate), with the official
// v5 clients on every transport; and a sign-up with an address that already has an
// account, which must answer the same way (issue 15: answers never tell whether an
// address is taken).

import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'

import { NotAuthenticated } from '@feathersjs/errors'

import { ADMIN_EMAIL, PASSWORD, TRANSPORTS, makeClient, startRoost } from './helpers.js'

const server = await startRoost({ ROOST_SIGNUP__OPEN: 'true' })
after(() => server.stop())

const shape = (record) => Object.keys(record).sort().map((k) => `${k}:${record[k] === null ? 'null' : typeof record[k]}`)

for (const transport of TRANSPORTS) {
  describe(`sign-up over ${transport}`, () => {
    it('creates an account, then signs in to it', async () => {
      const c = makeClient(server.url, transport)
      try {
        const email = `walkin-${transport}@roost.test`
        const user = await c.app.service('users').create({ email, password: PASSWORD, first_name: 'Walk' })
        assert.equal(user.email, email)
        assert.equal(typeof user.id, 'number')
        assert.equal(user.password, undefined)
        const result = await c.app.authenticate({ strategy: 'local', email, password: PASSWORD })
        assert.equal(result.user.id, user.id)
      } finally {
        c.close()
      }
    })

    it('answers a taken address exactly like a new one, and writes nothing', async () => {
      const c = makeClient(server.url, transport)
      try {
        const users = c.app.service('users')
        const fresh = await users.create({ email: `fresh-${transport}@roost.test`, password: PASSWORD, first_name: 'F' })
        const taken = await users.create({ email: ADMIN_EMAIL.toUpperCase(), password: 'Squatters-Own-Passphrase-9', first_name: 'F' })
        assert.deepEqual(shape(taken), shape(fresh))
        assert.equal(taken.email, ADMIN_EMAIL)
        assert.ok(taken.id > fresh.id)
        await assert.rejects(
          c.app.authenticate({ strategy: 'local', email: ADMIN_EMAIL, password: 'Squatters-Own-Passphrase-9' }),
          (err) => err instanceof NotAuthenticated && err.code === 401
        )
      } finally {
        c.close()
      }
    })
  })
}
