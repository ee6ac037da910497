// The mynasim inspector's page: the cards from `status` and the event stream, and buttons
// that send control requests (docs/control-protocol.md) through POST /api.
// Plain DOM, no framework; every text from the server is set as text, never as HTML.
'use strict';

const token = new URLSearchParams(location.search).get('token') || '';
const MAX_ROWS = 5000;

/** The cards by name, as `status` and `state` events describe them. */
const cards = new Map();

/** `el('td', {class: 'x', 'data-pin': 'auth'}, 'text', child)`: an element. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

const badge = (text, kind) => el('span', { class: 'badge ' + (kind || '') }, text);
const button = (label, action, extra) => el('button', { type: 'button', 'data-action': action, ...extra }, label);

// ---- Talking to the server ------------------------------------------------------------

/** Sends one control request; its result, or throws its error. */
async function api(request) {
  const answer = await fetch('/api', {
    method: 'POST',
    headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: JSON.stringify(request),
  });
  let reply;
  try {
    reply = await answer.json();
  } catch (e) {
    throw new Error('HTTP ' + answer.status + ': ' + (await answer.text().catch(() => '')));
  }
  if (!reply.ok) throw new Error(reply.error || 'refused without a reason');
  return reply.result;
}

let messageTimer;
function showMessage(text, isError) {
  const message = document.getElementById('message');
  message.textContent = text;
  message.className = isError ? 'error' : 'ok';
  message.hidden = false;
  clearTimeout(messageTimer);
  if (!isError) messageTimer = setTimeout(() => { message.hidden = true; }, 5000);
}

/** The fields of a card that its `state` events carry. */
const STATE_FIELDS = ['seq', 'inserted', 'connected', 'pins', 'applet', 'applet_label', 'ef', 'ef_label', 'sm', 'faults'];
const stateOf = (card) => Object.fromEntries(STATE_FIELDS.map((f) => [f, card[f]]));

async function refreshStatus() {
  try {
    const status = await api({ op: 'status' });
    const names = new Set(status.cards.map((c) => c.card));
    for (const name of cards.keys()) if (!names.has(name)) cards.delete(name);
    for (const card of status.cards) {
      // The reply can be older than a state event that arrived while it was on its way.
      const shown = cards.get(card.card);
      if (shown && shown.seq > card.seq) Object.assign(card, stateOf(shown));
      cards.set(card.card, card);
    }
    renderCards();
  } catch (e) {
    showMessage('status: ' + e.message, true);
  }
}

// ---- Cards ----------------------------------------------------------------------------

function renderCards() {
  document.body.classList.toggle('one-card', cards.size === 1);
  const section = document.getElementById('cards');
  if (section.querySelector('p.muted')) section.replaceChildren();
  for (const node of section.querySelectorAll('.card')) {
    if (!cards.has(node.dataset.card)) node.remove();
  }
  for (const card of cards.values()) {
    let node = section.querySelector(`.card[data-card="${CSS.escape(card.card)}"]`);
    if (!node) {
      // The controls are made once, so what is typed in them survives updates.
      node = el('article', { class: 'card', 'data-card': card.card }, el('div', { class: 'state' }), cardControls());
      section.append(node);
    }
    node.querySelector('.state').replaceChildren(...cardState(card));
  }
}

function cardState(card) {
  const presence = card.inserted
    ? [badge('inserted', 'good'), card.connected ? badge('connected', 'good') : badge('waiting for the reader', 'warn')]
    : [badge('removed', 'bad')];
  let selection = 'MF level';
  if (card.applet_label) {
    selection = card.applet_label;
    if (card.ef) selection += ', EF ' + card.ef + (card.ef_label ? ' (' + card.ef_label + ')' : '');
  }
  const pins = el('table', { class: 'pins' },
    el('thead', {}, el('tr', {}, el('th', {}, 'PIN'), el('th', { class: 'num' }, 'tries left'), el('th', {}, ''))),
    el('tbody', {}, card.pins.map(pinRow)));
  const certificates = card.certificates.length === 0 ? [] : [
    el('h3', {}, 'Certificates'),
    el('table', { class: 'certs' }, el('tbody', {}, card.certificates.map((c) => el('tr', { 'data-cert': c.which },
      el('td', {}, c.which), el('td', { class: 'hex' }, c.ef),
      el('td', {}, c.valid_now ? badge('valid', 'good') : badge('not valid now', 'bad')),
      el('td', { class: 'dates' }, c.not_before.slice(0, 10) + ' – ' + c.not_after.slice(0, 10)),
      el('td', { class: 'subject' }, c.subject))))),
  ];
  return [
    el('h2', {}, card.card, ' ', el('span', { class: 'muted' }, card.holder + ' · ' + card.kind + ' · slot ' + card.slot)),
    el('p', { class: 'presence' }, presence, ' ', el('span', { class: 'selection', 'data-field': 'selection' }, selection),
      card.sm ? [' ', badge('secure messaging open', 'warn')] : []),
    pins,
    el('p', { class: 'faults', 'data-field': 'faults' }, 'Faults: ',
      card.faults.length === 0 ? el('span', { class: 'muted' }, 'none') : card.faults.map((f) => badge(f, 'warn'))),
    ...certificates,
  ];
}

