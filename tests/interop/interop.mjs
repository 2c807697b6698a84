// SPDX-License-Identifier: MIT
// interop.mjs: sserooms against the real Node.js reference adapter
// (@opinionated-machine/sse-rooms-redis@2.0.0, its dist/RedisAdapter.js, on
// ioredis) through one real redis-server, checked byte for byte.
//
// usage: node interop.mjs --sserooms PATH --redis-server PATH
//
// The expected bytes are computed here the way the reference computes them:
// the Redis envelope is JSON.stringify({v:1, m, n, meta?}) (exactly what
// RedisAdapter.publish writes) and the SSE frame is the reference's frame
// layout (wire-format.md section 1) with data = JSON.stringify(m.data).
// Directions covered: reference publish -> sserooms SSE client (exact frame,
// numeric id/event written as JavaScript prints them),
// sserooms POST /publish -> reference onMessage handler (room, message, node
// id, meta) plus the raw envelope text on the channel, channel prefixes and
// node ids on both sides (own-node envelopes dropped, others delivered),
// reference-style multi-room publishes de-duplicated by id, and sserooms's
// multi-room envelopes (with their "dedup" key) read by a reference node
// that delivers them by its own rules (a model of its room manager, which
// is not installable here: wire-format.md section 6) while a sserooms node
// delivers them once.
// "Not delivered" is always proven with a sentinel published afterwards on
// the same path: Redis keeps per-connection order, so once the sentinel is
// there, anything published before it has been processed.
// Prints one line per check, then "N passed, M failed"; exits 1 on failure.
import assert from 'node:assert';
import Redis from 'ioredis';
import { RedisAdapter } from './node_modules/@opinionated-machine/sse-rooms-redis/dist/RedisAdapter.js';
import { openSse, postJson, sleep, startRedis, startSserooms, stopProcess, waitUntil } from './harness.mjs';

const WAIT_MS = 8000;          // one delivery (generous for ASan builds)
const OVERALL_MS = 180000;     // the whole run

