// SPDX-License-Identifier: MIT
/*
 * harness.mjs: what the browser tests share (used by resume.test.mjs and
 * tickets.test.mjs):
 * bounded waits, a sserooms process started with any arguments and
 * restartable on its port, a redis-server on a free port, Debian's chromium
 * through playwright-core with a fresh profile (and killing what is left of
 * it), and the pass/fail bookkeeping that prints one line per check.
 * SR_TEST_CHROMIUM names another chromium binary (not SSEROOMS_*: that
 * prefix is the server's, which warns about names it does not know).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const WEB_ROOT = path.resolve(HERE, '..', '..', 'web');
export const CHROMIUM = process.env.SR_TEST_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage', // containers often have a small /dev/shm
];
// generous: CI has 2 cores and the server may be an ASan build
export const SERVER_START_MS = 30000;
export const SERVER_STOP_MS = 15000;
export const STEP_MS = 30000;
export const RECONNECT_MS = 60000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/* ---- checks ------------------------------------------------------------ */

export class Aborted extends Error {}

export const results = { passed: 0, failed: 0 };

export function check(name, ok, detail) {
  if (ok) {
    results.passed++;
    console.log(`ok   ${name}`);
  } else {
    results.failed++;
    console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`);
  }
  return ok;
}

// One step the rest depends on: it passes, or it is a failed check that ends the run.
export async function must(name, fn) {
  let value;
  try {
    value = await fn();
  } catch (err) {
    check(name, false, err.message.split('\n')[0]);
    throw new Aborted(name);
  }
  check(name, true);
  return value;
}

/* ---- processes --------------------------------------------------------- */

// A child process whose output is kept (the last 64 KiB) and which waits
// for a ready line.
class Child {
  constructor(name) {
    this.name = name;
    this.proc = null;
    this.log = '';
  }

  record(chunk) {
    this.log = (this.log + chunk).slice(-65536);
  }

  async spawnReady(bin, args, readyRe) {
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => resolve({ code, signal }));
      proc.on('error', (err) => {
        proc.failed = true; // could not be started at all: no 'exit' follows
        resolve({ code: null, signal: null, error: err.message });
      });
    });
    const ready = new Promise((resolve, reject) => {
      let out = '';
      const take = (d) => {
        this.record(String(d));
        out += String(d);
        const m = readyRe.exec(out);
        if (m) resolve(m);
      };
      proc.stdout.on('data', take);
      proc.stderr.on('data', take);
      proc.exited.then(({ code, signal, error }) => {
        if (error) return reject(new Error(`cannot run ${bin}: ${error}`));
        const err = new Error(`${this.name} exited before it was ready (code ${code}, signal ${signal})`);
        err.exitedEarly = true;
        reject(err);
      });
    });
    try {
      return await withTimeout(ready, SERVER_START_MS, `${this.name} start`);
    } catch (err) {
      if (this.alive()) await this.stop();
      throw err;
    }
  }

  alive() {
    const p = this.proc;
    return p !== null && !p.failed && p.exitCode === null && p.signalCode === null;
  }

  // SIGTERM, then SIGKILL if it does not stop in time; resolves with how it ended.
  async stop() {
    if (!this.proc) return null;
    const proc = this.proc;
    if (this.alive()) proc.kill('SIGTERM');
    try {
      return await withTimeout(proc.exited, SERVER_STOP_MS, `${this.name} stop`);
    } catch (err) {
      proc.kill('SIGKILL');
      await withTimeout(proc.exited, 5000, `${this.name} kill`).catch(() => {});
      return { code: null, signal: 'SIGKILL', timedOut: true };
    }
  }
}

// `sserooms --host 127.0.0.1 --port P <args>`, restartable on its port
// (https when its ready line says so: with --tls-cert).
export class Server extends Child {
  constructor(bin, args, name = 'sserooms') {
    super(name);
    this.bin = bin;
    this.args = args;
    this.port = 0;
    this.scheme = 'http';
  }

  async start(port) {
    // the same port right after a stop: retry a few times if it is not free yet
    for (let attempt = 1; ; attempt++) {
      try {
        const m = await this.spawnReady(this.bin,
          [...this.args, '--host', '127.0.0.1', '--port', String(port)],
          /listening on (https?):\/\/127\.0\.0\.1:(\d+)/);
        this.scheme = m[1];
        this.port = Number(m[2]);
        return this.port;
      } catch (err) {
        if (port === 0 || attempt >= 10 || !err.exitedEarly) throw err;
        await sleep(300);
      }
    }
  }

  url(p) {
    return `${this.scheme}://127.0.0.1:${this.port}${p}`;
  }
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

// redis-server on a free port, persistence off, in a temporary directory.
export class Redis extends Child {
  constructor() {
    super('redis-server');
    this.port = 0;
    this.dir = null;
  }

  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sserooms-redis-'));
    for (let attempt = 1; ; attempt++) {
      this.port = await freePort();
      try {
        await this.spawnReady('redis-server',
          ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
            '--dir', this.dir],
          /Ready to accept connections/);
        return this.port;
      } catch (err) {
        if (attempt >= 5 || !err.exitedEarly) throw err;
      }
    }
  }

  url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async stop() {
    const ended = await super.stop();
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
    return ended;
  }
}

