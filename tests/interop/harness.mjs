// SPDX-License-Identifier: MIT
// harness.mjs: processes and sockets for the interop test (interop.mjs).
//
// Owns the child processes (one redis-server, several sserooms nodes): every
// child is recorded when spawned and SIGKILLed when this process exits for any
// reason (normal end, failure, uncaught error, SIGINT/SIGTERM), so a failing
// run leaves nothing behind. Also provides the raw-byte SSE client (plain
// http.get, the body kept as bytes exactly as the server wrote them), a JSON
// POST helper, and bounded waiting (every wait has a deadline).
// Plain ESM for Node >= 18; no test framework.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const children = new Set();
const tempDirs = new Set();

function killAllChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const dir of tempDirs) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  tempDirs.clear();
}

process.on('exit', killAllChildren);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.log(`interrupted by ${sig}`);
    killAllChildren();
    process.exit(1);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves with the first truthy value of `probe()` (sync or async), polled
// every `intervalMs`; rejects once `timeoutMs` has passed.
export async function waitUntil(what, probe, timeoutMs, intervalMs = 10) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// A port in 20000..32767 (below Linux's ephemeral range, so no outgoing
// connection takes it in the meantime) that can be bound on 127.0.0.1 now.
async function pickFreePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    const free = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port found in 20000..32767');
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  // a failed spawn (ENOENT, EACCES) is reported by waitForOutput, not thrown
  child.on('error', (err) => { child.spawnError = err; children.delete(child); });
  return child;
}

// Collects a child's output and lets callers wait for a line pattern.
function watchOutput(child) {
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (s) => { out.stdout += s; });
  child.stderr.on('data', (s) => { out.stderr += s; });
  return out;
}

function waitForOutput(child, out, pattern, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(out.stdout);
      if (m) { done(); resolve(m); }
    };
    const onExit = (code, signal) => {
      done();
      reject(new Error(`${what} exited (code ${code}, signal ${signal}) before it was ready\n` +
        `stdout: ${out.stdout}\nstderr: ${out.stderr}`));
    };
    const onError = (err) => {
      done();
      reject(new Error(`${what} could not be started: ${err.message}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what} not ready after ${timeoutMs} ms\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.stdout.off('data', check);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    if (child.spawnError) {
      onError(child.spawnError);
      return;
    }
    child.stdout.on('data', check);
    child.once('exit', onExit);
    child.once('error', onError);
    check();
  });
}

// Starts redis-server on a free port with no persistence; retries on another
// port when it loses a race for the port.
export async function startRedis(redisServerBin) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sserooms-interop-'));
  tempDirs.add(dir);
  let lastError;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await pickFreePort();
    const child = track(spawn(redisServerBin, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--logfile', '', '--daemonize', 'no',
    ], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const out = watchOutput(child);
    try {
      await waitForOutput(child, out, /ready to accept connections/i, 10000, 'redis-server');
      return { port, url: `redis://127.0.0.1:${port}`, child };
    } catch (err) {
      lastError = err;
      child.kill('SIGKILL');
    }
  }
  throw lastError;
}

// Starts one sserooms node on a free port (--port 0) and waits for its
// "listening on" line. SSEROOMS_* variables are removed from its environment
// so that only the flags given here configure it.
export async function startSserooms(bin, args) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SSEROOMS_')) env[k] = v;
  }
  const fullArgs = ['--host', '127.0.0.1', '--port', '0', ...args];
  const child = track(spawn(bin, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'], env }));
  const out = watchOutput(child);
  const m = await waitForOutput(child, out,
    /^sserooms \S+ listening on http:\/\/127\.0\.0\.1:(\d+)$/m, 20000, `sserooms ${fullArgs.join(' ')}`);
  return { child, out, port: Number(m[1]), args: fullArgs };
}

// SIGTERM, then waits (bounded) for the exit; SIGKILL if it does not come.
export async function stopProcess(child, timeoutMs = 15000) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return { code: child.exitCode, signal: child.signalCode };
  }
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  const timer = sleep(timeoutMs).then(() => null);
  const result = await Promise.race([exited, timer]);
  if (result) return result;
  child.kill('SIGKILL');
  await exited;
  return { code: null, signal: 'SIGTERM-timeout' };
}

// One SSE stream read as raw bytes. `bytes()` is everything received so far.
class RawSseStream {
  constructor(req, res) {
    this.req = req;
    this.res = res;
    this.chunks = [];
    this.length = 0;
    this.ended = false;
    this.waiters = new Set();
    res.on('data', (chunk) => {
      this.chunks.push(chunk);
      this.length += chunk.length;
      this.notify();
    });
    res.on('end', () => { this.ended = true; this.notify(); });
    res.on('error', () => { this.ended = true; this.notify(); });
  }

  notify() {
    for (const w of this.waiters) w();
  }

  bytes() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] || Buffer.alloc(0);
  }

  // Resolves true once at least `n` bytes have arrived, false at the
  // deadline or when the stream ends first.
  waitForLength(n, timeoutMs) {
    return new Promise((resolve) => {
      const finish = (ok) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(ok);
      };
      const check = () => {
        if (this.length >= n) finish(true);
        else if (this.ended) finish(false);
      };
      const timer = setTimeout(() => finish(this.length >= n), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close() {
    this.req.destroy();
  }
}

// GET /sse?room=..&room=.. on 127.0.0.1:port; resolves when the response
// head has arrived.
export function openSse(port, rooms, timeoutMs = 10000) {
  const query = rooms.map((r) => `room=${encodeURIComponent(r)}`).join('&');
  return new Promise((resolve, reject) => {
    const req = http.get({
      host: '127.0.0.1', port, path: `/sse?${query}`, agent: false,
      headers: { Accept: 'text/event-stream' },
    }, (res) => {
      clearTimeout(timer);
      if (res.statusCode !== 200) {
        res.resume();
        req.destroy();
        reject(new Error(`GET /sse?${query} answered ${res.statusCode}`));
        return;
      }
      resolve(new RawSseStream(req, res));
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`GET /sse?${query}: no response head after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

// POST a body (string, sent as is) and resolve { status, body }.
export function postJson(port, urlPath, bodyText, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(bodyText, 'utf8');
    const req = http.request({
      host: '127.0.0.1', port, path: urlPath, method: 'POST', agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length },
    }, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, body: Buffer.concat(parts).toString('utf8') });
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`POST ${urlPath}: no answer after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end(payload);
  });
}
