#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/*
 * tickets.test.mjs: browser auth across nodes and reconnects (issue #17),
 * in Debian's chromium.
 *
 * Usage: node tickets.test.mjs <path to sserooms>
 *
 * Two sserooms nodes (HS256 auth, one redis-server) behind Debian's nginx,
 * configured with the shipped snippet packaging/nginx-sserooms.conf whose
 * upstream lists both nodes (round robin). The page is served from another
 * origin (http://localhost:<page port>, listed in --cors-origin; the
 * streams go to http://localhost:<nginx port>: cross-origin, same site).
 * It asks POST /tickets through nginx (a CORS preflight, Authorization
 * header) and opens new EventSource(...?ticket=..., {withCredentials:
 * true}). It receives a message; the node serving the stream is restarted;
 * the EventSource reconnects by itself (to either node, replaying the used
 * ticket's URL with the session cookie) and receives the next message. The
 * tickets live 2 s and the restart comes after that, so only the session
 * cookie can let the reconnect in.
 * Checked: no 401 anywhere in nginx's /sse log, the EventSource never
 * closed for good, the ticket is not in the log.
 */
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Aborted, CHROMIUM, RECONNECT_MS, Redis, STEP_MS, Server, check, cleanup, launchChromium, must,
  results, sleep, withTimeout,
} from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SNIPPET = path.resolve(HERE, '..', '..', 'packaging', 'nginx-sserooms.conf');
const WATCHDOG_MS = 270000;
const SECRET = 'browser-test-secret-of-32-bytes-or-more';
const ADMIN = 'browser-admin-key';
const PUBKEY = 'browser-publish-key';
// short, and waited out before the restart: the reconnect's ticket is then
// expired everywhere, so only the session cookie can let it in
const TICKET_TTL_MS = 2000;

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function hsToken(payload) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = b64url(crypto.createHmac('sha256', SECRET).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitPort(port, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port} after ${ms} ms`);
    await sleep(100);
  }
}

// nginx with the shipped snippet: its upstream lists both nodes, it listens
// on a free port, logs and temp paths in a fresh folder.
class Nginx {
  constructor() {
    this.name = 'nginx';
    this.log = '';
    this.proc = null;
  }

  async start(upstreamPorts) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sserooms-nginx-'));
    this.port = await freePort();
    let site = fs.readFileSync(SNIPPET, 'utf8');
    const main = [...site.matchAll(/^#main: (.*)$/gm)].map((m) => m[1]).join('\n');
    site = site.replace(/server 127\.0\.0\.1:8080;/,
      upstreamPorts.map((p) => `server 127.0.0.1:${p};`).join('\n    '));
    site = site.replace(/listen 80;/, `listen 127.0.0.1:${this.port};`);
    site = site.replace(/\/var\/log\/nginx\//g, `${this.dir}/`);
    this.sseLog = path.join(this.dir, 'sserooms-sse.log');
    const conf = `${main}
pid ${this.dir}/nginx.pid;
error_log ${this.dir}/error.log warn;
daemon off;
http {
  access_log ${this.dir}/access.log;
  client_body_temp_path ${this.dir}/body;
  proxy_temp_path ${this.dir}/proxy;
  fastcgi_temp_path ${this.dir}/fastcgi;
  uwsgi_temp_path ${this.dir}/uwsgi;
  scgi_temp_path ${this.dir}/scgi;
${site}
}
`;
    fs.writeFileSync(path.join(this.dir, 'nginx.conf'), conf);
    this.proc = spawn('nginx', ['-p', this.dir, '-c', path.join(this.dir, 'nginx.conf')],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', resolve));
    await waitPort(this.port, 20000);
  }

  alive() {
    return this.dir !== null && this.dir !== undefined; // stop() also removes its folder
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await withTimeout(this.exited, 10000, 'nginx stop').catch(() => this.proc.kill('SIGKILL'));
    }
    if (this.dir) {
      try { this.log += fs.readFileSync(path.join(this.dir, 'error.log'), 'utf8'); } catch (e) { /* none */ }
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
    this.dir = null;
  }
}

async function streams(port) {
  const r = await fetch(`http://127.0.0.1:${port}/stats`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  const j = await r.json();
  return j.streams;
}

async function publish(port, data) {
  const r = await fetch(`http://127.0.0.1:${port}/publish`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${PUBKEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ room: 'news', data }),
  });
  if (r.status !== 200) throw new Error(`publish answered ${r.status}: ${await r.text()}`);
}

