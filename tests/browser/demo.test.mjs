#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/*
 * demo.test.mjs: the demo page (web/) tested in a real browser.
 *
 * Usage: node demo.test.mjs <path to sserooms> <screenshot.png>
 *
 * Starts `sserooms --demo --port 0`, drives Debian's chromium through
 * playwright-core (headless, off the network, a fresh temporary profile),
 * opens two pages that both join room `lobby`; page 1 posts and page 2 must
 * show the message. Then the server is stopped (SIGTERM) and started again
 * on the same port: both pages' EventSources must reconnect on their own,
 * and a second post must reach page 2. Page 2 is saved as a screenshot.
 *
 * Every wait is bounded, and a watchdog ends the run well inside CTest's
 * timeout; chromium and the server are always stopped, also on failure.
 * Prints one line per check and ends with "N passed, N failed". The
 * process, chromium and bookkeeping helpers are shared with
 * resume.test.mjs (harness.mjs).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  Aborted, CHROMIUM, RECONNECT_MS, STEP_MS, Server, WEB_ROOT, check, cleanup as cleanupAll,
  launchChromium, must, results, sleep, waitStatus, withTimeout,
} from './harness.mjs';

const WATCHDOG_MS = 240000; // CTest's TIMEOUT is 300 s

const MESSAGE_1 = 'hello from page 1';
const MESSAGE_2 = 'hello again from page 1, after the restart';

/* ---- helpers over pages and the HTTP API ------------------------------ */

async function lobbyMembers(server) {
  try {
    const res = await fetch(server.url('/rooms'), { signal: AbortSignal.timeout(5000) });
    const body = await res.json();
    const lobby = (body.rooms || []).find((r) => r.name === 'lobby');
    return lobby ? lobby.members : 0;
  } catch (err) {
    return -1;
  }
}

// Polls GET /rooms until room lobby has `want` members.
async function waitForLobby(server, want, ms) {
  const until = Date.now() + ms;
  let n = -1;
  while (Date.now() < until) {
    n = await lobbyMembers(server);
    if (n === want) return n;
    await sleep(200);
  }
  return n;
}

async function joinLobby(page, name) {
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Your name').press('Tab'); // commits it (change event)
  await page.getByLabel('Room to join').fill('lobby');
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  // lobby is listed as the current room and the reopened stream is open
  await page.locator('#room-list button[aria-pressed="true"]', { hasText: 'lobby' }).waitFor({ timeout: STEP_MS });
  await waitStatus(page, 'open', STEP_MS);
}

async function post(page, text) {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  // the page says how many streams the server delivered to
  await page.waitForFunction(
    () => /^(Sent|Not sent)/.test(document.getElementById('composer-feedback').textContent),
    null,
    { timeout: STEP_MS },
  );
  return page.textContent('#composer-feedback');
}

// Waits until the page lists a chat message with this text; returns the item's text.
async function waitForMessage(page, text, ms) {
  const item = page.locator('#messages li.message', { hasText: text });
  await item.first().waitFor({ state: 'visible', timeout: ms });
  return item.first().innerText();
}

/* ---- the test --------------------------------------------------------- */

