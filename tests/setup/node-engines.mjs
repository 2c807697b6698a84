#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/*
 * node-engines.mjs: the Node.js floor of the npm-installed test folders
 * (tests/browser, tests/interop), checked without installing anything.
 *
 * Each folder's package.json declares the oldest Node.js it must run on in
 * "engines.node" (">=18.20.4": what Debian 12 ships, the Node a newcomer
 * gets from `make test`). This check reads every package the folder's
 * package-lock.json pins and fails when one of them declares an
 * "engines.node" range that refuses that floor version: the machine that
 * runs the check may have a newer Node (CI has 20) and would never see
 * the failure otherwise. npm's own engine check only warns, and only on the
 * machine that installs.
 *
 * Usage: node node-engines.mjs DIR...; prints one line per folder, exit 1
 * when any pinned package refuses the floor.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// "18.20.4" / "v18" / "18.x" -> [major, minor, patch] with null for a wildcard.
function parsePartial(text) {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-+].*)?$/.exec(text.trim());
  if (!m) return null;
  return [m[1], m[2], m[3]].map((p) => (p === undefined || /^[xX*]$/.test(p) ? null : Number(p)));
}

function cmp(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

const filled = (p) => p.map((n) => n ?? 0);

// The lowest version above every version matching the partial p (exclusive upper bound).
function above(p) {
  if (p[0] === null) return [Infinity, 0, 0];
  if (p[1] === null) return [p[0] + 1, 0, 0];
  if (p[2] === null) return [p[0], p[1] + 1, 0];
  return null; // a full version: no range
}

// Whether version v (full) satisfies one comparator ("^1.2", ">=4", "1.x", "~2.0.1", "*").
function satisfiesOne(v, comp) {
  if (comp === '' || comp === '*' || /^[xX]$/.test(comp)) return true;
  const m = /^(\^|~>?|>=|<=|>|<|=)?\s*(.+)$/.exec(comp);
  if (!m) throw new Error(`unreadable range part '${comp}'`);
  const op = m[1] || '=';
  const p = parsePartial(m[2]);
  if (!p) throw new Error(`unreadable version '${m[2]}'`);
  const low = filled(p);
  switch (op) {
    case '>=': return cmp(v, low) >= 0;
    case '<': return cmp(v, low) < 0;
    case '>': { const up = above(p); return up ? cmp(v, up) >= 0 : cmp(v, low) > 0; }
    case '<=': { const up = above(p); return up ? cmp(v, up) < 0 : cmp(v, low) <= 0; }
    case '=': { const up = above(p); return cmp(v, low) >= 0 && (up ? cmp(v, up) < 0 : cmp(v, low) === 0); }
    case '^': {
      // the leftmost non-zero part is fixed
      let up;
      if (low[0] > 0 || p[1] === null) up = [low[0] + 1, 0, 0];
      else if (low[1] > 0 || p[2] === null) up = [0, low[1] + 1, 0];
      else up = [0, 0, low[2] + 1];
      return cmp(v, low) >= 0 && cmp(v, up) < 0;
    }
    default: { // ~ and ~>: the minor is fixed when given
      const up = p[1] === null ? [low[0] + 1, 0, 0] : [low[0], low[1] + 1, 0];
      return cmp(v, low) >= 0 && cmp(v, up) < 0;
    }
  }
}

// Whether version v satisfies an npm range ("a || b", "a b" meaning both, "a - b").
export function satisfies(version, range) {
  const v = filled(parsePartial(version));
  return range.split('||').some((alt) => {
    const hyphen = /^\s*(\S+)\s+-\s+(\S+)\s*$/.exec(alt);
    if (hyphen) return satisfiesOne(v, '>=' + hyphen[1]) && satisfiesOne(v, '<=' + hyphen[2]);
    // "> = 4" style spacing: glue operators to their versions
    const parts = alt.trim().replace(/(>=|<=|>|<|=|\^|~>?)\s+/g, '$1').split(/\s+/);
    return parts.every((part) => satisfiesOne(v, part));
  });
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// The floor a folder declares and the pinned packages that refuse it.
function checkFolder(dir) {
  const pkg = readJson(path.join(dir, 'package.json'));
  const lock = readJson(path.join(dir, 'package-lock.json'));
  const declared = pkg.engines && typeof pkg.engines.node === 'string' ? pkg.engines.node : '';
  const floor = /^>=\s*(\d+\.\d+\.\d+)$/.exec(declared.trim());
  if (!floor) return { floor: null, problems: ['package.json declares no engines.node floor of the form ">=X.Y.Z"'] };
  const problems = [];
  for (const [where, entry] of Object.entries(lock.packages || {})) {
    if (where === '' || !entry.engines || typeof entry.engines.node !== 'string') continue;
    try {
      if (!satisfies(floor[1], entry.engines.node))
        problems.push(`${where} ${entry.version} requires node ${entry.engines.node}`);
    } catch (err) {
      problems.push(`${where}: engines.node '${entry.engines.node}': ${err.message}`);
    }
  }
  return { floor: floor[1], problems };
}

function main(dirs) {
  if (!dirs.length) {
    console.error('usage: node-engines.mjs DIR...');
    return 2;
  }
  let failed = false;
  for (const dir of dirs) {
    let result;
    try {
      result = checkFolder(dir);
    } catch (err) {
      result = { floor: null, problems: [`cannot read package.json or package-lock.json: ${err.message}`] };
    }
    for (const problem of result.problems) console.log(`FAIL ${dir}: ${problem}${result.floor ? `, the floor is ${result.floor}` : ''}`);
    if (result.problems.length) failed = true;
    else console.log(`ok   ${dir}: every pinned package runs on node ${result.floor}`);
  }
  return failed ? 1 : 0;
}

// only when run as a script: importing it (for satisfies) runs nothing
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.exit(main(process.argv.slice(2)));