function pinRow(pin) {
  let state = null;
  if (pin.blocked) state = badge('LOCKED', 'bad locked');
  else if (pin.verified) state = badge('verified', 'good verified');
  const extra = { 'data-pin': pin.pin };
  return el('tr', { 'data-pin-row': pin.pin, class: pin.blocked ? 'blocked' : null },
    el('td', { title: pin.pin }, pin.label),
    el('td', { class: 'num' }, state, ' ', el('span', { 'data-field': 'tries' }, pin.remaining + '/' + pin.max_tries)),
    el('td', { class: 'actions' },
      button('lock', 'lock', extra), button('unlock', 'unlock', extra),
      button('office reset', 'office_reset', extra), button('one try left', 'one_try', extra)));
}

function cardControls() {
  const input = (name, attrs) => el('input', { 'data-input': name, ...attrs });
  return el('div', { class: 'controls' },
    el('div', {}, button('remove', 'remove'), button('insert', 'insert'), button('warm reset', 'reset'),
      button('power cycle', 'power_cycle'), button('clear faults', 'clear_faults')),
    el('div', {}, input('profile', { placeholder: 'profile.yaml', size: 24, 'aria-label': 'profile to swap in' }),
      button('swap profile', 'swap')),
    el('div', {}, input('latency', { type: 'number', min: 0, value: 300, 'aria-label': 'latency in ms' }), ' ms on INS ',
      input('ins', { placeholder: 'any', size: 4, 'aria-label': 'INS byte (optional)' }), button('add latency', 'latency')),
    el('div', {}, input('sw', { placeholder: '6F00', size: 6, 'aria-label': 'status word' }),
      button('answer this SW to the next command', 'sw')));
}

/** The request a card button stands for (or null when the user cancelled). */
function requestFor(action, card, pin, node) {
  const value = (name) => node.querySelector(`[data-input="${name}"]`).value.trim();
  switch (action) {
    case 'lock': case 'unlock': return { op: action, card, pin };
    case 'one_try': return { op: 'pin', card, pin, remaining: 1 };
    case 'office_reset': {
      const newPin = prompt(`Office reset of the ${pin} PIN: a new PIN, or empty to keep the old one`, '');
      if (newPin === null) return null;
      return newPin.trim() ? { op: 'office_reset', card, pin, new_pin: newPin.trim() } : { op: 'office_reset', card, pin };
    }
    case 'remove': case 'insert': case 'reset': case 'power_cycle': return { op: action, card };
    case 'clear_faults': return { op: 'fault', card, fault: { clear: true } };
    case 'swap':
      if (!value('profile')) throw new Error('type the path of a profile (YAML) to swap in first');
      return { op: 'swap', card, profile: value('profile') };
    case 'latency': {
      const fault = { latency: (value('latency') || '0') + 'ms' };
      if (value('ins')) fault.match = value('ins');
      return { op: 'fault', card, fault };
    }
    case 'sw':
      if (!value('sw')) throw new Error('type the status word to answer first, e.g. 6F00');
      return { op: 'fault', card, fault: { sw: value('sw'), count: 1 } };
    default: throw new Error('unknown action ' + action);
  }
}

document.addEventListener('click', async (event) => {
  const target = event.target.closest('button[data-action]');
  if (!target) return;
  const node = target.closest('.card');
  try {
    const request = requestFor(target.dataset.action, node.dataset.card, target.dataset.pin, node);
    if (!request) return;
    target.disabled = true;
    const result = await api(request);
    showMessage(result.card + ': ' + result.done, false);
  } catch (e) {
    showMessage(e.message, true);
  } finally {
    target.disabled = false;
    refreshStatus();
  }
});

// ---- The APDU log ---------------------------------------------------------------------

