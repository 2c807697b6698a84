#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// json_differential.mjs: the JSON scanner against Node's JSON.parse, file by
// file, over JSONTestSuite's test_parsing and the fuzz corpus (or the
// directories / files given).
//
//   node tests/fuzz/json_differential.mjs [--driver build/fuzz/tests/fuzz/json_verdict] [PATH...]
//
// json_verdict (json_verdict.c) prints what sr_json says about each file;
// here each file is read as the Node reference reads a body or a Redis
// payload, JSON.parse(buf.toString()), and compared:
//  - the same accept / reject verdict, and the same type when accepted;
//  - sr_json_utf8_repair gives the bytes of Buffer.from(buf.toString());
//  - the top-level span is that value:
//      JSON.stringify(JSON.parse(span)) === JSON.stringify(parsed);
//  - for an object with a "data" member, the span sr_json_object_get finds
//    is parsed.data (the text the server forwards byte for byte):
//      JSON.stringify(JSON.parse(dataSpan)) === JSON.stringify(parsed.data).
// Exits 1 on any difference, listing them.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let driver = join(root, 'build/fuzz/tests/fuzz/json_verdict');
const inputs = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--driver') driver = resolve(argv[++i]);
  else inputs.push(resolve(argv[i]));
}
if (inputs.length === 0) {
  inputs.push(join(root, 'tests/data/JSONTestSuite/test_parsing'), join(root, 'tests/fuzz/corpus/fuzz_json'));
}

const files = [];
for (const p of inputs) {
  if (statSync(p).isDirectory()) {
    for (const name of readdirSync(p).sort()) {
      const f = join(p, name);
      if (statSync(f).isFile()) files.push(f);
    }
  } else {
    files.push(p);
  }
}

const run = spawnSync(driver, [], { input: files.join('\n') + '\n', maxBuffer: 1 << 30 });
if (run.error || run.status !== 0) {
  console.error(`json differential: ${driver} failed: ${run.error ?? run.stderr.toString()}`);
  process.exit(2);
}
const lines = run.stdout.toString().split('\n').filter((l) => l.length > 0);
if (lines.length !== files.length) {
  console.error(`json differential: ${files.length} files but ${lines.length} verdicts`);
  process.exit(2);
}

function jsType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

const fromHex = (hex) => Buffer.from(hex, 'hex').toString();
const problems = [];
let accepted = 0;
let rejected = 0;
let withData = 0;
let tooDeep = 0;

for (let i = 0; i < files.length; i++) {
  const [verdict, detail, topHex, dataHex, repairHex, path] = lines[i].split('\t');
  if (path !== files[i]) {
    console.error(`json differential: verdict ${i} is for ${path}, expected ${files[i]}`);
    process.exit(2);
  }
  const buf = readFileSync(path);
  const text = buf.toString();
  const problem = (what) => problems.push(`${path}: ${what}`);

  const nodeBytes = Buffer.from(text);
  const cBytes = repairHex === '=' ? buf : Buffer.from(repairHex, 'hex');
  if (!nodeBytes.equals(cBytes)) problem('sr_json_utf8_repair differs from Buffer.toString()');

  let parsed;
  let ok = true;
  let why = '';
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    ok = false;
    why = e.message;
  }
  if (ok !== (verdict === 'accept')) {
    problem(`JSON.parse ${ok ? 'accepts' : `rejects (${why})`}, sr_json ${verdict}s${ok ? ` (${detail})` : ''}`);
    continue;
  }
  if (!ok) {
    rejected++;
    continue;
  }
  accepted++;
  if (jsType(parsed) !== detail) problem(`type ${jsType(parsed)} in Node, ${detail} in C`);
  try {
    const expected = JSON.stringify(parsed);
    if (JSON.stringify(JSON.parse(fromHex(topHex))) !== expected) problem('the top-level span is another value');
    const hasData = jsType(parsed) === 'object' && Object.prototype.hasOwnProperty.call(parsed, 'data');
    if (hasData !== (dataHex !== '-')) {
      problem(`"data" member: ${hasData ? 'present' : 'absent'} in Node, ${dataHex === '-' ? 'not found' : 'found'} in C`);
    } else if (hasData) {
      withData++;
      if (JSON.stringify(JSON.parse(fromHex(dataHex))) !== JSON.stringify(parsed.data)) {
        problem(`the "data" span is another value: ${fromHex(dataHex).slice(0, 200)}`);
      }
    }
  } catch (e) {
    // JSON.stringify recurses: nesting in the thousands may overflow the stack
    if (e instanceof RangeError) tooDeep++;
    else problem(`comparing spans threw ${e}`);
  }
}

console.log(`json differential: ${files.length} files, ${accepted} accepted (${withData} with "data"), ` +
  `${rejected} rejected, ${tooDeep} too deep for JSON.stringify, ${problems.length} differences`);
for (const p of problems.slice(0, 50)) console.log(`  ${p}`);
if (problems.length > 50) console.log(`  ... and ${problems.length - 50} more`);
process.exit(problems.length ? 1 : 0);
