#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// node-publish.mjs: a Node.js service publishing into sserooms rooms through
// the reference Redis adapter, @opinionated-machine/sse-rooms-redis. The
// adapter writes the envelope sserooms nodes read from Redis
// ({"v":1,"m":{...},"n":"<node id>"} on channel "sse:room:<room>"), so every
// sserooms node started with --redis on the same Redis delivers the message
// to its streams in that room.
//
// Set-up, in your service's folder (the adapter 2.0.0 declares a peer
// dependency on opinionated-machine >= 10.1.0, which it does not need for
// this: hence --legacy-peer-deps and importing dist/RedisAdapter.js, which
// only imports node:crypto):
//   npm install --legacy-peer-deps @opinionated-machine/sse-rooms-redis@2.0.0 ioredis@5
//
// Usage:
//   REDIS_URL=redis://127.0.0.1:6379 node node-publish.mjs ROOM[,ROOM...] JSON [EVENT] [ID]
//   node node-publish.mjs chat '{"from":"billing","text":"invoice paid"}' message inv-42
// and a browser (or `curl -N 'http://127.0.0.1:8080/sse?room=chat'`) on any
// sserooms node started with --redis redis://127.0.0.1:6379 receives
//   id: inv-42
//   event: message
//   data: {"from":"billing","text":"invoice paid"}
//
// SSEROOMS_CHANNEL_PREFIX must match the nodes' --channel-prefix (default
// sse:room:).

import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Redis from 'ioredis';

// The package's exports hide dist/: find its folder through package.json
// (which it does export), then import the adapter's file directly.
const require = createRequire(import.meta.url);
const adapterDir = path.dirname(require.resolve('@opinionated-machine/sse-rooms-redis/package.json'));
const { RedisAdapter } = await import(pathToFileURL(path.join(adapterDir, 'dist', 'RedisAdapter.js')).href);

const [roomsArg, json, event = 'message', id] = process.argv.slice(2);
if (!roomsArg || json === undefined) {
  console.error('usage: node node-publish.mjs ROOM[,ROOM...] JSON [EVENT] [ID]');
  process.exit(2);
}
const rooms = roomsArg.split(',').filter(Boolean);
const data = JSON.parse(json); // sent as JSON.stringify(data): any JSON value

const pubClient = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', {
  maxRetriesPerRequest: 2,
});
pubClient.on('error', () => {}); // reported by the failing publish below
// The adapter wants a subscriber connection too; a service that only
// publishes never needs it to connect.
const subClient = pubClient.duplicate({ lazyConnect: true });
const adapter = new RedisAdapter({
  pubClient,
  subClient,
  channelPrefix: process.env.SSEROOMS_CHANNEL_PREFIX || 'sse:room:',
  // nodeId: 'billing-service',  // default: a random UUID
});

try {
  // One PUBLISH per room. With an id, a stream that is in several of these
  // rooms gets the message once (sserooms remembers recent ids per stream);
  // without one, once per room.
  const message = { event, data, ...(id ? { id } : {}) };
  for (const room of rooms) {
    await adapter.publish(room, message /* , { tenant: 'acme' } : meta, never sent to browsers */);
  }
  console.log(`published to ${rooms.length} room(s): ${rooms.join(', ')}`);
} catch (err) {
  console.error(`publish failed: ${err.message}`);
  process.exitCode = 1;
} finally {
  pubClient.disconnect();
  subClient.disconnect();
}

// Ordered ids shared with sserooms (POST /publish {"sequence": KEY}): the
// counter is the integer at Redis key KEY, and ids are
// `${epoch}-${String(n).padStart(12, '0')}`:
//   const n = await pubClient.incrby('chat-ids', 1);
//   const seqId = `0-${String(n).padStart(12, '0')}`;
// Unlike sserooms's own sequenced publishes (INCRBY and PUBLISH in one Lua
// script), two such writers may publish out of id order; browsers that keep
// a high-watermark (browser.js does) then drop the late one.