async function run(serverBin, screenshotPath, res) {
  const server = new Server(serverBin, ['--demo', '--web-root', WEB_ROOT]);
  res.server = server;
  res.children = [server];
  const port = await must('sserooms --demo started on a free port', () => server.start(0));

  const context = await must('chromium started (headless, fresh profile)', () => launchChromium(res));

  const origin = `http://127.0.0.1:${port}`;
  const foreign = [];
  const pageErrors = [];
  const pages = [];
  for (let i = 0; i < 2; i++) {
    const page = i === 0 && context.pages().length ? context.pages()[0] : await context.newPage();
    page.on('request', (r) => {
      if (!r.url().startsWith(origin + '/')) foreign.push(r.url());
    });
    page.on('pageerror', (err) => pageErrors.push(`page ${i + 1}: ${err.message}`));
    pages.push(page);
  }
  const [page1, page2] = pages;
  res.page2 = page2;

  for (const [i, page] of pages.entries()) {
    const resp = await must(`page ${i + 1} loaded`, () => page.goto(origin + '/', { waitUntil: 'load' }));
    const type = resp ? resp.headers()['content-type'] || '' : '';
    check(`page ${i + 1} got / as HTML`, resp && resp.status() === 200 && type.startsWith('text/html'),
      resp ? `status ${resp.status()}, ${type}` : 'no response');
    await must(`page ${i + 1} opened its EventSource`, () => waitStatus(page, 'open', STEP_MS));
  }
  check('page title names sserooms', /sserooms/.test(await page1.title()), await page1.title());

  await must('page 1 joined lobby as Alice', () => joinLobby(page1, 'Alice'));
  await must('page 2 joined lobby as Bob', () => joinLobby(page2, 'Bob'));
  const members = await waitForLobby(server, 2, STEP_MS);
  check('GET /rooms: lobby has the 2 pages', members === 2, `members ${members}`);

  const feedback1 = await must('page 1 posted', () => post(page1, MESSAGE_1));
  check('publish delivered to both pages', /delivered to 2 streams/.test(feedback1), feedback1);
  const shown1 = await must(`page 2 shows "${MESSAGE_1}"`, () => waitForMessage(page2, MESSAGE_1, STEP_MS));
  check('page 2 shows it with its room, sender and time',
    shown1.includes('#lobby') && shown1.includes('Alice') && /\d\d:\d\d:\d\d/.test(shown1),
    JSON.stringify(shown1));
  const own1 = await must('page 1 shows its own message', () => waitForMessage(page1, MESSAGE_1, STEP_MS));
  check('page 1 marks it as its own', /\byou\b/i.test(own1), JSON.stringify(own1));

  // the node's stats arrive over the sserooms:stats room every second
  await must('page 2 stats panel shows the node stats (>= 2 streams)', () =>
    page2.waitForFunction(() => {
      const dd = document.querySelector('#stats-grid dd[data-stat="streams"]');
      return dd && !document.getElementById('stats-grid').hidden && Number(dd.textContent) >= 2;
    }, null, { timeout: STEP_MS }));

  // --- restart the server on the same port --------------------------------
  const ended = await server.stop();
  check('sserooms stopped on SIGTERM with status 0', ended && ended.code === 0 && !ended.timedOut,
    JSON.stringify(ended));
  for (const [i, page] of pages.entries()) {
    await must(`page ${i + 1} shows it is reconnecting`, () => waitStatus(page, 'reconnecting', STEP_MS));
  }
  await must(`sserooms started again on port ${port}`, () => server.start(port));
  for (const [i, page] of pages.entries()) {
    await must(`page ${i + 1} reconnected on its own`, () => waitStatus(page, 'open', RECONNECT_MS));
  }
  const members2 = await waitForLobby(server, 2, STEP_MS);
  check('GET /rooms after the restart: lobby has the 2 pages again', members2 === 2, `members ${members2}`);

  const feedback2 = await must('page 1 posted after the restart', () => post(page1, MESSAGE_2));
  check('publish after the restart delivered to both pages', /delivered to 2 streams/.test(feedback2), feedback2);
  const shown2 = await must('page 2 shows the message posted after the restart', () =>
    waitForMessage(page2, MESSAGE_2, STEP_MS));
  check('page 2 shows its sender', shown2.includes('Alice'), JSON.stringify(shown2));
  const reconnected = await page2.locator('#messages li.notice', { hasText: 'Reconnected' }).count();
  check('page 2 noted the reconnection in its list', reconnected >= 1, `${reconnected} notices`);
  const count1 = await page2.locator('#messages li.message', { hasText: MESSAGE_1 }).count();
  check('page 2 shows the first message exactly once', count1 === 1, `${count1} times`);

  // a fresh stats tick from the new server, so that the screenshot shows it live
  await page2.waitForFunction(() => document.getElementById('stats-age').classList.contains('is-live'),
    null, { timeout: STEP_MS }).catch(() => {});

  check('no JavaScript errors on the pages', pageErrors.length === 0, pageErrors.join('; '));
  check('the pages requested nothing outside their own origin', foreign.length === 0, foreign.join(' '));

  fs.mkdirSync(path.dirname(screenshotPath), { recursive: true });
  fs.rmSync(screenshotPath, { force: true });
  await must('screenshot of page 2 taken', () => page2.screenshot({ path: screenshotPath, timeout: STEP_MS }));
  let head = Buffer.alloc(0);
  let size = 0;
  try {
    size = fs.statSync(screenshotPath).size;
    head = fs.readFileSync(screenshotPath).subarray(0, 8);
  } catch (err) {
    /* checked below */
  }
  check(`screenshot saved to ${screenshotPath}`,
    size > 0 && head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
    `${size} bytes`);
}

async function cleanup(res) {
  await cleanupAll(res);
}

async function main() {
  const [serverBin, screenshotPath] = process.argv.slice(2);
  if (!serverBin || !screenshotPath) {
    console.error('usage: node demo.test.mjs <path to sserooms> <screenshot.png>');
    process.exit(2);
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`${CHROMIUM} not found: install Debian's chromium package (scripts/deps.sh test)`);
    process.exit(1);
  }
  const res = {};
  const watchdog = setTimeout(async () => {
    check('the whole test finished in time', false, `still running after ${WATCHDOG_MS} ms`);
    if (res.server) console.log(`--- sserooms output ---\n${res.server.log}`);
    await withTimeout(cleanup(res), 20000, 'cleanup').catch(() => {});
    console.log(`${results.passed} passed, ${results.failed} failed`);
    process.exit(1);
  }, WATCHDOG_MS);
  try {
    await run(path.resolve(serverBin), path.resolve(screenshotPath), res);
  } catch (err) {
    if (!(err instanceof Aborted)) {
      check('test ran to the end', false, err.message.split('\n')[0]);
      console.log(String(err.stack || err));
    }
  }
  if (results.failed && res.page2) {
    // what page 2 looked like when it failed, beside the screenshot it would have made
    const shot = path.resolve(screenshotPath).replace(/(\.png)?$/, '-failure.png');
    await res.page2.screenshot({ path: shot, timeout: 10000 }).then(
      () => console.log(`page 2 at the failure: ${shot}`), () => {});
  }
  if (results.failed && res.server) console.log(`--- sserooms output ---\n${res.server.log}`);
  await cleanup(res);
  clearTimeout(watchdog);
  console.log(`${results.passed} passed, ${results.failed} failed`);
  process.exit(results.failed ? 1 : 0);
}

main();