/* ---- chromium ---------------------------------------------------------- */

// options: more launchPersistentContext options (ignoreHTTPSErrors for a
// test's own certificate).
export async function launchChromium(res, options = {}) {
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sserooms-chromium-'));
  res.profileDir = profileDir;
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 800 },
    timeout: 60000,
    ...options,
  });
  res.context = context;
  context.setDefaultTimeout(STEP_MS);
  return context;
}

// The processes of our own chromium: their command line names our profile.
function chromiumPids(profileDir) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes(`--user-data-dir=${profileDir}`)) pids.push(Number(entry));
    } catch (err) {
      /* gone already */
    }
  }
  return pids;
}

// Closes chromium (killing what is left of it) and stops the children.
export async function cleanup(res) {
  if (res.context) {
    await withTimeout(res.context.close(), 15000, 'chromium close').catch((err) => {
      console.log(`note: ${err.message}`);
    });
  }
  if (res.profileDir) {
    for (const pid of chromiumPids(res.profileDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        /* already gone */
      }
    }
    fs.rmSync(res.profileDir, { recursive: true, force: true, maxRetries: 3 });
  }
  for (const child of res.children || []) if (child.alive()) await child.stop();
}

/* ---- the demo page ----------------------------------------------------- */

export async function waitStatus(page, state, ms) {
  await page.waitForSelector(`#status[data-state="${state}"]`, { timeout: ms });
}

export async function joinRoom(page, name, room) {
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Your name').press('Tab'); // commits it (change event)
  await page.getByLabel('Room to join').fill(room);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.locator('#room-list button[aria-pressed="true"]', { hasText: room }).waitFor({ timeout: STEP_MS });
  await waitStatus(page, 'open', STEP_MS);
}

// Waits until the page lists a chat message with exactly this text.
export async function waitForMessage(page, text, ms) {
  await page.waitForFunction((t) => Array.from(document.querySelectorAll('#messages li.message .message-text'))
    .some((p) => p.textContent === t), text, { timeout: ms });
}

// The texts of the chat messages the page lists, in order.
export async function messageTexts(page) {
  return page.$$eval('#messages li.message .message-text', (ps) => ps.map((p) => p.textContent));
}

// POST /publish as a chat message of `from` in `room` (what the page shows).
export async function publishChat(server, room, from, text) {
  const res = await fetch(server.url('/publish'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ room, event: 'message', data: { from, text, room } }),
    signal: AbortSignal.timeout(5000),
  });
  return res.status;
}
