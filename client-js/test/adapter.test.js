// The official @feathersjs/adapter-tests conformance suite, run through the official
// clients against the `people` example binary (empty `people` service: id, name, age,
// created; no pagination; multi off), over REST and over Socket.IO.
//
// adapter-tests is written for mocha; node:test's describe/it/before/after/beforeEach/
// afterEach are installed as the globals it expects (feathers-protocol §7).

import { describe, it, before, after, beforeEach, afterEach } from 'node:test'
import { createRequire } from 'node:module'

import * as errors from '@feathersjs/errors'

import { makeClient, startPeople } from './helpers.js'

Object.assign(globalThis, { describe, it, before, after, beforeEach, afterEach })

const require = createRequire(import.meta.url)
const { adapterTests } = require('@feathersjs/adapter-tests')

// All 78 selectable names minus the 22 that need server internals (they assign
// service.options, pass params.paginate / params.adapter, or only test internal
// methods); `.id` always runs: 57 tests per transport.
export const CLIENT_SAFE_TESTS = [
  '._get',
  '._find',
  '._create',
  '._update',
  '._patch',
  '._remove',
  '.get',
  '.get + $select',
  '.get + id + query',
  '.get + NotFound',
  '.get + NotFound (integer)',
  '.get + id + query id',
  '.find',
  '.remove',
  '.remove + $select',
  '.remove + id + query',
  '.remove + NotFound',
  '.remove + NotFound (integer)',
  '.remove + id + query id',
  '.update',
  '.update + $select',
  '.update + id + query',
  '.update + NotFound',
  '.update + NotFound (integer)',
  '.update + query + NotFound',
  '.update + id + query id',
  '.patch',
  '.patch + $select',
  '.patch + id + query',
  '.patch + NotFound',
  '.patch + NotFound (integer)',
  '.patch + query + NotFound',
  '.patch + id + query id',
  '.create',
  '.create ignores query',
  '.create + $select',
  '.find + equal',
  '.find + equal multiple',
  '.find + $sort',
  '.find + $sort + string',
  '.find + $limit',
  '.find + $limit 0',
  '.find + $skip',
  '.find + $select',
  '.find + $or',
  '.find + $in',
  '.find + $nin',
  '.find + $lt',
  '.find + $lte',
  '.find + $gt',
  '.find + $gte',
  '.find + $ne',
  '.find + $gt + $lt + $sort',
  '.find + $or nested + $sort',
  '.find + $and',
  '.find + $and + $or'
]

if (CLIENT_SAFE_TESTS.length !== 56) {
  throw new Error(`expected 56 selectable names (+ .id), got ${CLIENT_SAFE_TESTS.length}`)
}

const people = await startPeople()
after(() => people.stop())

for (const transport of ['rest', 'websocket']) {
  const client = makeClient(people.url, transport, { auth: false })
  // Client services have no `id`; `.id` always runs and compares it to 'id'.
  client.app.service('people').id = 'id'
  describe(`people over ${transport === 'rest' ? 'rest' : 'socketio'}`, () => {
    after(() => client.close())
    adapterTests(CLIENT_SAFE_TESTS)(client.app, errors, 'people')
  })
}