async function run(serverBin, res, pageErrors) {
  const redis = new Redis();
  res.children.push(redis);
  await must('redis-server started', () => redis.start());
  const pagePort = await freePort();
  const pageOrigin = `http://localhost:${pagePort}`;
  const args = ['--redis', redis.url(), '--auth-alg', 'HS256', '--auth-secret', SECRET,
    '--admin-key', ADMIN, '--publish-key', PUBKEY, '--cors-origin', pageOrigin,
    '--trusted-proxy', '127.0.0.1/32', '--heartbeat-ms', '1000', '--threads', '1',
    '--ticket-ttl-ms', String(TICKET_TTL_MS)];
  const nodes = [new Server(serverBin, [...args, '--node-id', 'node-a'], 'node-a'),
    new Server(serverBin, [...args, '--node-id', 'node-b'], 'node-b')];
  for (const n of nodes) res.children.push(n);
  await must('two nodes started', async () => { for (const n of nodes) await n.start(0); });
  const nginx = new Nginx();
  res.children.push(nginx);
  await must('nginx started with the shipped snippet, both nodes upstream',
    () => nginx.start(nodes.map((n) => n.port)));
  const streamBase = `http://localhost:${nginx.port}`;

  // the app's page, on another origin
  const token = hsToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600, rooms: ['news'] });
  const html = `<!doctype html><meta charset="utf-8"><title>tickets</title><script>
window.got = []; window.errors = 0; window.opens = 0;
window.start = async () => {
  const r = await fetch(${JSON.stringify(streamBase)} + '/tickets', {method: 'POST',
    headers: {Authorization: 'Bearer ' + ${JSON.stringify(token)}, 'Content-Type': 'application/json'},
    body: JSON.stringify({rooms: ['news']})});
  if (r.status !== 200) throw new Error('POST /tickets: ' + r.status + ' ' + await r.text());
  const {ticket} = await r.json();
  const es = new EventSource(${JSON.stringify(streamBase)} + '/sse?room=news&ticket=' + ticket,
                             {withCredentials: true});
  window.es = es;
  es.onopen = () => { window.opens++; };
  es.onerror = () => { window.errors++; };
  es.onmessage = (e) => { window.got.push(JSON.parse(e.data)); };
};
</script>`;
  const pageServer = http.createServer((req, rsp) => {
    rsp.writeHead(200, { 'Content-Type': 'text/html' });
    rsp.end(html);
  });
  await new Promise((resolve) => pageServer.listen(pagePort, '127.0.0.1', resolve));
  res.pageServer = pageServer;

  const page = await res.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await must('page loaded from another origin', () => page.goto(`${pageOrigin}/`));
  await must('ticket through nginx (CORS preflight), EventSource withCredentials opened',
    () => page.evaluate(() => window.start()));
  await must('the stream is open', () => page.waitForFunction(() => window.opens >= 1, null,
    { timeout: STEP_MS }));
  await publish(nodes[0].port, 'm1');
  await must('message m1 received', () => page.waitForFunction(() => window.got.includes('m1'), null,
    { timeout: STEP_MS }));

  await sleep(TICKET_TTL_MS + 500);
  const counts = await Promise.all(nodes.map((n) => streams(n.port)));
  const serving = counts[0] >= 1 ? 0 : 1;
  check('one node serves the stream', counts[serving] === 1, `streams per node: ${counts}`);
  const other = 1 - serving;
  // restart the node that serves it: the browser reconnects through nginx
  const port = nodes[serving].port;
  await nodes[serving].stop();
  await must('the serving node restarted on its port', () => nodes[serving].start(port));
  await must('EventSource reconnected (a second open)', () => page.waitForFunction(
    () => window.opens >= 2, null, { timeout: RECONNECT_MS }));
  // wait until some node holds the stream again, then publish from the other one
  const until = Date.now() + STEP_MS;
  while (Date.now() < until) {
    const c = await Promise.all(nodes.map((n) => streams(n.port)));
    if (c[0] + c[1] >= 1) break;
    await sleep(100);
  }
  await publish(nodes[other].port, 'm2');
  await must('message m2 received after the reconnect', () => page.waitForFunction(
    () => window.got.includes('m2'), null, { timeout: STEP_MS }));
  const state = await page.evaluate(() => window.es.readyState);
  check('the EventSource never gave up (not CLOSED)', state !== 2, `readyState ${state}`);
  // nginx logs a stream when it ends: end the reconnected one, wait for its line
  await page.evaluate(() => window.es.close());
  let log = '';
  for (const end = Date.now() + STEP_MS; Date.now() < end; await sleep(100)) {
    log = fs.existsSync(nginx.sseLog) ? fs.readFileSync(nginx.sseLog, 'utf8') : '';
    if (log.trim().split('\n').filter(Boolean).length >= 2) break;
  }
  const lines = log.trim().split('\n').filter(Boolean);
  const refused = lines.filter((l) => / 401 /.test(l));
  check('no 401 on /sse through nginx', refused.length === 0, refused.join(' | '));
  check('at least two /sse requests (the first and the reconnect)', lines.length >= 2, `${lines.length}`);
  check('the ticket is not in the /sse log', !/ticket=/.test(log));
}

async function main() {
  const [serverBin] = process.argv.slice(2);
  if (!serverBin) {
    console.error('usage: node tickets.test.mjs <path to sserooms>');
    process.exit(2);
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`${CHROMIUM} not found: install Debian's chromium package (scripts/deps.sh test)`);
    process.exit(1);
  }
  const res = { children: [] };
  const finish = async (code) => {
    if (results.failed) for (const c of res.children) console.log(`--- ${c.name} output ---\n${c.log}`);
    if (res.pageServer) res.pageServer.close();
    await withTimeout(cleanup(res), 30000, 'cleanup').catch(() => {});
    console.log(`${results.passed} passed, ${results.failed} failed`);
    process.exit(code);
  };
  const watchdog = setTimeout(() => {
    check('the whole test finished in time', false, `still running after ${WATCHDOG_MS} ms`);
    finish(1);
  }, WATCHDOG_MS);
  const pageErrors = [];
  try {
    await must('chromium started (headless, fresh profile)', () => launchChromium(res));
    await run(path.resolve(serverBin), res, pageErrors);
    check('no JavaScript errors on the page', pageErrors.length === 0, pageErrors.join('; '));
  } catch (err) {
    if (!(err instanceof Aborted)) {
      check('test ran to the end', false, err.message.split('\n')[0]);
      console.log(String(err.stack || err));
    }
  }
  clearTimeout(watchdog);
  await finish(results.failed ? 1 : 0);
}

main();
