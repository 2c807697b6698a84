#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/*
 * ensure-deps.mjs: the browser test's set-up (CTest fixture browser_deps).
 * Runs `npm ci --no-audit --no-fund` in tests/browser unless node_modules
 * already holds exactly what package-lock.json pins: every locked package
 * present at its locked version, and the lockfile in step with package.json.
 * npm ci deletes node_modules first, so skipping it keeps repeated
 * `make test` runs quick and off the network. The release and ASan build
 * trees share this folder: a lock directory in the temp folder (holding the
 * owner's pid, taken over when that process is gone) keeps two of them from
 * installing at once. A Node.js older than a locked package needs
 * (engines.node) is refused here, naming both, rather than deep inside the
 * browser tests (setup.node_engines keeps the lockfile on Debian 12's Node).
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { satisfies } from '../setup/node-engines.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LOCK_WAIT_MS = 240000;
const NPM_CI_MS = 240000;

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    return null;
  }
}

// Returns why node_modules does not match the lockfile, or null when it does.
function mismatch() {
  const pkg = readJson(path.join(HERE, 'package.json'));
  const lock = readJson(path.join(HERE, 'package-lock.json'));
  if (!pkg || !lock || !lock.packages || !lock.packages['']) return 'package.json or package-lock.json unreadable';
  const wanted = JSON.stringify(pkg.dependencies || {});
  const locked = JSON.stringify(lock.packages[''].dependencies || {});
  if (wanted !== locked) return 'package-lock.json is not in step with package.json';
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (where === '' || entry.link || entry.optional || entry.dev) continue;
    const installed = readJson(path.join(HERE, where, 'package.json'));
    if (!installed) return `${where} is missing`;
    if (installed.version !== entry.version) return `${where} is ${installed.version}, locked ${entry.version}`;
  }
  return null;
}

// Why this Node.js cannot run a locked package, or null when it can.
function tooOld() {
  const lock = readJson(path.join(HERE, 'package-lock.json'));
  for (const [where, entry] of Object.entries((lock && lock.packages) || {})) {
    const wanted = entry.engines && entry.engines.node;
    if (where === '' || typeof wanted !== 'string') continue;
    if (!satisfies(process.versions.node, wanted))
      return `${where} ${entry.version} needs Node.js ${wanted}, this is ${process.versions.node}`;
  }
  return null;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// Takes the install lock for this folder; returns a function that releases it.
function lock() {
  const name = 'sserooms-browser-npm-' + crypto.createHash('sha1').update(HERE).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), name);
  const until = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'pid'), String(process.pid));
      return () => fs.rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const owner = Number(fs.readFileSync(path.join(dir, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
    if (owner && !alive(owner)) {
      fs.rmSync(dir, { recursive: true, force: true }); // left by a process that died
      continue;
    }
    if (Date.now() > until) throw new Error(`${dir} still held by pid ${owner || '?'}`);
    sleep(250);
  }
}

function main() {
  const old = tooOld();
  if (old) {
    console.error(`tests/browser: ${old}`);
    return 1;
  }
  let release;
  try {
    release = lock();
  } catch (err) {
    console.error(`tests/browser: cannot lock the install: ${err.message}`);
    return 1;
  }
  try {
    const why = mismatch();
    if (why === null) {
      console.log('tests/browser: node_modules matches package-lock.json, npm ci skipped');
      return 0;
    }
    console.log(`tests/browser: ${why}: running npm ci`);
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: HERE, stdio: 'inherit', timeout: NPM_CI_MS });
    if (r.error) {
      console.error(`tests/browser: npm ci: ${r.error.message}`);
      return 1;
    }
    const after = r.status === 0 ? mismatch() : `npm ci failed (status ${r.status})`;
    if (after !== null) {
      console.error(`tests/browser: ${after}`);
      return 1;
    }
    return 0;
  } finally {
    release();
  }
}

process.exit(main());
