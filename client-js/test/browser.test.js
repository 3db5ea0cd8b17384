// The chat example's browser app (examples/chat/web) in headless Chromium: two people in
// two separate browser contexts sign up, one sends, the other sees it arrive live; after
// logging out, nothing more arrives. The page uses the official @feathersjs/client and
// socket.io-client browser builds served by the example (no network beyond it).
//
// Chromium: `CHROMIUM_BIN`, else `chromium` / `chromium-browser` / `google-chrome` on the
// PATH (.ci/run installs Debian's `chromium`). A screenshot of the receiving page is kept
// at client-js/artifacts/chat-browser.png.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import puppeteer from 'puppeteer-core'

import { PASSWORD, sleep, startChat, startRoost } from './helpers.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const ARTIFACTS = path.join(here, '..', 'artifacts')

function findChromium () {
  if (process.env.CHROMIUM_BIN) return process.env.CHROMIUM_BIN
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim()
    } catch {}
  }
  throw new Error('no Chromium found: install it (apt-get install chromium) or set CHROMIUM_BIN')
}

function launch () {
  return puppeteer.launch({
    executablePath: findChromium(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']
  })
}

/**
 * A page of its own context (its own storage, its own socket) that may load nothing but
 * `url`'s files; what went wrong is collected in `problems`.
 */
async function openPage (browser, url) {
  const context = await browser.createBrowserContext()
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`))
  // Nothing may be fetched from anywhere but the example itself.
  await page.setRequestInterception(true)
  page.on('request', (r) => {
    if (r.url().startsWith(url) || r.url().startsWith(url.replace('http', 'ws'))) r.continue()
    else { problems.push(`off-origin request: ${r.url()}`); r.abort() }
  })
  return { context, page, problems }
}

async function openChat (browser, url) {
  const { context, page, problems } = await openPage(browser, url)
  await page.goto(`${url}/chat/`, { waitUntil: 'load' })
  await page.waitForSelector('#login', { visible: true, timeout: 10000 })
  return { context, page, problems }
}

const isVisible = (page, selector) => page.$eval(selector, (e) => e.checkVisibility())

async function signUp (page, email) {
  await page.type('#email', email)
  await page.type('#password', PASSWORD)
  await page.click('#signup')
  await page.waitForSelector('#chat', { visible: true, timeout: 10000 })
  assert.equal(await isVisible(page, '#login'), false, 'the form is gone')
  assert.equal(await page.$eval('#whoami', (e) => e.textContent), email)
}

async function send (page, text) {
  await page.type('#text', text)
  await page.click('#send button')
}

const texts = (page) => page.$$eval('#messages .text', (items) => items.map((i) => i.textContent))

describe('chat in the browser', () => {
  let server
  let browser
  let alice
  let bob
  before(async () => {
    server = await startChat()
    browser = await launch()
    alice = await openChat(browser, server.url)
    bob = await openChat(browser, server.url)
    await signUp(alice.page, 'alice@browser.test')
    await signUp(bob.page, 'bob@browser.test')
  })
  after(async () => {
    await browser?.close()
    await server?.stop()
  })

  it('shows a message sent on one page on the other within a second', async () => {
    // Markup in a message stays text: it must not become an element on either page.
    const text = 'hello bob <img src=x onerror="window.pwned=1">'
    const sent = Date.now()
    await send(alice.page, text)
    await bob.page.waitForFunction(
      (t) => [...document.querySelectorAll('#messages .text')].some((e) => e.textContent === t),
      { timeout: 1000 }, text
    )
    const waited = Date.now() - sent
    assert.ok(waited < 1000, `arrived after ${waited} ms`)
    await alice.page.waitForFunction((t) => [...document.querySelectorAll('#messages .text')].some((e) => e.textContent === t), { timeout: 1000 }, text)
    for (const { page } of [alice, bob]) {
      assert.equal(await page.$('#messages img'), null)
      assert.equal(await page.evaluate(() => window.pwned), undefined)
    }
    const mine = await alice.page.$eval('#messages li:last-child', (li) => li.classList.contains('mine'))
    assert.equal(mine, true)
    const bobsView = await bob.page.$eval('#messages li:last-child .author', (e) => e.textContent)
    assert.match(bobsView, /^user \d+$/)

    // Bob answers; Alice sees it too.
    await send(bob.page, 'hi alice')
    await alice.page.waitForFunction(() => [...document.querySelectorAll('#messages .text')].some((e) => e.textContent === 'hi alice'), { timeout: 1000 })

    mkdirSync(ARTIFACTS, { recursive: true })
    const shot = path.join(ARTIFACTS, 'chat-browser.png')
    await bob.page.screenshot({ path: shot, fullPage: true })
    assert.ok(statSync(shot).size > 1000)
    console.log(`screenshot: ${shot}`)
  })

  it('a reload signs in again with the stored token and lists the messages', async () => {
    await bob.page.reload({ waitUntil: 'load' })
    await bob.page.waitForSelector('#chat', { visible: true, timeout: 10000 })
    const shown = await texts(bob.page)
    assert.deepEqual(shown.slice(-2), ['hello bob <img src=x onerror="window.pwned=1">', 'hi alice'])
  })

  it('stops delivery after logout', async () => {
    const before = await bob.page.evaluate(() => window.chat.received)
    await bob.page.click('#logout')
    await bob.page.waitForSelector('#login', { visible: true, timeout: 5000 })
    assert.equal(await isVisible(bob.page, '#chat'), false)
    assert.equal(await bob.page.evaluate(() => window.localStorage.length), 0, 'the token is gone')
    await send(alice.page, 'are you still there?')
    await alice.page.waitForFunction(() => [...document.querySelectorAll('#messages .text')].some((e) => e.textContent === 'are you still there?'), { timeout: 1000 })
    await sleep(1000)
    assert.equal(await bob.page.evaluate(() => window.chat.received), before, 'no event after logout')
    assert.deepEqual(await texts(bob.page), [])
  })

  it('loaded nothing from elsewhere and logged no error', () => {
    assert.deepEqual(alice.problems, [])
    assert.deepEqual(bob.problems, [])
  })
})

describe('API reference in the browser', () => {
  it('renders every operation of /openapi.json from files served by roost', async () => {
    const server = await startRoost()
    const browser = await launch()
    try {
      const { page, problems } = await openPage(browser, server.url)
      await page.goto(`${server.url}/docs`, { waitUntil: 'load' })
      assert.equal(page.url(), `${server.url}/docs/`)
      const doc = await (await fetch(`${server.url}/openapi.json`)).json()
      const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0)
      await page.waitForFunction((n) => document.querySelectorAll('.opblock').length === n, { timeout: 15000 }, operations)
      const title = await page.$eval('.info .title', (e) => e.textContent)
      assert.match(title, new RegExp(doc.info.title))
      mkdirSync(ARTIFACTS, { recursive: true })
      await page.screenshot({ path: path.join(ARTIFACTS, 'docs.png') })
      assert.deepEqual(problems, [])
    } finally {
      await browser.close()
      await server.stop()
    }
  })
})
