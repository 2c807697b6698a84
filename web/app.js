// SPDX-License-Identifier: MIT
/*
 * app.js: the sserooms demo page's behaviour. No framework, no build step.
 *
 * One EventSource per page: its URL carries every joined room plus the
 * node's stats room (sserooms:stats), so joining or leaving a room closes
 * it and opens a new one. The browser reconnects it on its own after a
 * network error; only when it gives up for good (the server answered with
 * an error status, e.g. 503 while shutting down) do we reopen it ourselves,
 * with a growing delay. Chat messages are `event: message` frames whose
 * data is {"from","text","room"}; posting is a fetch POST /publish with a
 * random id, and the message shows up when it comes back over the stream,
 * so every tab sees the same list. Stats are `event: stats` frames carrying
 * the node's /stats JSON. All URLs are relative: the page talks to the node
 * that served it. Text from the network only ever goes into textContent.
 *
 * Resume (docs/resume.md): with history on, the server assigns every id
 * (a post carrying its own id gets 400, so the page posts without one from
 * then on and learns its id from the answer). The browser's own reconnects
 * send Last-Event-ID; when we reopen the stream ourselves we pass the last
 * id as ?lastEventId=. When the server cannot replay what was missed it
 * sends `event: reset`: the page says so in a visible notice and starts its
 * state again (earlier messages are greyed out as possibly incomplete).
 */
'use strict';

