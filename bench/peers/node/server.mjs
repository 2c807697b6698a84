// SPDX-License-Identifier: MIT
// server.mjs: the Node.js peer of bench/suite.sh — SSE rooms the way a Node
// user builds them: better-sse sessions on plain node:http, one better-sse
// Channel per room.
//
//   GET  /sse?room=NAME   a session registered to the room's channel
//   POST /publish         {"room":"r3","event":"message","data":{...}} (the
//                         sserooms body) -> channel.broadcast(data, event):
//                         better-sse serialises data with JSON.stringify, so
//                         the stream carries the same JSON text
//
// With --redis URL the rooms are shared between processes through the
// reference @opinionated-machine/sse-rooms-redis RedisAdapter (ioredis, one
// publishing and one subscribing connection), wired the way the reference
// room manager in opinionated-machine wires it (that framework is not on the
// registry reachable here, see bench/peers/README.md): a broadcast is
// delivered to the local channel, then adapter.publish(room, message); the
// adapter's messages from other nodes (n != own node id) are delivered
// locally with the sender's event id; the first local member of a room
// subscribes its channel, the last one leaving unsubscribes it.
//
// Heartbeats are off (keepAlive: null), as sserooms runs with
// --heartbeat-ms 0 in the benchmark. Prints
// "node-better-sse listening on http://127.0.0.1:PORT" once listening.
// usage: node server.mjs [--port N] [--host ADDR] [--redis URL]
//        [--channel-prefix P] [--node-id ID]
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { createChannel, createSession } from 'better-sse';

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', redis: null, channelPrefix: 'sse:room:', nodeId: randomUUID() };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${name} needs a value`);
    i++;
    if (name === '--port') opts.port = Number(value);
    else if (name === '--host') opts.host = value;
    else if (name === '--redis') opts.redis = value;
    else if (name === '--channel-prefix') opts.channelPrefix = value;
    else if (name === '--node-id') opts.nodeId = value;
    else throw new Error(`unknown option ${name}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const channels = new Map(); // room name -> better-sse Channel
let adapter = null;

async function startAdapter(url) {
  const [{ default: Redis }, { RedisAdapter }] = await Promise.all([
    import('ioredis'),
    // the package index also loads eventIdSequence.js, which imports the
    // opinionated-machine framework (not installable here): load the
    // adapter's own module, which imports only node:crypto
    import('./node_modules/@opinionated-machine/sse-rooms-redis/dist/RedisAdapter.js'),
  ]);
  const pubClient = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  const subClient = pubClient.duplicate();
  await Promise.all([pubClient.connect(), subClient.connect()]);
  const a = new RedisAdapter({ pubClient, subClient, channelPrefix: opts.channelPrefix, nodeId: opts.nodeId });
  a.onMessage((room, message, sourceNode) => {
    if (sourceNode === opts.nodeId) return; // delivered locally before publishing
    const channel = channels.get(room);
    if (channel) channel.broadcast(message.data, message.event ?? 'message', { eventId: message.id });
  });
  await a.connect();
  return a;
}

function roomChannel(room) {
  let channel = channels.get(room);
  if (channel) return channel;
  channel = createChannel();
  channels.set(room, channel);
  if (adapter) adapter.subscribe(room).catch((err) => console.error(`subscribe ${room}: ${err.message}`));
  channel.on('session-deregistered', () => {
    if (channel.sessionCount > 0 || channels.get(room) !== channel) return;
    channels.delete(room);
    if (adapter) adapter.unsubscribe(room).catch((err) => console.error(`unsubscribe ${room}: ${err.message}`));
  });
  return channel;
}

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function openStream(req, res, url) {
  const room = url.searchParams.get('room');
  if (!room) return reply(res, 400, { error: 'room required' });
  const session = await createSession(req, res, { keepAlive: null });
  if (session.isConnected) roomChannel(room).register(session);
}

function publish(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(res, 400, { error: 'invalid JSON' });
    }
    if (!body || typeof body.room !== 'string' || body.data === undefined) {
      return reply(res, 400, { error: 'room and data required' });
    }
    const event = typeof body.event === 'string' ? body.event : 'message';
    const id = randomUUID();
    const channel = channels.get(body.room);
    const delivered = channel ? channel.sessionCount : 0;
    if (channel) channel.broadcast(body.data, event, { eventId: id });
    if (adapter) {
      adapter.publish(body.room, { event, data: body.data, id })
        .then(() => reply(res, 202, { delivered }))
        .catch((err) => reply(res, 502, { error: err.message }));
      return;
    }
    reply(res, 202, { delivered });
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/sse') {
    openStream(req, res, url).catch((err) => { console.error(err); res.destroy(); });
  } else if (req.method === 'POST' && url.pathname === '/publish') {
    publish(req, res);
  } else {
    reply(res, 404, { error: 'not found' });
  }
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.requestTimeout = 0; // SSE responses stay open

if (opts.redis) adapter = await startAdapter(opts.redis);
server.listen(opts.port, opts.host, () => {
  const { address, port } = server.address();
  console.log(`node-better-sse listening on http://${address}:${port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
