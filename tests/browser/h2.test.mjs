#!/usr/bin/env node
/* SPDX-License-Identifier: MIT */
/*
 * h2.test.mjs: EventSource over HTTP/2 in a real browser (issue #12).
 *
 * Usage: node h2.test.mjs <path to sserooms> <output folder>
 *
 * Makes a self-signed ECDSA P-256 certificate for 127.0.0.1 (openssl) and
 * starts `sserooms --tls-cert --tls-key` with it; Debian's chromium
 * (playwright-core, ignoring the certificate's issuer) opens a page on the
 * server, which opens 12 EventSources to 12 rooms. Over HTTP/1.1 a browser
 * would stall the 7th; over HTTP/2 all 12 are streams on one connection.
 * Checks: all 12 open; one POST /publish from the page (HTTP/2 too) to the
 * 12 rooms reaches every one of them; the page's resource entries report
 * nextHopProtocol "h2"; the server's /stats counts one HTTP/2 connection
 * with at least 12 streams; an EventSource closed by the page leaves its
 * room (RST_STREAM) while the others still receive.
 *
 * Every wait is bounded and a watchdog ends the run inside CTest's
 * timeout; chromium and the server are always stopped.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  Aborted, CHROMIUM, STEP_MS, Server, check, cleanup, launchChromium, must, results, withTimeout,
} from './harness.mjs';

const WATCHDOG_MS = 240000; // CTest's TIMEOUT is 300 s
const ROOMS = 12;

function makeCertificate(dir) {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { key, cert };
}

// The page's own view: how many EventSources are open and what each got.
async function streamState(page) {
  return page.evaluate(() => window.h2test.state());
}

async function run(bin, outDir, res) {
  const { key, cert } = makeCertificate(outDir);
  const server = new Server(bin, ['--tls-cert', cert, '--tls-key', key, '--threads', '1'], 'sserooms (TLS)');
  res.children.push(server);
  await must('sserooms with --tls-cert started', () => server.start(0));
  check('it listens on https', server.scheme === 'https', server.scheme);
  const context = await must('chromium started (headless, fresh profile)', () =>
    launchChromium(res, { ignoreHTTPSErrors: true }));
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await must('a page on the server loaded over HTTPS', () => page.goto(server.url('/healthz'), { waitUntil: 'load' }));

  await page.evaluate((n) => {
    const sources = [];
    const got = [];
    for (let i = 0; i < n; i++) {
      const es = new EventSource(`/sse?room=h2-${i}`);
      got.push([]);
      es.addEventListener('tick', (ev) => got[i].push(ev.data));
      sources.push(es);
    }
    window.h2test = {
      sources,
      state: () => ({
        open: sources.filter((es) => es.readyState === EventSource.OPEN).length,
        got: got.map((g) => g.slice()),
      }),
    };
  }, ROOMS);
  await must(`all ${ROOMS} EventSources open`, () => page.waitForFunction(
    (n) => window.h2test.state().open === n, ROOMS, { timeout: STEP_MS }));

  const rooms = Array.from({ length: ROOMS }, (_, i) => `h2-${i}`);
  const published = await page.evaluate(async (r) => {
    const res = await fetch('/publish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ rooms: r, event: 'tick', data: { n: 1 } }),
    });
    return { status: res.status, body: await res.json() };
  }, rooms);
  check('POST /publish from the page answered 200', published.status === 200, JSON.stringify(published));
  check(`it was delivered to ${ROOMS} streams`, published.body.delivered === ROOMS, JSON.stringify(published.body));
  await must(`all ${ROOMS} EventSources received it`, () => page.waitForFunction(
    (n) => window.h2test.state().got.filter((g) => g.includes('{"n":1}')).length === n, ROOMS,
    { timeout: STEP_MS }));

  // resource entries are added once a response's body is read
  await page.evaluate(async () => (await fetch('/stats')).text());
  await must('the page has a resource entry for /stats', () => page.waitForFunction(
    () => performance.getEntriesByType('resource').some((e) => e.name.endsWith('/stats')), null,
    { timeout: STEP_MS }));
  const protocols = await page.evaluate(() =>
    performance.getEntriesByType('resource').map((e) => `${e.name} ${e.nextHopProtocol}`));
  check('nextHopProtocol of every resource of the page (/publish, /stats) is h2',
    protocols.length >= 2 && protocols.every((p) => p.endsWith(' h2')), protocols.join(', '));
  const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
  check('the page itself came over h2', nav === 'h2', nav);

  const stats = await page.evaluate(async () => (await fetch('/stats')).json());
  check('the server counts one HTTP/2 connection', stats.http2 && stats.http2.connections === 1,
    JSON.stringify(stats.http2));
  check(`... carrying at least ${ROOMS} streams`, stats.http2 && stats.http2.streams >= ROOMS,
    JSON.stringify(stats.http2));

  // one EventSource closed: its room empties, the others go on
  await page.evaluate(() => window.h2test.sources[0].close());
  await must('the closed EventSource left its room', () => page.waitForFunction(async () => {
    const body = await (await fetch('/rooms')).json();
    return !(body.rooms || []).some((r) => r.name === 'h2-0');
  }, null, { timeout: STEP_MS, polling: 200 }));
  await page.evaluate(async (r) => {
    await fetch('/publish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ rooms: r, event: 'tick', data: { n: 2 } }),
    });
  }, rooms);
  await must(`the other ${ROOMS - 1} still receive`, () => page.waitForFunction(
    (n) => window.h2test.state().got.filter((g) => g.includes('{"n":2}')).length === n, ROOMS - 1,
    { timeout: STEP_MS }));
  check('no JavaScript errors on the page', pageErrors.length === 0, pageErrors.join('; '));
  await page.screenshot({ path: path.join(outDir, 'h2.png') }).catch(() => {});
  const ended = await server.stop();
  check('sserooms stopped on SIGTERM with status 0', ended && ended.code === 0 && !ended.timedOut,
    JSON.stringify(ended));
}

async function main() {
  const [serverBin, outDir] = process.argv.slice(2);
  if (!serverBin || !outDir) {
    console.error('usage: node h2.test.mjs <path to sserooms> <output folder>');
    process.exit(2);
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`${CHROMIUM} not found: install Debian's chromium package (scripts/deps.sh test)`);
    process.exit(1);
  }
  fs.mkdirSync(outDir, { recursive: true });
  const res = { children: [] };
  const finish = async (code) => {
    if (results.failed) for (const c of res.children) console.log(`--- ${c.name} output ---\n${c.log}`);
    await withTimeout(cleanup(res), 30000, 'cleanup').catch(() => {});
    console.log(`${results.passed} passed, ${results.failed} failed`);
    process.exit(code);
  };
  const watchdog = setTimeout(() => {
    check('the whole test finished in time', false, `still running after ${WATCHDOG_MS} ms`);
    finish(1);
  }, WATCHDOG_MS);
  try {
    await run(path.resolve(serverBin), outDir, res);
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
