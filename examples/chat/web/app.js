// The chat page: the official Feathers v5 browser client over Socket.IO, against the chat
// example (same origin). Sign up or log in, read the latest messages, send, see everyone's
// new messages live, log out. Message text is only ever set as text, never as HTML.
/* global io, feathers */
'use strict'

const $ = (id) => document.getElementById(id)
const PAGE = 50

const socket = io({ transports: ['websocket'] })
const client = feathers()
client.configure(feathers.socketio(socket))
client.configure(feathers.authentication({ storage: window.localStorage }))
const messages = client.service('messages')

// What the page has shown, for people (the list) and for the browser test.
const state = { user: null, received: 0 }
window.chat = state

function show (view) {
  $('login').hidden = view !== 'login'
  $('chat').hidden = view !== 'chat'
  $('logout').hidden = view !== 'chat'
  $('whoami').textContent = state.user ? state.user.email : ''
}

function status (text) {
  $('status').textContent = text
}

function addMessage (message) {
  const item = document.createElement('li')
  item.dataset.id = message.id
  if (state.user && message.user_id === state.user.id) item.classList.add('mine')
  const author = document.createElement('span')
  author.className = 'author'
  author.textContent = state.user && message.user_id === state.user.id ? 'you' : `user ${message.user_id}`
  const text = document.createElement('span')
  text.className = 'text'
  text.textContent = message.text
  const time = document.createElement('time')
  const when = new Date(message.created_at)
  time.dateTime = when.toISOString()
  time.textContent = when.toLocaleTimeString()
  item.append(author, text, time)
  const list = $('messages')
  list.append(item)
  while (list.children.length > PAGE) list.firstElementChild.remove()
  item.scrollIntoView({ block: 'nearest' })
}

async function enter (auth) {
  state.user = auth.user
  $('password').value = ''
  $('messages').replaceChildren()
  const page = await messages.find({ query: { $sort: { created_at: -1 }, $limit: PAGE } })
  page.data.reverse().forEach(addMessage)
  show('chat')
  status('Signed in')
  $('text').focus()
}

function failed (error) {
  $('error').textContent = error.message || String(error)
  status('Signed out')
}

messages.on('created', (message) => {
  state.received += 1
  if (state.user) addMessage(message)
})

$('login').addEventListener('submit', async (event) => {
  event.preventDefault()
  $('error').textContent = ''
  try {
    await enter(await client.authenticate({
      strategy: 'local', email: $('email').value, password: $('password').value
    }))
  } catch (e) { failed(e) }
})

$('signup').addEventListener('click', async () => {
  $('error').textContent = ''
  if (!$('login').reportValidity()) return
  const credentials = { email: $('email').value, password: $('password').value }
  try {
    await client.service('users').create(credentials)
    await enter(await client.authenticate({ strategy: 'local', ...credentials }))
  } catch (e) { failed(e) }
})

$('send').addEventListener('submit', async (event) => {
  event.preventDefault()
  const input = $('text')
  const text = input.value
  if (!text.trim()) return
  input.value = ''
  try {
    await messages.create({ text })
  } catch (e) {
    input.value = text
    status(`Not sent: ${e.message}`)
  }
})

$('logout').addEventListener('click', async () => {
  await client.logout()
  state.user = null
  $('messages').replaceChildren()
  show('login')
  status('Signed out')
})

// A stored token (a reload) signs in again without the form.
client.reAuthenticate()
  .then(enter)
  .catch(() => { show('login'); status('Signed out') })
