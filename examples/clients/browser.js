// SPDX-License-Identifier: MIT
/*
 * browser.js: receiving sserooms rooms in a browser with the built-in
 * EventSource. No library, no build step: include it with a <script> tag
 * (it defines window.SseRooms) or copy the parts you need.
 *
 *   const sub = SseRooms.connect({
 *     server: 'https://events.example.com/',   // where sserooms answers /sse
 *     rooms: ['chat', 'alerts'],
 *     events: ['message', 'alert'],            // the `event:` names you publish
 *     onEvent: (name, data, ev) => console.log(name, data, ev.lastEventId),
 *     onState: (state, info) => console.log(state, info),
 *   });
 *   sub.setRooms(['chat']);   // rooms are in the URL: this opens a new stream
 *   sub.close();
 *
 * Reconnection, in short:
 *  - When a stream drops (network, server restart, proxy timeout), the
 *    browser reconnects on its own after the `retry:` delay (a few seconds
 *    by default) and sends the id of the last event it received in the
 *    `Last-Event-ID` request header. readyState is CONNECTING meanwhile.
 *  - When the server answers anything but a 200 event stream (400 for a bad
 *    room name, 401/403 from an auth hook, 503 when max-connections is
 *    reached), the browser gives up for good (readyState CLOSED). This file
 *    then opens a new EventSource itself, with exponential back-off and
 *    jitter so that a fleet of tabs does not reconnect all at once.
 *  - A new EventSource (after that, or after setRooms) does not send
 *    Last-Event-ID: EventSource cannot set headers. sserooms keeps no
 *    history, so nothing is replayed either way; if your application can
 *    replay (a program embedding libsserooms can read the header or a query
 *    parameter in its accept hook), pass the id as a query parameter:
 *    the `query` option below, e.g. query: () => ({ since: sub.lastEventId }).
 *  - Ids from a shared sequence (POST /publish with "sequence") look like
 *    0-000000000042; as the reference client does, events whose id is not
 *    greater than the last one seen (same epoch) are dropped, which removes
 *    duplicates after a reconnect.
 *  - Cross-origin pages need the server started with --cors-origin
 *    https://your.page.origin (or `cors-origin = ...` in its config file).
 */
(function (global) {
  'use strict';

  /* "<epoch>-<12 digits>" as made by createRedisEventIdSequence / sserooms */
  const SEQUENCE_ID = /^(\d+)-(\d{12})$/;

  /* True when `id` should be delivered after `last`: ids that are not
   * sequenced always are; a sequenced id must be greater than the last one
   * of the same epoch (a new epoch starts over). */
  function isNewer(id, last) {
    const a = SEQUENCE_ID.exec(id || '');
    const b = SEQUENCE_ID.exec(last || '');
    if (!a || !b || a[1] !== b[1]) return true;
    return Number(a[2]) > Number(b[2]);
  }

  function streamUrl(server, rooms, query) {
    const url = new URL('sse', server);
    for (const room of rooms) url.searchParams.append('room', room);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
    }
    return url.toString();
  }

  function connect(options) {
    const server = options.server || global.location.origin + '/';
    const events = options.events || ['message'];
    const onEvent = options.onEvent || function () {};
    const onState = options.onState || function () {};
    let rooms = [...options.rooms];
    let source = null;
    let retryTimer = null;
    let failures = 0;
    let closed = false;
    let lastEventId = '';

    function deliver(name, ev) {
      if (ev.lastEventId) {
        if (!isNewer(ev.lastEventId, lastEventId)) return; // seen already
        lastEventId = ev.lastEventId;
      }
      let data = ev.data;
      try {
        data = JSON.parse(ev.data); // sserooms always sends JSON text
      } catch (err) {
        /* keep the raw text */
      }
      onEvent(name, data, ev);
    }

    function open() {
      retryTimer = null;
      if (closed) return;
      const query = typeof options.query === 'function' ? options.query() : options.query;
      const es = new EventSource(streamUrl(server, rooms, query), {
        withCredentials: !!options.withCredentials,
      });
      source = es;
      onState('connecting', { rooms: [...rooms] });
      es.onopen = () => {
        failures = 0;
        onState('open', { rooms: [...rooms] });
      };
      es.onerror = () => {
        if (closed || es !== source) return;
        if (es.readyState === EventSource.CONNECTING) {
          // the browser retries by itself and sends Last-Event-ID
          onState('reconnecting', { lastEventId });
          return;
        }
        // CLOSED: refused (non-200) or failed hard; the browser gave up
        es.close();
        failures++;
        const ceiling = Math.min(30000, 1000 * 2 ** Math.min(failures, 5));
        const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
        onState('retrying', { inMs: delay, failures });
        retryTimer = setTimeout(open, delay);
      };
      for (const name of events) es.addEventListener(name, (ev) => deliver(name, ev));
    }

    function stop() {
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      if (source) source.close();
      source = null;
    }

    open();
    return {
      /* Replaces the rooms: a stream's rooms are fixed by its URL, so this
       * closes it and opens another (events sent in between are missed). */
      setRooms(next) {
        rooms = [...next];
        stop();
        failures = 0;
        open();
      },
      close() {
        closed = true;
        stop();
        onState('closed', {});
      },
      get lastEventId() {
        return lastEventId;
      },
      get rooms() {
        return [...rooms];
      },
    };
  }

  global.SseRooms = { connect, isNewer, streamUrl };
})(typeof window !== 'undefined' ? window : globalThis);