(function () {
  const STATS_ROOM = 'sserooms:stats';
  // what the server accepts in a room name (src/rooms: sr_room_name_check)
  const ROOM_RE = /^[A-Za-z0-9\-_.:@/=+~!$*,;]{1,128}$/;
  const MAX_ROOMS = 63; // 64 per stream by default, one is the stats room
  const MAX_MESSAGES = 500; // rendered messages kept in the list
  const MAX_SEEN_IDS = 1000; // ids remembered to drop duplicates
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 15000;
  const RATE_POINTS = 60;

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $('status'),
    statusText: document.querySelector('#status .status-text'),
    name: $('name-input'),
    roomList: $('room-list'),
    roomsEmpty: $('rooms-empty'),
    joinForm: $('join-form'),
    joinInput: $('join-input'),
    joinError: $('join-error'),
    messages: $('messages'),
    messagesEmpty: $('messages-empty'),
    composer: $('composer'),
    composerRoom: $('composer-room'),
    composerText: $('composer-text'),
    sendButton: $('send-button'),
    feedback: $('composer-feedback'),
    statsAge: $('stats-age'),
    statsWaiting: $('stats-waiting'),
    statsGrid: $('stats-grid'),
    rateFigure: $('rate-figure'),
    rateLine: $('rate-line'),
    rateArea: $('rate-area'),
    rateNow: $('rate-now'),
  };

  const state = {
    rooms: [], // joined chat rooms, in join order
    current: null, // the room a post goes to
    es: null, // the one EventSource
    status: 'connecting',
    wasOpen: false, // the stream has been open at least once
    retryTimer: 0,
    retryDelay: RETRY_MIN_MS,
    seenIds: new Set(),
    seenOrder: [],
    ownIds: new Set(),
    lastStatsAt: 0,
    lastDelivered: null,
    rate: [],
    lastEventId: '', // the newest id the stream gave us, for ?lastEventId=
    historyOn: false, // the server assigns ids (it refused ours once)
  };

  /* ---- small helpers -------------------------------------------------- */

  function randomId() {
    // crypto.getRandomValues works on plain http too (randomUUID needs a secure context)
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function store(kind, key, value) {
    try {
      if (value === null) window[kind].removeItem(key);
      else window[kind].setItem(key, value);
    } catch (e) {
      /* storage can be disabled; the page works without it */
    }
  }

  function load(kind, key) {
    try {
      return window[kind].getItem(key);
    } catch (e) {
      return null;
    }
  }

  function hue(text) {
    let h = 0;
    for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
    return h % 360;
  }

  function initials(name) {
    const parts = name.trim().split(/[\s._-]+/).filter(Boolean);
    if (parts.length === 0) return '?';
    const first = Array.from(parts[0])[0] || '?';
    const second = parts.length > 1 ? Array.from(parts[1])[0] || '' : '';
    return (first + second).toUpperCase();
  }

  function formatNumber(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
    return n.toLocaleString('en-US');
  }

  function formatBytes(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
  }

  function timeText(date) {
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function myName() {
    const name = el.name.value.trim();
    return name || 'anonymous';
  }

  /* ---- connection status ---------------------------------------------- */

  const STATUS_TEXT = {
    connecting: 'Connecting…',
    open: 'Connected',
    reconnecting: 'Reconnecting…',
  };

  function setStatus(next) {
    if (state.status === next) return;
    state.status = next;
    el.status.dataset.state = next;
    el.statusText.textContent = STATUS_TEXT[next];
  }

  /* ---- the stream ----------------------------------------------------- */

  function streamUrl(resume) {
    const params = new URLSearchParams();
    for (const room of state.rooms) params.append('room', room);
    params.append('room', STATS_ROOM);
    if (resume && state.lastEventId) params.append('lastEventId', state.lastEventId);
    return 'sse?' + params.toString();
  }

  // resume: a reopen after a failure, which asks for what was missed (a new
  // room list starts from now)
  function openStream(resume) {
    clearTimeout(state.retryTimer);
    state.retryTimer = 0;
    if (state.es) state.es.close();
    const es = new EventSource(streamUrl(resume === true));
    state.es = es;
    setStatus(state.status === 'reconnecting' ? 'reconnecting' : 'connecting');

    es.onopen = () => {
      if (es !== state.es) return;
      if (state.status === 'reconnecting' && state.wasOpen) notice('Reconnected.');
      state.wasOpen = true;
      state.retryDelay = RETRY_MIN_MS;
      setStatus('open');
    };
    es.onerror = () => {
      if (es !== state.es) return;
      if (state.status === 'open') notice('Connection lost. Reconnecting…');
      setStatus('reconnecting');
      if (es.readyState === EventSource.CLOSED) {
        // the browser gave up (an error status or a wrong content type): retry ourselves
        clearTimeout(state.retryTimer);
        state.retryTimer = setTimeout(() => openStream(true), state.retryDelay);
        state.retryDelay = Math.min(state.retryDelay * 2, RETRY_MAX_MS);
      }
    };
    es.addEventListener('message', (ev) => {
      if (es === state.es) onChatMessage(ev);
    });
    es.addEventListener('stats', (ev) => {
      if (es === state.es) onStats(ev);
    });
    es.addEventListener('reset', (ev) => {
      if (es === state.es) onReset(ev);
    });
  }

  /* ---- rooms ---------------------------------------------------------- */

  function saveRooms() {
    store('sessionStorage', 'sserooms.rooms', JSON.stringify(state.rooms));
    store('sessionStorage', 'sserooms.current', state.current);
  }

  function joinRoom(room) {
    el.joinError.hidden = true;
    if (!ROOM_RE.test(room)) {
      showJoinError('Use 1 to 128 letters, digits or -_.:@/=+~!$*,; (no spaces).');
      return false;
    }
    if (room === STATS_ROOM) {
      showJoinError('That room carries the node stats; pick another name.');
      return false;
    }
    if (!state.rooms.includes(room)) {
      if (state.rooms.length >= MAX_ROOMS) {
        showJoinError('You are in ' + MAX_ROOMS + ' rooms already; leave one first.');
        return false;
      }
      state.rooms.push(room);
      state.current = room;
      saveRooms();
      renderRooms();
      openStream(); // a new room means a new stream URL
      notice('Joined #' + room + '.');
    } else {
      selectRoom(room);
    }
    return true;
  }

  function leaveRoom(room) {
    const i = state.rooms.indexOf(room);
    if (i < 0) return;
    state.rooms.splice(i, 1);
    if (state.current === room) state.current = state.rooms[Math.min(i, state.rooms.length - 1)] || null;
    saveRooms();
    renderRooms();
    openStream();
    notice('Left #' + room + '.');
  }

  function selectRoom(room) {
    state.current = room;
    saveRooms();
    renderRooms();
  }

  function showJoinError(text) {
    el.joinError.textContent = text;
    el.joinError.hidden = false;
    el.joinInput.setAttribute('aria-invalid', 'true');
  }

  function renderRooms() {
    el.roomList.replaceChildren();
    for (const room of state.rooms) {
      const li = document.createElement('li');
      li.className = 'room' + (room === state.current ? ' is-current' : '');
      const pick = document.createElement('button');
      pick.type = 'button';
      pick.className = 'room-pick';
      pick.setAttribute('aria-pressed', String(room === state.current));
      pick.title = 'Post to #' + room;
      const hash = document.createElement('span');
      hash.className = 'room-hash';
      hash.setAttribute('aria-hidden', 'true');
      hash.textContent = '#';
      const label = document.createElement('span');
      label.className = 'room-name';
      label.textContent = room;
      pick.append(hash, label);
      pick.addEventListener('click', () => selectRoom(room));
      const leave = document.createElement('button');
      leave.type = 'button';
      leave.className = 'room-leave';
      leave.setAttribute('aria-label', 'Leave ' + room);
      leave.title = 'Leave #' + room;
      leave.textContent = '×';
      leave.addEventListener('click', () => leaveRoom(room));
      li.append(pick, leave);
      el.roomList.append(li);
    }
    el.roomsEmpty.hidden = state.rooms.length > 0;
    const has = state.current !== null;
    el.composerRoom.textContent = has ? '#' + state.current : 'no room';
    el.composerText.disabled = !has;
    el.composerText.placeholder = has ? 'Message #' + state.current : 'Join a room to post';
    updateSendButton();
  }

  function updateSendButton() {
    el.sendButton.disabled = state.current === null || el.composerText.value.trim() === '';
  }

  /* ---- messages ------------------------------------------------------- */

  function remember(id) {
    if (state.seenIds.has(id)) return false;
    state.seenIds.add(id);
    state.seenOrder.push(id);
    if (state.seenOrder.length > MAX_SEEN_IDS) state.seenIds.delete(state.seenOrder.shift());
    return true;
  }

  function onChatMessage(ev) {
    if (ev.lastEventId) state.lastEventId = ev.lastEventId;
    // a message published to several of our rooms, or replayed, comes once
    if (ev.lastEventId && !remember(ev.lastEventId)) return;
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch (e) {
      data = ev.data;
    }
    const isChat = data !== null && typeof data === 'object' && !Array.isArray(data);
    const from = isChat && typeof data.from === 'string' && data.from ? data.from : 'unknown';
    const text = isChat && typeof data.text === 'string' ? data.text : JSON.stringify(data);
    let room = isChat && typeof data.room === 'string' ? data.room : null;
    if (room === null && state.rooms.length === 1) room = state.rooms[0];
    addMessage({ id: ev.lastEventId, from, text, room, own: state.ownIds.has(ev.lastEventId), at: new Date() });
  }

  // The server could not replay what we missed (restart, history dropped,
  // Redis away): say so, and start the page's state again from here.
  function onReset(ev) {
    let info = {};
    try {
      info = JSON.parse(ev.data) || {};
    } catch (e) {
      /* shown without a reason */
    }
    if (ev.lastEventId) state.lastEventId = ev.lastEventId;
    for (const li of el.messages.querySelectorAll('li.message')) li.classList.add('is-stale');
    state.seenIds.clear();
    state.seenOrder = [];
    state.rate = [];
    state.lastDelivered = null;
    const why = typeof info.reason === 'string' ? ' (' + info.reason + ')' : '';
    notice('History reset' + why + ': messages sent while you were away could not be replayed. ' +
      'Earlier messages are greyed out; new ones follow.', 'is-reset');
  }

  function scrolledToBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  }

  function append(li) {
    const stick = scrolledToBottom();
    el.messages.append(li);
    while (el.messages.children.length > MAX_MESSAGES) el.messages.firstElementChild.remove();
    el.messagesEmpty.hidden = true;
    if (stick) el.messages.scrollTop = el.messages.scrollHeight;
  }

  function addMessage(msg) {
    const li = document.createElement('li');
    li.className = 'message' + (msg.own ? ' is-own' : '');
    if (msg.id) li.dataset.id = msg.id;
    const avatar = document.createElement('span');
    avatar.className = 'avatar';
    avatar.setAttribute('aria-hidden', 'true');
    avatar.style.setProperty('--hue', String(hue(msg.from)));
    avatar.textContent = initials(msg.from);

    const body = document.createElement('div');
    body.className = 'message-body';
    const meta = document.createElement('p');
    meta.className = 'message-meta';
    const from = document.createElement('span');
    from.className = 'message-from';
    from.textContent = msg.from;
    meta.append(from);
    if (msg.own) {
      const you = document.createElement('span');
      you.className = 'you';
      you.textContent = 'you';
      meta.append(' ', you);
    }
    const room = document.createElement('span');
    room.className = 'message-room';
    room.textContent = msg.room === null ? 'unknown room' : '#' + msg.room;
    const time = document.createElement('time');
    time.className = 'message-time';
    time.dateTime = msg.at.toISOString();
    time.textContent = timeText(msg.at);
    meta.append(' ', room, ' ', time);
    const text = document.createElement('p');
    text.className = 'message-text';
    text.textContent = msg.text;
    body.append(meta, text);
    li.append(avatar, body);
    append(li);
  }

  function notice(text, kind) {
    const li = document.createElement('li');
    li.className = 'notice' + (kind ? ' ' + kind : '');
    const time = document.createElement('time');
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = timeText(now);
    li.append(document.createTextNode(text + ' '), time);
    append(li);
  }

  // the message shows up already (it can come back before the answer): mark it
  function markOwn(id) {
    state.ownIds.add(id);
    for (const li of el.messages.querySelectorAll('li.message')) {
      if (li.dataset.id !== id || li.classList.contains('is-own')) continue;
      li.classList.add('is-own');
      const you = document.createElement('span');
      you.className = 'you';
      you.textContent = 'you';
      li.querySelector('.message-from').after(' ', you);
    }
  }

  async function send(body) {
    const res = await fetch('publish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    let reply = null;
    try {
      reply = await res.json();
    } catch (e) {
      /* a non-JSON error page */
    }
    return { res, reply };
  }

  async function publish(text) {
    const room = state.current;
    const id = randomId();
    const body = {
      room,
      event: 'message',
      data: { from: myName(), text, room },
    };
    if (!state.historyOn) {
      body.id = id;
      state.ownIds.add(id);
    }
    el.sendButton.disabled = true;
    el.feedback.textContent = '';
    el.feedback.classList.remove('error');
    try {
      let { res, reply } = await send(body);
      if (res.status === 400 && reply && /history is on/.test(reply.error || '') && body.id) {
        // the server assigns ids (history for Last-Event-ID resume)
        state.historyOn = true;
        state.ownIds.delete(id);
        delete body.id;
        ({ res, reply } = await send(body));
      }
      if (res.ok && reply && typeof reply.id === 'string') markOwn(reply.id);
      if (!res.ok) {
        const why = reply && typeof reply.error === 'string' ? reply.error : 'HTTP ' + res.status;
        throw new Error(why);
      }
      el.composerText.value = '';
      const n = reply && typeof reply.delivered === 'number' ? reply.delivered : null;
      el.feedback.textContent =
        n === null
          ? 'Sent.'
          : 'Sent to #' + room + ', delivered to ' + n + (n === 1 ? ' stream' : ' streams') + ' on this node.';
    } catch (e) {
      state.ownIds.delete(id);
      el.feedback.textContent =
        'Not sent: ' + (e instanceof TypeError ? 'the server is unreachable; try again when connected.' : e.message);
      el.feedback.classList.add('error');
    } finally {
      updateSendButton();
    }
  }

  /* ---- stats ---------------------------------------------------------- */

  function onStats(ev) {
    let s;
    try {
      s = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (s === null || typeof s !== 'object') return;
    for (const dd of el.statsGrid.querySelectorAll('dd[data-stat]')) {
      const key = dd.dataset.stat;
      const v = s[key];
      if (key === 'bytes_out') dd.textContent = formatBytes(v);
      else if (typeof v === 'string') dd.textContent = v;
      else dd.textContent = formatNumber(v);
    }
    el.statsGrid.hidden = false;
    el.statsWaiting.hidden = true;
    const now = Date.now();
    const delivered = typeof s.messages_out === 'number' ? s.messages_out : null;
    if (delivered !== null && state.lastDelivered !== null && state.lastStatsAt) {
      const secs = Math.max((now - state.lastStatsAt) / 1000, 0.001);
      // a restarted node starts from zero again: no negative rates
      state.rate.push(Math.max(0, delivered - state.lastDelivered) / secs);
      if (state.rate.length > RATE_POINTS) state.rate.shift();
      drawRate();
    }
    state.lastDelivered = delivered;
    state.lastStatsAt = now;
    updateStatsAge();
  }

  function drawRate() {
    const pts = state.rate;
    const w = 240;
    const h = 56;
    const max = Math.max(1, ...pts);
    // spread over the whole width until the window is full, then scroll
    const step = w / Math.max(pts.length - 1, 1);
    const x0 = pts.length === 1 ? w : 0;
    const coords = pts.map((v, i) => [x0 + i * step, h - 3 - (v / max) * (h - 8)]);
    el.rateLine.setAttribute('points', coords.map(([x, y]) => x.toFixed(1) + ',' + y.toFixed(1)).join(' '));
    if (coords.length > 1) {
      const line = coords.map(([x, y]) => 'L' + x.toFixed(1) + ',' + y.toFixed(1)).join('');
      el.rateArea.setAttribute('d', 'M' + coords[0][0].toFixed(1) + ',' + h + line + 'L' + w + ',' + h + 'Z');
    }
    const last = pts[pts.length - 1];
    el.rateNow.textContent = last < 10 ? last.toFixed(1) : Math.round(last).toLocaleString('en-US');
    el.rateFigure.hidden = pts.length < 2; // a line needs two points
  }

  function updateStatsAge() {
    if (!state.lastStatsAt) return;
    const secs = Math.round((Date.now() - state.lastStatsAt) / 1000);
    el.statsAge.textContent = secs <= 1 ? 'live' : 'updated ' + secs + ' s ago';
    el.statsAge.classList.toggle('is-live', secs <= 2);
  }

  /* ---- start-up ------------------------------------------------------- */

  function init() {
    let name = load('localStorage', 'sserooms.name');
    if (!name) name = 'guest-' + (1000 + Math.floor(Math.random() * 9000));
    el.name.value = name;
    el.name.addEventListener('change', () => {
      el.name.value = el.name.value.trim();
      store('localStorage', 'sserooms.name', el.name.value || null);
    });

    try {
      const saved = JSON.parse(load('sessionStorage', 'sserooms.rooms') || '[]');
      if (Array.isArray(saved)) {
        state.rooms = saved.filter((r) => typeof r === 'string' && ROOM_RE.test(r) && r !== STATS_ROOM);
        state.rooms = state.rooms.slice(0, MAX_ROOMS);
      }
    } catch (e) {
      state.rooms = [];
    }
    const current = load('sessionStorage', 'sserooms.current');
    state.current = state.rooms.includes(current) ? current : state.rooms[0] || null;

    el.joinForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const room = el.joinInput.value.trim() || el.joinInput.placeholder;
      if (joinRoom(room)) {
        el.joinInput.value = '';
        el.joinInput.removeAttribute('aria-invalid');
      }
    });
    el.joinInput.addEventListener('input', () => {
      el.joinError.hidden = true;
      el.joinInput.removeAttribute('aria-invalid');
    });
    el.composerText.addEventListener('input', updateSendButton);
    el.composer.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = el.composerText.value.trim();
      if (text && state.current !== null) publish(text);
    });

    renderRooms();
    openStream();
    setInterval(updateStatsAge, 1000);
  }

  init();
})();