// ---------------------------------------------------------------- results
let passed = 0;
let failed = 0;
function record(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   - ${name}`);
  } else {
    failed++;
    console.log(`FAIL - ${name}: ${String(detail).replace(/\n/g, '\n       ')}`);
  }
}
async function check(name, fn) {
  try {
    await fn();
    record(name, true);
  } catch (err) {
    record(name, false, err && err.message ? err.message : err);
  }
}
let finished = false;
function finish() {
  finished = true;
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}
// Node also exits when nothing is left to wait for; that must not pass.
process.on('exit', () => {
  if (finished) return;
  console.log('FAIL - the run ended before all checks completed');
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exitCode = 1;
});

// ------------------------------------------------ the reference's bytes
// A message with only the given fields, in the reference broadcaster's key
// order (event, data, id, retry).
function message(fields) {
  const m = {};
  for (const k of ['event', 'data', 'id', 'retry']) {
    if (Object.prototype.hasOwnProperty.call(fields, k)) m[k] = fields[k];
  }
  return m;
}

// What RedisAdapter.publish writes to the channel.
function referenceEnvelope(m, nodeId, meta) {
  const payload = { v: 1, m, n: nodeId };
  if (meta !== undefined) payload.meta = meta;
  return JSON.stringify(payload);
}

// sserooms's envelope of a multi-room publish: the reference's bytes with
// the de-duplication key as a last top-level member.
function withDedup(envelope, key) {
  return key === undefined ? envelope : `${envelope.slice(0, -1)},"dedup":${JSON.stringify(key)}}`;
}

// The "dedup" key of an envelope: "<16 hex>:<counter>", required.
function dedupKeyOf(payload) {
  const key = JSON.parse(payload.toString('utf8')).dedup;
  assert.match(String(key), /^[0-9a-f]{16}:[0-9]+$/, `dedup key of ${show(payload)}`);
  return key;
}

// The SSE frame the reference writes for a message (wire-format.md 1).
function referenceFrame(m) {
  let s = '';
  if (m.id !== undefined && m.id !== '') s += `id: ${m.id}\n`;
  if (m.event !== undefined && m.event !== '') s += `event: ${m.event}\n`;
  for (const line of JSON.stringify(m.data).split('\n')) s += `data: ${line}\n`;
  if (m.retry !== undefined && m.retry !== 0) s += `retry: ${m.retry}\n`;
  return `${s}\n`;
}

const show = (buf) => JSON.stringify(Buffer.isBuffer(buf) ? buf.toString('utf8') : buf);

// Waits until the stream holds exactly `frames` after what earlier checks
// consumed; on any outcome moves past what arrived, so that one failure does
// not shift every later comparison.
async function expectFrames(stream, frames) {
  const expected = Buffer.from(frames.join(''), 'utf8');
  const start = stream.consumed || 0;
  await stream.waitForLength(start + expected.length, WAIT_MS);
  let got = stream.bytes().subarray(start);
  if (!got.equals(expected)) {
    await sleep(100);
    got = stream.bytes().subarray(start);
  }
  stream.consumed = stream.length;
  if (!got.equals(expected)) {
    throw new Error(`stream bytes differ\n  expected ${show(expected)}\n  received ${show(got)}`);
  }
}

// ------------------------------------------------------------ redis side
const redisClients = [];
function redisClient(port) {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 2, lazyConnect: false });
  client.on('error', () => {}); // reported through the failing command instead
  redisClients.push(client);
  return client;
}

// A reference adapter with its own pub/sub connections, recording every
// call of its message handler.
async function referenceNode(port, config) {
  const adapter = new RedisAdapter({ pubClient: redisClient(port), subClient: redisClient(port), ...config });
  const received = [];
  adapter.onMessage((room, m, nodeId, meta) => { received.push({ room, m, nodeId, meta }); });
  await adapter.connect();
  return { adapter, received };
}

// A plain subscriber keeping the exact bytes of every payload.
async function rawSubscriber(port, channels) {
  const sub = redisClient(port);
  const received = [];
  sub.on('messageBuffer', (channel, payload) => received.push({ channel: channel.toString('utf8'), payload }));
  await sub.subscribe(...channels);
  return received;
}

async function waitSubscribers(cmd, channel, count) {
  await waitUntil(`${count} subscriber(s) on ${channel}`, async () => {
    const reply = await cmd.pubsub('NUMSUB', channel);
    return Number(reply[1]) >= count;
  }, WAIT_MS);
}

async function waitCount(list, n, what) {
  await waitUntil(what, () => list.length >= n, WAIT_MS);
}

// ------------------------------------------------------------- the checks
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--sserooms') opts.sserooms = argv[++i];
    else if (argv[i] === '--redis-server') opts.redisServer = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!opts.sserooms || !opts.redisServer) {
    throw new Error('usage: node interop.mjs --sserooms PATH --redis-server PATH');
  }
  return opts;
}

// Values whose JSON text JavaScript writes in its own way.
const DATA_VALUES = [
  ['object', { from: 'system', text: 'Hi' }],
  ['0.1', 0.1],
  ['1e21 (text 1e+21)', 1e21],
  ['0.1+0.2', 0.1 + 0.2],
  ['extreme numbers', [5e-324, 1.7976931348623157e308, -0, 2 ** 53 + 2, 1e-7, 123e-20, -1.5e-9]],
  ['unicode string', 'héllo wörld ☃ 日本語 😀'],
  ['escapes', 'q " b \\ n \n r \r t \t nul \u0000 us \u001f del \u007f ls \u2028 ps \u2029 /'],
  ['lone surrogates', 'a \ud800 b \udfff c'],
  ['nested', { a: [1, { b: null, c: [[], {}] }], 'k"ey': { 'ünï': true, f: false }, n: -12.5e3 }],
  ['null', null],
  ['"[DONE]"', '[DONE]'],
  ['empty string', ''],
  ['true', true],
  ['empty array', []],
];

async function nodeToSserooms(ctx) {
  const { s1, refA } = ctx;
  const room = 'interop:r1';
  const stream = await openSse(s1.port, [room]);
  ctx.streams.push(stream);
  await waitSubscribers(ctx.cmd, `sse:room:${room}`, 1);

  const cases = [];
  DATA_VALUES.forEach(([label, data], i) => {
    cases.push([`data ${label}`, { event: 'message', data, id: `d${i}` }]);
  });
  cases.push(
    ['retry', { event: 'tick', data: 1, id: 'r1', retry: 5000 }],
    ['retry 0 is not written', { event: 'tick', data: 2, retry: 0 }],
    ['no event (SSEMessage.event is optional)', { data: { x: 1 }, id: 'ne1' }],
    ['no id and no event', { data: 'bare' }],
    ['empty event name is not written', { event: '', data: 3 }],
    ['message keys in another order', { retry: 1500, data: [1, 2], id: 'o1', event: 'reordered' }],
    ['non-ASCII id and event', { event: 'ëvent', data: 1, id: 'ïd-☃' }],
    ['with meta (not sent to clients)', { event: 'm', data: { x: 1 }, id: 'meta1' }, { tenant: 't1', tags: ['a', 'b'] }],
    ['with meta null', { event: 'm', data: 2, id: 'meta2' }, null],
    // the reference forwards m as parsed and writes `id: ${id}`
    ['numeric id and event (written as JavaScript prints them)', { event: 7, data: 1, id: 5 }],
    ['numeric id 1e21 and event 0.5', { event: 0.5, data: 1, id: 1e21 }],
  );
  for (const [label, m, meta] of cases) {
    await check(`reference publish -> sserooms frame: ${label}`, async () => {
      await refA.adapter.publish(room, m, meta);
      await expectFrames(stream, [referenceFrame(m)]);
    });
  }
}

async function sseroomsToNode(ctx) {
  const { s1, refA } = ctx;
  const rooms = ['interop:r2', 'interop:r3'];
  for (const r of rooms) await refA.adapter.subscribe(r);
  const raw = await rawSubscriber(ctx.port, rooms.map((r) => `sse:room:${r}`));

  // POST /publish on s1; expects one envelope per room, in order.
  const publishAndCompare = async (bodyText, targetRooms, m, meta) => {
    const handlerStart = refA.received.length;
    const rawStart = raw.length;
    const res = await postJson(s1.port, '/publish', bodyText);
    assert.strictEqual(res.status, 200, `POST /publish answered ${res.status}: ${res.body}`);
    assert.ok(Number.isInteger(JSON.parse(res.body).delivered), `POST /publish answered ${res.body}`);
    const n = targetRooms.length;
    await waitCount(refA.received, handlerStart + n, `${n} call(s) of the reference onMessage handler`);
    await waitCount(raw, rawStart + n, `${n} envelope(s) on the raw subscriber`);
    const expectedEnvelope = referenceEnvelope(m, 'c-node-1', meta);
    const parsed = JSON.parse(expectedEnvelope); // what JSON.parse gives the handler
    const calls = refA.received.slice(handlerStart);
    const envelopes = raw.slice(rawStart);
    assert.strictEqual(calls.length, n, `handler called ${calls.length} times, expected ${n}`);
    // several rooms: the reference's bytes plus sserooms's "dedup" key, last,
    // the same in every copy (the handler does not see it)
    const key = n > 1 ? dedupKeyOf(envelopes[0].payload) : undefined;
    targetRooms.forEach((r, i) => {
      assert.strictEqual(calls[i].room, r, 'room given to the handler');
      assert.deepStrictEqual(calls[i].m, parsed.m, 'message given to the handler');
      assert.strictEqual(calls[i].nodeId, 'c-node-1', 'node id given to the handler');
      assert.deepStrictEqual(calls[i].meta, parsed.meta, 'meta given to the handler');
      assert.strictEqual(envelopes[i].channel, `sse:room:${r}`, 'channel');
      const want = Buffer.from(withDedup(expectedEnvelope, key), 'utf8');
      if (!envelopes[i].payload.equals(want)) {
        throw new Error(`envelope bytes differ\n  expected ${show(want)}\n  received ${show(envelopes[i].payload)}`);
      }
    });
  };

  const full = { event: 'update', data: { a: [1, 2.5, 'x'], ok: true }, id: '42', retry: 3000 };
  const fullMeta = { tenant: 't1', n: [1, 2], nested: { deep: null } };
  await check('sserooms publish -> reference handler + envelope: event, data, id, retry, meta', () =>
    publishAndCompare(JSON.stringify({ room: rooms[0], ...full, meta: fullMeta }), [rooms[0]], message(full), fullMeta));
  await check('sserooms publish -> reference handler + envelope: event and data only (no meta key)', () =>
    publishAndCompare(JSON.stringify({ room: rooms[0], event: 'plain', data: 7 }), [rooms[0]],
      message({ event: 'plain', data: 7 }), undefined));
  for (const [label, data] of DATA_VALUES) {
    const m = message({ event: 'v', data, id: `v-${label}` });
    await check(`sserooms publish -> reference handler + envelope: data ${label}`, () =>
      publishAndCompare(JSON.stringify({ room: rooms[0], event: m.event, data, id: m.id }), [rooms[0]], m, undefined));
  }
  {
    // Body keys in an unusual order: the envelope still has the reference's layout.
    const m = message({ event: 'shuffled', data: { z: 1, a: 2 }, id: 's1', retry: 250 });
    const meta = { k: 'v' };
    const body = `{"meta":${JSON.stringify(meta)},"retry":250,"data":{"z":1,"a":2},"room":"${rooms[0]}","id":"s1","event":"shuffled"}`;
    await check('sserooms publish -> reference handler + envelope: request keys in another order', () =>
      publishAndCompare(body, [rooms[0]], m, meta));
  }
  {
    const m = message({ event: 'multi', data: { k: 1 }, id: 'mr-1' });
    await check('sserooms publish to rooms [r2, r3] -> one envelope per room, reference layout', () =>
      publishAndCompare(JSON.stringify({ rooms, event: 'multi', data: { k: 1 }, id: 'mr-1' }), rooms, m, undefined));
  }
}

async function prefixes(ctx) {
  const { s1, s2, refA, refP } = ctx;
  // sserooms with --channel-prefix app1:rooms: subscribes under that prefix.
  const onS2 = await openSse(s2.port, ['p1']);
  const onS1 = await openSse(s1.port, ['p1']);
  ctx.streams.push(onS2, onS1);
  await check('sserooms --channel-prefix app1:rooms: subscribes app1:rooms:p1 (and s1 sse:room:p1)', async () => {
    await waitSubscribers(ctx.cmd, 'app1:rooms:p1', 1);
    await waitSubscribers(ctx.cmd, 'sse:room:p1', 1);
    const [, n] = await ctx.cmd.pubsub('NUMSUB', 'sse:room:p1');
    assert.strictEqual(Number(n), 1, 'only s1 is subscribed to sse:room:p1');
  });

  const x = { event: 'px', data: { prefix: 'app1' }, id: 'px1' };
  const y = { event: 'py', data: { prefix: 'default' }, id: 'py1' };
  const z = { event: 'pz', data: 'sentinel', id: 'pz1' };
  const w = { event: 'pw', data: 'sentinel', id: 'pw1' };
  await check('reference (prefix app1:rooms:) -> sserooms (prefix app1:rooms:): exact frame', async () => {
    await refP.adapter.publish('p1', x);
    await expectFrames(onS2, [referenceFrame(x)]);
  });
  await check('reference (default prefix) -> sserooms (default prefix), not the app1 node', async () => {
    await refA.adapter.publish('p1', y);
    await refP.adapter.publish('p1', z);
    await expectFrames(onS1, [referenceFrame(y)]);
    await expectFrames(onS2, [referenceFrame(z)]);
    await refA.adapter.publish('p1', w);
    await expectFrames(onS1, [referenceFrame(w)]);
  });

  // sserooms (app1 prefix) -> reference adapters: only the one with that prefix.
  await refP.adapter.subscribe('p2');
  await refA.adapter.subscribe('p2');
  const raw = await rawSubscriber(ctx.port, ['app1:rooms:p2']);
  await check('sserooms (prefix app1:rooms:) publish -> reference (prefix app1:rooms:) only', async () => {
    const pStart = refP.received.length;
    const aStart = refA.received.length;
    const m = message({ event: 'fromS2', data: { hello: 'app1' }, id: 'fs2' });
    const meta = { scope: 'app1' };
    const res = await postJson(s2.port, '/publish', JSON.stringify({ room: 'p2', ...m, meta }));
    assert.strictEqual(res.status, 200, res.body);
    await waitCount(refP.received, pStart + 1, 'the app1 reference handler');
    await waitCount(raw, 1, 'the envelope on app1:rooms:p2');
    assert.deepStrictEqual(refP.received.slice(pStart), [{ room: 'p2', m, nodeId: 'c-node-2', meta }]);
    const want = Buffer.from(referenceEnvelope(m, 'c-node-2', meta), 'utf8');
    assert.ok(raw[0].payload.equals(want), `envelope ${show(raw[0].payload)} != ${show(want)}`);
    // sentinel through s1 (default prefix): refA must see only it, not s2's message
    const s = message({ event: 'fromS1', data: 1, id: 'fs1' });
    await postJson(s1.port, '/publish', JSON.stringify({ room: 'p2', ...s }));
    await waitCount(refA.received, aStart + 1, 'the default-prefix reference handler');
    assert.deepStrictEqual(refA.received.slice(aStart), [{ room: 'p2', m: s, nodeId: 'c-node-1', meta: undefined }]);
  });
}

async function nodeIds(ctx) {
  const { s1, s3, refA } = ctx;
  // s3 runs with the default node id: learn it from its envelopes.
  await refA.adapter.subscribe('uuid-room');
  let s3Id;
  await check('sserooms default node id is a UUID v4, stable across publishes', async () => {
    const start = refA.received.length;
    for (const id of ['u1', 'u2']) {
      const res = await postJson(s3.port, '/publish', JSON.stringify({ room: 'uuid-room', event: 'u', data: 0, id }));
      assert.strictEqual(res.status, 200, res.body);
    }
    await waitCount(refA.received, start + 2, 'two envelopes from s3');
    const [a, b] = refA.received.slice(start);
    assert.match(a.nodeId, UUID_V4);
    assert.strictEqual(b.nodeId, a.nodeId);
    s3Id = a.nodeId;
  });

  const c1 = await openSse(s1.port, ['own']);
  const c3 = await openSse(s3.port, ['own']);
  ctx.streams.push(c1, c3);
  await waitSubscribers(ctx.cmd, 'sse:room:own', 2);
  const ownOfS1 = new RedisAdapter({ pubClient: redisClient(ctx.port), subClient: redisClient(ctx.port), nodeId: 'c-node-1' });
  const echo = { event: 'echo', data: 'carries c-node-1', id: 'own-1' };
  const sentinel1 = { event: 'sentinel', data: 1, id: 'own-2' };
  await check('envelope with n = s1\'s node id: dropped by s1, delivered by s3', async () => {
    await ownOfS1.publish('own', echo);
    await refA.adapter.publish('own', sentinel1);
    await expectFrames(c3, [referenceFrame(echo), referenceFrame(sentinel1)]);
    await expectFrames(c1, [referenceFrame(sentinel1)]);
  });
  if (s3Id) {
    const ownOfS3 = new RedisAdapter({ pubClient: redisClient(ctx.port), subClient: redisClient(ctx.port), nodeId: s3Id });
    const echo3 = { event: 'echo', data: 'carries s3 id', id: 'own-3' };
    const sentinel2 = { event: 'sentinel', data: 2, id: 'own-4' };
    await check('envelope with n = s3\'s default node id: dropped by s3, delivered by s1', async () => {
      await ownOfS3.publish('own', echo3);
      await refA.adapter.publish('own', sentinel2);
      await expectFrames(c1, [referenceFrame(echo3), referenceFrame(sentinel2)]);
      await expectFrames(c3, [referenceFrame(sentinel2)]);
    });
  }
  const local = message({ event: 'local-first', data: { n: 1 }, id: 'own-5' });
  const sentinel3 = { event: 'sentinel', data: 3, id: 'own-6' };
  await check('sserooms publish reaches its own client once (its echo from Redis dropped) and s3 once', async () => {
    const res = await postJson(s1.port, '/publish', JSON.stringify({ room: 'own', ...local }));
    assert.strictEqual(res.status, 200, res.body);
    assert.deepStrictEqual(JSON.parse(res.body), { delivered: 1 }, 'POST /publish answer');
    await refA.adapter.publish('own', sentinel3);
    await expectFrames(c1, [referenceFrame(local), referenceFrame(sentinel3)]);
    await expectFrames(c3, [referenceFrame(local), referenceFrame(sentinel3)]);
  });
}

async function multiRoom(ctx) {
  const { s1, refA } = ctx;
  const both = await openSse(s1.port, ['m:a', 'm:b']);
  const onlyB = await openSse(s1.port, ['m:b']);
  ctx.streams.push(both, onlyB);
  await waitSubscribers(ctx.cmd, 'sse:room:m:a', 1);
  await waitSubscribers(ctx.cmd, 'sse:room:m:b', 1);
  // The reference broadcaster publishes one message once per target room.
  const broadcast = async (m, rooms) => { for (const r of rooms) await refA.adapter.publish(r, m); };

  const m1 = message({ event: 'multi', data: { n: 1 }, id: 'multi-1' });
  const after1 = message({ event: 'after', data: 2, id: 'multi-2' });
  await check('reference publishes one message (with id) to rooms a and b: a member of both gets it once', async () => {
    await broadcast(m1, ['m:a', 'm:b', 'm:c']);
    await broadcast(after1, ['m:b']);
    await expectFrames(both, [referenceFrame(m1), referenceFrame(after1)]);
    await expectFrames(onlyB, [referenceFrame(m1), referenceFrame(after1)]);
  });
  const noId = message({ event: 'noid', data: 3 });
  const after2 = message({ event: 'after', data: 4, id: 'multi-3' });
  await check('without an id there is no de-duplication (as the reference): a member of both gets it twice', async () => {
    await broadcast(noId, ['m:a', 'm:b']);
    await broadcast(after2, ['m:b']);
    await expectFrames(both, [referenceFrame(noId), referenceFrame(noId), referenceFrame(after2)]);
    await expectFrames(onlyB, [referenceFrame(noId), referenceFrame(after2)]);
  });
  // Concurrent publishers interleave: another message arrives between the
  // per-room copies. The member of both rooms still gets the first one once.
  const m3 = message({ event: 'split', data: { n: 5 }, id: 'multi-4' });
  const between = message({ event: 'between', data: 6, id: 'multi-5' });
  await check('per-room copies interleaved with another message: still once per connection', async () => {
    await broadcast(m3, ['m:a']);
    await broadcast(between, ['m:b']);
    await broadcast(m3, ['m:b']);
    await expectFrames(both, [referenceFrame(m3), referenceFrame(between)]);
    await expectFrames(onlyB, [referenceFrame(between), referenceFrame(m3)]);
  });
}

// The reference's delivery rules (wire-format.md section 2) over a
// RedisAdapter, as its room manager applies them to what the adapter hands
// over: every local connection in the message's room gets it, except that a
// connection skips an id it got already (the last 1000 ids per connection);
// a message without an id is not de-duplicated. Own-node envelopes dropped.
async function referenceRoomsNode(port, nodeId) {
  const adapter = new RedisAdapter({ pubClient: redisClient(port), subClient: redisClient(port), nodeId });
  const conns = [];
  const handled = [];
  adapter.onMessage((room, m, from) => {
    handled.push({ room, m, from });
    if (from === nodeId) return;
    for (const c of conns) {
      if (!c.rooms.has(room)) continue;
      if (m.id !== undefined) {
        if (c.seen.includes(m.id)) continue;
        c.seen.push(m.id);
        if (c.seen.length > 1000) c.seen.shift();
      }
      c.got.push(m);
    }
  });
  await adapter.connect();
  const connect = async (rooms) => {
    const c = { rooms: new Set(rooms), seen: [], got: [] };
    conns.push(c);
    for (const r of rooms) await adapter.subscribe(r);
    return c;
  };
  return { adapter, connect, handled };
}

// sserooms's multi-room envelopes carry a "dedup" key: a reference node
// reads them as before and delivers per its own rules (once with an id,
// once per room without), while a sserooms node delivers once either way.
async function dedupKey(ctx) {
  const { s1, s3 } = ctx;
  const rooms = ['k:a', 'k:b', 'k:c'];
  const ref = await referenceRoomsNode(ctx.port, 'ref-rooms-1');
  const refBoth = await ref.connect(rooms);
  const onS3 = await openSse(s3.port, rooms);
  ctx.streams.push(onS3);
  for (const r of rooms) await waitSubscribers(ctx.cmd, `sse:room:${r}`, 2);
  const raw = await rawSubscriber(ctx.port, rooms.map((r) => `sse:room:${r}`));

  const publish = async (m) => {
    const res = await postJson(s1.port, '/publish', JSON.stringify({ rooms, ...m }));
    assert.strictEqual(res.status, 200, res.body);
  };
  const withId = message({ event: 'dd', data: { n: 1 }, id: 'dd-1' });
  const noId = message({ event: 'dd', data: { n: 2 } });
  const sentinel = message({ event: 'sentinel', data: 0, id: 'dd-s' });
  const refStart = ref.handled.length;
  await check('sserooms 3-room publish: one "dedup" key in every copy, the reference layout otherwise', async () => {
    const start = raw.length;
    await publish(withId);
    await waitCount(raw, start + 3, 'three envelopes');
    const copies = raw.slice(start);
    const key = dedupKeyOf(copies[0].payload);
    copies.forEach((c, i) => {
      assert.strictEqual(c.channel, `sse:room:${rooms[i]}`);
      const want = withDedup(referenceEnvelope(withId, 'c-node-1'), key);
      assert.strictEqual(c.payload.toString('utf8'), want);
    });
  });
  await check('reference node reads the keyed envelopes: with an id, its connection in all rooms gets it once', async () => {
    await waitUntil('the reference handler saw 3 copies', () => ref.handled.length >= refStart + 3, WAIT_MS);
    ref.handled.slice(refStart).forEach((h, i) => {
      assert.strictEqual(h.room, rooms[i]);
      assert.deepStrictEqual(h.m, withId, 'message as the reference reads it');
      assert.strictEqual(h.from, 'c-node-1');
    });
    assert.deepStrictEqual(refBoth.got, [withId]);
  });
  await check('reference node, no id: per its rules once per room (3 copies), message intact', async () => {
    refBoth.got.length = 0;
    await publish(noId);
    await publish({ ...sentinel, rooms: undefined, room: 'k:c' });
    await waitUntil('the sentinel at the reference connection',
      () => refBoth.got.some((m) => m.id === 'dd-s'), WAIT_MS);
    assert.deepStrictEqual(refBoth.got, [noId, noId, noId, sentinel]);
  });
  await check('sserooms node: the same two messages once each, no id line added', async () => {
    await expectFrames(onS3, [referenceFrame(withId), referenceFrame(noId), referenceFrame(sentinel)]);
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  // Referenced on purpose: a run that hangs still ends, as a failure.
  setTimeout(() => {
    record('whole run within the time limit', false, `still running after ${OVERALL_MS} ms`);
    finish();
  }, OVERALL_MS);

  const ctx = { streams: [] };
  const nodes = [];
  try {
    const redis = await startRedis(opts.redisServer);
    ctx.port = redis.port;
    ctx.cmd = redisClient(redis.port);
    const common = ['--redis', redis.url, '--heartbeat-ms', '0'];
    ctx.s1 = await startSserooms(opts.sserooms, [...common, '--node-id', 'c-node-1']);
    ctx.s2 = await startSserooms(opts.sserooms, [...common, '--node-id', 'c-node-2', '--channel-prefix', 'app1:rooms:']);
    ctx.s3 = await startSserooms(opts.sserooms, common);
    nodes.push(['s1', ctx.s1], ['s2', ctx.s2], ['s3', ctx.s3]);
    ctx.refA = await referenceNode(redis.port, { nodeId: 'ref-node-1' });
    ctx.refP = await referenceNode(redis.port, { nodeId: 'ref-node-2', channelPrefix: 'app1:rooms:' });

    const sections = [nodeToSserooms, sseroomsToNode, prefixes, nodeIds, multiRoom, dedupKey];
    for (const section of sections) {
      try {
        await section(ctx);
      } catch (err) {
        record(`${section.name} (setup)`, false, err && err.stack ? err.stack : err);
      }
    }
  } catch (err) {
    record('setup', false, err && err.stack ? err.stack : err);
  }

  for (const s of ctx.streams) s.close();
  for (const c of redisClients) c.disconnect();
  for (const [name, node] of nodes) {
    await check(`sserooms ${name} exits cleanly on SIGTERM`, async () => {
      const { code, signal } = await stopProcess(node.child);
      if (code !== 0) {
        throw new Error(`exit code ${code}, signal ${signal}\n${node.out.stderr.slice(-4000)}`);
      }
    });
  }
  finish();
}

main().catch((err) => {
  record('interop run', false, err && err.stack ? err.stack : err);
  finish();
});