const rows = document.getElementById('apdu-rows');
const scroller = document.getElementById('log-scroll');
const search = document.getElementById('log-search');
const pauseButton = document.getElementById('log-pause');
let paused = false;
let held = [];

function clock(ms) {
  const t = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return two(t.getHours()) + ':' + two(t.getMinutes()) + ':' + two(t.getSeconds()) + '.' + String(t.getMilliseconds()).padStart(3, '0');
}

function logRow(event) {
  if (event.event === 'apdu') {
    const sw = event.response === null ? null : event.response.slice(-4);
    const fine = sw === '9000' || (sw !== null && sw.startsWith('61'));
    const answer = sw === null
      ? el('td', { class: 'bad' }, 'no answer: the card was torn out')
      : el('td', { title: event.response, class: fine ? 'answer' : 'answer warn' }, event.meaning);
    const ms = event.micros / 1000;
    return el('tr', { class: 'apdu' },
      el('td', { class: 'time' }, clock(event.at_ms)), el('td', { class: 'card-name' }, event.card), el('td', { class: 'name' }, event.name),
      el('td', { class: 'hex' }, event.command), answer, el('td', { class: 'num' }, ms.toFixed(ms < 10 ? 2 : 1)));
  }
  const words = {
    power: () => event.what, connected: () => 'connected to the reader', inserted: () => 'card inserted',
    removed: () => 'card removed', control: () => 'control: ' + event.done,
    dropped: () => event.count + ' events lost: this page fell behind',
  };
  if (!words[event.event]) return null;
  return el('tr', { class: 'note' }, el('td', { class: 'time' }, clock(Date.now())), el('td', { class: 'card-name' }, event.card || ''),
    el('td', { colspan: 4 }, words[event.event]()));
}

function matches(row) {
  const query = search.value.trim().toLowerCase();
  return !query || row.textContent.toLowerCase().includes(query);
}

// Counted once per frame at most: a busy client sends thousands of APDUs a second.
let countScheduled = false;
function updateCount() {
  if (countScheduled) return;
  countScheduled = true;
  requestAnimationFrame(() => {
    countScheduled = false;
    countRows();
  });
}

function countRows() {
  const shown = [...rows.children].filter((r) => !r.hidden).length;
  document.getElementById('log-count').textContent =
    (shown === rows.children.length ? shown + ' rows' : shown + ' of ' + rows.children.length + ' rows') +
    (held.length ? ', ' + held.length + ' held while paused' : '');
}

function append(row) {
  const atBottom = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 4;
  row.hidden = !matches(row);
  rows.append(row);
  while (rows.children.length > MAX_ROWS) rows.firstElementChild.remove();
  if (atBottom) scroller.scrollTop = scroller.scrollHeight;
}

search.addEventListener('input', () => {
  for (const row of rows.children) row.hidden = !matches(row);
  updateCount();
});
pauseButton.addEventListener('click', () => {
  paused = !paused;
  pauseButton.textContent = paused ? 'resume' : 'pause';
  pauseButton.classList.toggle('active', paused);
  if (!paused) {
    held.forEach(append);
    held = [];
  }
  updateCount();
});
document.getElementById('log-clear').addEventListener('click', () => {
  rows.replaceChildren();
  held = [];
  updateCount();
});

// ---- The event stream -----------------------------------------------------------------

function onEvent(event) {
  // States can arrive out of order (the card's thread and control requests send them):
  // an older one than the page shows is dropped.
  if (event.event === 'state' && cards.has(event.card) && event.state.seq > cards.get(event.card).seq) {
    Object.assign(cards.get(event.card), event.state);
    renderCards();
  }
  // A swap changes the holder and certificates, which only `status` tells.
  if (event.event === 'control' || event.event === 'inserted') refreshStatus();
  const row = logRow(event);
  if (!row) return;
  if (paused) {
    held.push(row);
    if (held.length > MAX_ROWS) held.shift();
  } else {
    append(row);
  }
  updateCount();
}

function connect() {
  const connection = document.getElementById('connection');
  const source = new EventSource('/events?token=' + encodeURIComponent(token));
  source.onopen = () => {
    connection.textContent = 'live';
    connection.className = 'badge good';
    refreshStatus();
  };
  source.onerror = () => {
    connection.textContent = 'reconnecting…';
    connection.className = 'badge bad';
  };
  source.onmessage = (message) => {
    try {
      onEvent(JSON.parse(message.data));
    } catch (e) {
      showMessage('an event the page does not understand: ' + e.message, true);
    }
  };
}

refreshStatus();
connect();
updateCount();
