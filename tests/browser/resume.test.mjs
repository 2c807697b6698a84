#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/*
 * resume.test.mjs: the demo page (web/) resuming after a server restart,
 * with history on (docs/resume.md), in Debian's chromium.
 *
 * Usage: node resume.test.mjs <path to sserooms> <output folder>
 *
 * 1. History in memory, one node: the page is in room `lobby` and gets
 *    messages; the server is restarted (a new epoch: its history is gone).
 *    The page must show the reset notice (earlier messages greyed out) and
 *    then get new messages; its own post (the server assigns the id) shows
 *    as its own. Screenshot: resume-memory.png.
 * 2. History in Redis, two nodes: the page is on node A; messages are
 *    published on node B, 20 a second, all along. Node A is stopped and
 *    started again meanwhile. The page must end up with every message, in
 *    order, each once, and no reset notice. Screenshot: resume-redis.png.
 *
 * Every wait is bounded and a watchdog ends the run inside CTest's timeout;
 * chromium, the servers and redis-server are always stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  Aborted, CHROMIUM, RECONNECT_MS, Redis, STEP_MS, Server, WEB_ROOT, check, cleanup,
  joinRoom, launchChromium, messageTexts, must, publishChat, results, sleep, waitForMessage,
  waitStatus, withTimeout,
} from './harness.mjs';

const WATCHDOG_MS = 270000; // CTest's TIMEOUT is 300 s
const REDIS_MESSAGES = 120; // published on node B while node A restarts
const REDIS_PERIOD_MS = 50;

async function openPage(context, server, name, pageErrors) {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  await must(`${name}: page loaded from ${server.name}`, () =>
    page.goto(server.url('/'), { waitUntil: 'load' }));
  await must(`${name}: EventSource open`, () => waitStatus(page, 'open', STEP_MS));
  await must(`${name}: joined lobby`, () => joinRoom(page, name, 'lobby'));
  return page;
}

async function restart(server, page, what) {
  const port = server.port;
  const ended = await server.stop();
  check(`${what}: stopped on SIGTERM with status 0`, ended && ended.code === 0 && !ended.timedOut,
    JSON.stringify(ended));
  await must(`${what}: the page shows it is reconnecting`, () => waitStatus(page, 'reconnecting', STEP_MS));
  return port;
}

async function inMemory(bin, context, res, outDir, pageErrors) {
  const server = new Server(bin, ['--demo', '--web-root', WEB_ROOT, '--history', '1000'], 'node (memory)');
  res.children.push(server);
  await must('memory: sserooms --demo --history 1000 started', () => server.start(0));
  const page = await openPage(context, server, 'Carol', pageErrors);
  for (let i = 0; i < 5; i++) await publishChat(server, 'lobby', 'bot', `before ${i}`);
  await must('memory: the page shows the 5 messages', () => waitForMessage(page, 'before 4', STEP_MS));

  const port = await restart(server, page, 'memory');
  await must(`memory: started again on port ${port}`, () => server.start(port));
  await must('memory: the page reconnected on its own', () => waitStatus(page, 'open', RECONNECT_MS));
  // the page's last id is from the old epoch: the history cannot replay it
  const notice = page.locator('#messages li.notice.is-reset');
  await must('memory: the page shows the reset notice', () => notice.first().waitFor({ timeout: STEP_MS }));
  const text = await notice.first().innerText();
  check('memory: the notice says the history was reset, and why', /History reset \(epoch\)/.test(text), text);
  const stale = await page.locator('#messages li.message.is-stale').count();
  check('memory: the messages of before are greyed out', stale === 5, `${stale} greyed`);

  await publishChat(server, 'lobby', 'bot', 'after restart');
  await must('memory: a new message reaches the page after the reset', () =>
    waitForMessage(page, 'after restart', STEP_MS));
  // the page's own post: the server refuses its id once, the page posts again without
  await page.getByRole('textbox', { name: 'Message' }).fill('from Carol');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await must('memory: the page\'s own post (the server assigns its id) is shown', () =>
    waitForMessage(page, 'from Carol', STEP_MS));
  await must('memory: and marked as its own', () =>
    page.locator('#messages li.message.is-own', { hasText: 'from Carol' }).first().waitFor({ timeout: STEP_MS }));
  const feedback = await page.textContent('#composer-feedback');
  check('memory: the page says it was sent', /^Sent/.test(feedback), feedback);
  const texts = await messageTexts(page);
  check('memory: each message shown once, in order',
    JSON.stringify(texts) === JSON.stringify(['before 0', 'before 1', 'before 2', 'before 3', 'before 4',
      'after restart', 'from Carol']), JSON.stringify(texts));
  await page.screenshot({ path: path.join(outDir, 'resume-memory.png'), timeout: STEP_MS }).catch(() => {});
  await page.close();
  await server.stop();
}

async function inRedis(bin, context, res, outDir, pageErrors) {
  const redis = new Redis();
  res.children.push(redis);
  await must('redis: redis-server started on a free port', () => redis.start());
  const common = ['--history', '1000', '--redis', redis.url()];
  const a = new Server(bin, ['--demo', '--web-root', WEB_ROOT, ...common, '--node-id', 'node-a'], 'node A');
  const b = new Server(bin, [...common, '--node-id', 'node-b'], 'node B');
  res.children.push(a, b);
  await must('redis: node A (the page\'s) started', () => a.start(0));
  await must('redis: node B (the publisher\'s) started', () => b.start(0));
  const page = await openPage(context, a, 'Dave', pageErrors);
  // the page's room is subscribed on node A once a message from B arrives
  for (let i = 0; ; i++) {
    await publishChat(b, 'lobby', 'probe', `probe ${i}`);
    try {
      await waitForMessage(page, `probe ${i}`, 1000);
      break;
    } catch (err) {
      if (i >= 20) await must('redis: a message from node B reaches the page', () => Promise.reject(err));
    }
  }

  // publish on B all along, while A restarts
  const failures = [];
  const publishing = (async () => {
    const start = Date.now();
    for (let n = 0; n < REDIS_MESSAGES; n++) {
      const due = start + n * REDIS_PERIOD_MS;
      if (due > Date.now()) await sleep(due - Date.now());
      const status = await publishChat(b, 'lobby', 'bot', `msg ${n}`).catch((e) => e.message);
      if (status !== 200) failures.push(`msg ${n}: ${status}`);
    }
  })();
  await sleep(1500);
  const port = await restart(a, page, 'redis: node A');
  await sleep(1500); // messages keep coming meanwhile, kept in Redis
  await must(`redis: node A started again on port ${port}`, () => a.start(port));
  await must('redis: the page reconnected on its own', () => waitStatus(page, 'open', RECONNECT_MS));
  await withTimeout(publishing, 60000, 'publishing');
  check(`redis: node B took all ${REDIS_MESSAGES} messages`, failures.length === 0, failures.join('; '));
  await must('redis: the page shows the last message', () =>
    waitForMessage(page, `msg ${REDIS_MESSAGES - 1}`, STEP_MS));
  const texts = (await messageTexts(page)).filter((t) => t.startsWith('msg '));
  const want = Array.from({ length: REDIS_MESSAGES }, (_, n) => `msg ${n}`);
  const missing = want.filter((t) => !texts.includes(t));
  check('redis: every message published during the restart reached the page',
    missing.length === 0, `missing ${missing.join(', ')}`);
  check('redis: in order, each once', JSON.stringify(texts) === JSON.stringify(want),
    `${texts.length} shown; first difference at ${texts.findIndex((t, i) => t !== want[i])}`);
  const resets = await page.locator('#messages li.notice.is-reset').count();
  check('redis: no reset notice (the history had everything)', resets === 0, `${resets} resets`);
  await page.screenshot({ path: path.join(outDir, 'resume-redis.png'), timeout: STEP_MS }).catch(() => {});
}

async function main() {
  const [serverBin, outDir] = process.argv.slice(2);
  if (!serverBin || !outDir) {
    console.error('usage: node resume.test.mjs <path to sserooms> <output folder>');
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
  const pageErrors = [];
  try {
    const context = await must('chromium started (headless, fresh profile)', () => launchChromium(res));
    await inMemory(path.resolve(serverBin), context, res, outDir, pageErrors);
    await inRedis(path.resolve(serverBin), context, res, outDir, pageErrors);
    check('no JavaScript errors on the pages', pageErrors.length === 0, pageErrors.join('; '));
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
