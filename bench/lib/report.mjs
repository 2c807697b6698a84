// SPDX-License-Identifier: MIT
// report.mjs: turns one bench/suite.sh results directory into RESULTS.md.
//
// Reads only what the suite left there: machine.env (machine, versions,
// knobs, command), and per run <scenario>/<server>-<mode>/run<N>/ with
// meta.env (status, reason, memory readings), load.json (sseload) and
// pub.json (ssepub); profile/*.txt (perf report output). For every scenario
// it takes the median over the runs that completed, keeps the failed ones
// visible (a figure is "failed: <reason>" when no run completed, and "(k of
// n runs)" when some did not), computes the ratios to sserooms and to the raw
// baseline, checks the targets of issue #4 (and those of #12 and #14 when
// the S1-seq, S1-TLS, S1-H2 and handshake scenarios ran), writes the
// Markdown file and prints the targets table. The S1 variants share S1's
// section code; they add the publisher's answer p50/p99 (ssepub) beside the
// deliveries. A run of some scenarios only keeps, from the RESULTS_MD it
// replaces, the sections of the scenarios it did not run (and sections other
// tools wrote there), each marked with where it comes from.
//
// usage: node report.mjs RESULTS_DIR RESULTS_MD
//        node report.mjs --s1-peak-rate RESULTS_DIR SERVER MODE [SCENARIO]
//          (prints the median highest clean S1 publish rate, for the profile)
import fs from 'node:fs';
import path from 'node:path';

const SERVER_NAMES = {
  sserooms: 'sserooms',
  'sserooms-history': 'sserooms, history on',
  nchan: 'Nchan (nginx)',
  node: 'Node.js better-sse',
  rawfan: 'raw baseline (rawfan)',
  'rawfan-nobatch': 'rawfan, one write per delivery',
  'sserooms-redispub': 'sserooms, publisher into Redis',
  'sserooms-cluster': 'sserooms on a 3-shard Redis Cluster',
  'sserooms-tls': 'sserooms, TLS',
  'sserooms-h2': 'sserooms, HTTP/2 over TLS',
  'sserooms-nginx-tls': 'nginx (TLS) in front of sserooms',
  'nchan-tls': 'Nchan, TLS',
  'nchan-h2': 'Nchan, HTTP/2 over TLS',
};
const SERVER_ORDER = ['sserooms', 'sserooms-history', 'sserooms-redispub', 'sserooms-cluster', 'sserooms-tls', 'sserooms-h2', 'sserooms-nginx-tls', 'nchan', 'nchan-tls', 'nchan-h2', 'node', 'rawfan', 'rawfan-nobatch'];
// the S1 variants: their directory, rate knob, subscriber knob and title
const S1_KINDS = {
  s1: { rates: 'S1_RATES', conns: 'S1_CONNS', title: (k) => `S1 fan-out: one room, ${fmtInt(Number(k.S1_CONNS))} subscribers, ${k.S1_SIZE}-byte data` },
  's1-seq': { rates: 'S1_SEQ_RATES', conns: 'S1_CONNS', title: (k) => `S1-seq: S1 with a sequential publisher (issue #14), ${fmtInt(Number(k.S1_CONNS))} subscribers`,
    intro: 'The publisher sends one request at a time on one keep-alive connection (`ssepub --inflight 1`, as a backend worker draining a queue or a `curl` loop): a step is offered at its rate, and the publisher reaches it only if every answer comes back in time (a step it could not complete is not sustained). Publish answer p50/p99 (request written to answer read, at the publisher) stand beside the deliveries.' },
  's1-tls': { rates: 'S1_RATES', conns: 'S1_TLS_CONNS', title: (k) => `S1-TLS: ${fmtInt(Number(k.S1_TLS_CONNS))} streams over TLS HTTP/1.1 (issue #12)`,
    intro: 'Every subscriber its own TLS connection (ECDSA P-256, TLS 1.3, ALPN http/1.1), the publisher over TLS too; plain sserooms beside them. No TLS raw baseline: rawfan is plain TCP.' },
  's1-h2': { rates: 'S1_RATES', conns: 'S1_TLS_CONNS', title: (k) => `S1-H2: ${fmtInt(Number(k.S1_TLS_CONNS))} streams on ${fmtInt(Math.ceil(Number(k.S1_TLS_CONNS) / (Number(k.H2_STREAMS) || 100)))} HTTP/2 connections (issue #12)`,
    intro: `HTTP/2 over TLS (ALPN h2), the streams of a connection sharing it (sseload --h2 on libnghttp2, flow control on); the publisher over TLS HTTP/1.1.` },
};
const MODE_NAMES = {
  same: 'same cores (server: 1 thread on 1 CPU, tools on the other)',
  all: 'all cores (server default threads, no pinning)',
};

function readEnv(file) {
  const env = {};
  if (!fs.existsSync(file)) return env;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

// first defined numeric field among the names (the tools' JSON field names)
function pick(obj, ...names) {
  if (!obj) return undefined;
  for (const n of names) {
    if (typeof obj[n] === 'number' && Number.isFinite(obj[n])) return obj[n];
  }
  return undefined;
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const fmtInt = (x) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const fmtMs = (us) => (us === undefined ? '–' : us >= 100000 ? `${(us / 1000).toFixed(0)} ms` : `${(us / 1000).toFixed(2)} ms`);
const fmtRatio = (a, b) => (a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`);
const fmtBytes = (b) => (b === undefined ? '–' : `${Math.round(b).toLocaleString('en-US')} B`);

// all runs of a scenario, grouped by "<server>-<mode>"
function loadScenario(dir, scenario) {
  const groups = new Map();
  const base = path.join(dir, scenario);
  if (!fs.existsSync(base)) return groups;
  for (const g of fs.readdirSync(base).sort()) {
    const runs = [];
    for (const r of fs.readdirSync(path.join(base, g)).sort()) {
      const rdir = path.join(base, g, r);
      const meta = readEnv(path.join(rdir, 'meta.env'));
      runs.push({
        dir: rdir,
        meta,
        ok: meta.status === 'ok',
        error: meta.status === 'ok' ? null : meta.error || 'did not finish (no status recorded)',
        load: readJson(path.join(rdir, 'load.json')),
        pub: readJson(path.join(rdir, 'pub.json')),
      });
    }
    if (runs.length) groups.set(g, { server: runs[0].meta.server, mode: runs[0].meta.mode, runs });
  }
  const order = (g) => { const i = SERVER_ORDER.indexOf(g.server); return i < 0 ? SERVER_ORDER.length : i; };
  return new Map([...groups].sort((a, b) => order(a[1]) - order(b[1]) || a[0].localeCompare(b[0])));
}

function rates(knobs, key) {
  return String(knobs[key] ?? '').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
}

// per-step view of one S1/S2 run: target rate, publisher's figures, sseload's.
// A step is sustained when nothing was lost (no gap, no missing delivery, no
// publish error, the publisher completed it) and p99 stayed under sustainUs
// (the server kept up with the rate); clean when also p99 <= limitUs.
function runSteps(run, targetRates, limitUs, sustainUs = Infinity) {
  const loadSteps = Array.isArray(run.load?.steps) ? run.load.steps : [];
  const pubSteps = Array.isArray(run.pub?.steps) ? run.pub.steps : [];
  const subscribers = Number(run.meta.connected) || 0;
  const roomsKnob = Number(run.meta.rooms) || 1;
  const out = [];
  for (let k = 0; k < targetRates.length; k++) {
    const ls = loadSteps.find((s) => s.k === k);
    const ps = pubSteps.find((s) => s.k === k) ?? pubSteps[k];
    if (!ls && !ps) break;
    const sent = pick(ps, 'sent', 'published', 'messages', 'ok', 'count');
    if (!ls && !sent) break; // a step the publisher never started (run stopped before it)
    const pubErrors = pick(ps, 'errors', 'failed') ?? 0;
    // every message goes to the subscribers of its room; with R rooms of
    // equal size that is subscribers / R each
    const expected = sent === undefined ? undefined : (sent * subscribers) / roomsKnob;
    const step = {
      k,
      rate: targetRates[k],
      achieved: pick(ps, 'achieved_rate', 'achieved', 'rate_achieved', 'achieved_per_s', 'per_s'),
      sent,
      pubErrors,
      deliveries: pick(ls, 'deliveries') ?? 0,
      perS: pick(ls, 'deliveries_per_s'),
      gaps: pick(ls, 'gaps') ?? 0,
      p50: pick(ls, 'p50'),
      p99: pick(ls, 'p99'),
      // the publisher's answer times (request written to answer read), µs
      ans50: pick(ps, 'answer_p50_us'),
      ans99: pick(ps, 'answer_p99_us'),
      expected,
    };
    const why = [];
    if (!ls) why.push('no deliveries');
    if (step.gaps > 0) why.push(`${step.gaps} gaps`);
    if (step.p99 !== undefined && step.p99 > sustainUs) why.push(`p99 ${fmtMs(step.p99)}`);
    if (expected !== undefined && ls && step.deliveries < expected * 0.999) {
      why.push(`${fmtInt(expected - step.deliveries)} deliveries missing`);
    }
    if (pubErrors > 0) why.push(`${pubErrors} publish errors`);
    // a step the publisher did not complete (stopped early, or it could not
    // get the messages accepted at that rate) says nothing about the rate
    const due = pick(ps, 'target');
    if (ps && due && sent !== undefined && sent < due * 0.9) why.push(`publisher reached ${fmtInt((sent / due) * step.rate)} msg/s`);
    step.sustained = why.length === 0;
    step.whySustained = why.join(', ');
    if (step.p99 !== undefined && step.p99 > limitUs && step.p99 <= sustainUs) why.push(`p99 ${fmtMs(step.p99)}`);
    step.clean = why.length === 0;
    step.why = why.join(', ');
    out.push(step);
  }
  return out;
}

// S1: the highest step before the first unclean one, and the highest before
// the first unsustained one
function s1Peak(run, targetRates, limitUs, sustainUs) {
  const steps = runSteps(run, targetRates, limitUs, sustainUs);
  const upTo = (ok) => {
    let best = null;
    for (const s of steps) {
      if (!ok(s)) return { best, stop: s };
      best = s;
    }
    return { best, stop: null };
  };
  const c = upTo((s) => s.clean);
  const u = upTo((s) => s.sustained);
  return { steps, best: c.best, stop: c.stop, bestS: u.best, stopS: u.stop };
}

function groupStatus(g) {
  const ok = g.runs.filter((r) => r.ok);
  const failed = g.runs.filter((r) => !r.ok);
  return { ok, failed, note: failed.length ? ` (${ok.length} of ${g.runs.length} runs${ok.length ? '' : ': ' + failed[0].error})` : '' };
}

// ---- scenario sections --------------------------------------------------

function sectionS1(dir, knobs, out, figures, scen = 's1') {
  const groups = loadScenario(dir, scen);
  if (!groups.size) return;
  const kind = S1_KINDS[scen];
  const targetRates = rates(knobs, kind.rates);
  const limit = Number(knobs.P99_LIMIT_US) || 100000;
  const sustain = Number(knobs.SUSTAIN_P99_US) || 1000000;
  out.push(`## ${kind.title(knobs)}`);
  out.push('');
  if (kind.intro) { out.push(kind.intro); out.push(''); }
  out.push(`Publish rate stepped up (${targetRates.join(', ')} msg/s; ${knobs.S1_STEP_S} s per step, ${knobs.S1_PAUSE_S} s pause).` +
    ` A step is **clean** when it shows no gap, no missing delivery, no publish error and p99 ≤ ${fmtMs(limit)} (the issue's rule);` +
    ` **sustained** when it loses nothing and p99 ≤ ${fmtMs(sustain)} (the server keeps up with the rate). The run stops at the` +
    ' first step that is not sustained. Figures: deliveries/s of the highest clean / sustained step (the steps before the first' +
    ' one that is not), median of the runs.');
  out.push('');
  for (const mode of ['same', 'all']) {
    const rows = [...groups.values()].filter((g) => g.mode === mode);
    if (!rows.length) continue;
    out.push(`### ${MODE_NAMES[mode] ?? mode}`);
    out.push('');
    const res = new Map();
    for (const g of rows) {
      const st = groupStatus(g);
      const peaks = st.ok.map((r) => s1Peak(r, targetRates, limit, sustain));
      res.set(g.server, {
        st,
        peaks,
        perS: median(peaks.map((p) => (p.best ? p.best.perS : 0))),
        rate: median(peaks.map((p) => p.best?.rate ?? 0)),
        perSS: median(peaks.map((p) => (p.bestS ? p.bestS.perS : 0))),
        rateS: median(peaks.map((p) => p.bestS?.rate ?? 0)),
        stops: peaks.map((p) => (p.stop ? `${p.stop.rate}: ${p.stop.why}` : 'none')),
        stopsS: peaks.map((p) => (p.stopS ? `${p.stopS.rate}: ${p.stopS.whySustained}` : 'none')),
        // the load generator's own CPU over its run, in % of one core: near
        // 100 the tool, not the server, is the limit
        toolCpu: median(st.ok.map((x) => (x.load && x.load.run_s > 0 ? (100 * ((x.load.cpu_user_s ?? 0) + (x.load.cpu_sys_s ?? 0))) / x.load.run_s : undefined))),
        // the publisher's answer p50/p99 at the sustained peak step
        ans50S: median(peaks.map((p) => p.bestS?.ans50)),
        ans99S: median(peaks.map((p) => p.bestS?.ans99)),
      });
    }
    figures[scen][mode] = res;
    // say plainly when the issue's 100 ms rule leaves no clean step at all
    const anyClean = [...res.values()].some((r) => r.perS > 0);
    const connsN = Number(knobs[kind.conns]) || 0;
    const firstP99 = [...res].map(([server, r]) => {
      const p = median(r.peaks.map((x) => x.steps[0]?.p99));
      return p === undefined ? null : `${SERVER_NAMES[server] ?? server} ${fmtMs(p)}`;
    }).filter(Boolean);
    const notes = [];
    if (!anyClean && firstP99.length) {
      notes.push(`No server has a clean step in this mode: with ${fmtInt(connsN)} subscribers in one room, one broadcast takes longer than ${fmtMs(limit)} to reach the last of them even at ${targetRates[0]} msg/s (p99 at ${targetRates[0]} msg/s: ${firstP99.join(', ')}); the sustained figures compare the servers.`);
    }
    const sr = res.get('sserooms');
    const rawR = res.get('rawfan');
    if (sr && rawR && rawR.perSS > 0 && sr.perSS > 1.1 * rawR.perSS) {
      notes.push(`sserooms sustains more deliveries/s than the raw baseline: both write each member the frames of a loop turn in one write (rawfan with --batch), but sserooms's writer thread writes while its main loop reads the next publishes, so above ~${fmtInt(rawR.rateS)} msg/s a busy writer's writes carry more events, while rawfan's threads each write their own members and hand every publish across. With several threads the baseline is no ceiling for this design.`);
    }
    // the cost of Last-Event-ID history (sserooms-history: --history N)
    const hi = res.get('sserooms-history');
    if (sr && hi && hi.st.ok.length) {
      const p99At = (r, rate) => median(r.peaks.map((p) => p.steps[targetRates.indexOf(rate)]?.p99));
      const at = targetRates.includes(100) ? 100 : targetRates[0];
      notes.push(`History (\`--history ${knobs.HISTORY ?? ''}\`, ids assigned by the server, every message kept in memory): sustained peak ${fmtInt(hi.perSS)} deliveries/s against ${fmtInt(sr.perSS)} without (${fmtRatio(hi.perSS, sr.perSS)}); p99 at ${at} msg/s ${fmtMs(p99At(hi, at))} against ${fmtMs(p99At(sr, at))}.`);
    }
    for (const n of notes) { out.push(`Note: ${n}`); out.push(''); }
    const ref = res.get('sserooms');
    const raw = res.get('rawfan');
    out.push('| server | clean: highest step (msg/s) | clean: peak deliveries/s | sustained: highest step (msg/s) | sustained: peak deliveries/s | publish answer p50 / p99 (sustained peak) | each run (clean / sustained) | first unclean step; first step not sustained (per run) | ÷ sserooms (clean / sustained) | ÷ raw baseline (clean / sustained) | sseload CPU |');
    out.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const [server, r] of res) {
      if (!r.st.ok.length) {
        out.push(`| ${SERVER_NAMES[server] ?? server} | failed: ${r.st.failed[0].error} | | | | | | | | | |`);
        continue;
      }
      const each = r.peaks.map((p) => `${fmtInt(p.best?.perS ?? 0)} / ${fmtInt(p.bestS?.perS ?? 0)}`).join('; ');
      const stops = r.stops.map((x, i) => `${x}; ${r.stopsS[i]}`).join(' — ');
      out.push(`| ${SERVER_NAMES[server] ?? server}${r.st.note} | ${fmtInt(r.rate)} | **${fmtInt(r.perS)}** | ${fmtInt(r.rateS)} | **${fmtInt(r.perSS)}** | ${fmtMs(r.ans50S)} / ${fmtMs(r.ans99S)} | ${each} | ${stops} | ${fmtRatio(r.perS, ref?.perS)} / ${fmtRatio(r.perSS, ref?.perSS)} | ${fmtRatio(r.perS, raw?.perS)} / ${fmtRatio(r.perSS, raw?.perSS)} | ${r.toolCpu === undefined ? '–' : `${r.toolCpu.toFixed(0)}%`} |`);
    }
    out.push('');
    // latency at every step: median p50 / p99 over the runs that reached it
    out.push('p50 / p99 latency at each step (median of the runs that reached it; ✗ = not clean, ✗✗ = not sustained):');
    out.push('');
    const servers = [...res.keys()];
    out.push(`| msg/s | ${servers.map((x) => SERVER_NAMES[x] ?? x).join(' | ')} |`);
    out.push(`|---|${servers.map(() => '---').join('|')}|`);
    for (let k = 0; k < targetRates.length; k++) {
      const cells = servers.map((x) => {
        const steps = res.get(x).peaks.map((p) => p.steps[k]).filter(Boolean);
        if (!steps.length) return '';
        const mark = steps.some((y) => !y.sustained) ? ' ✗✗' : steps.some((y) => !y.clean) ? ' ✗' : '';
        return `${fmtMs(median(steps.map((y) => y.p50)))} / ${fmtMs(median(steps.map((y) => y.p99)))}${mark}`;
      });
      if (cells.every((c) => c === '')) continue;
      out.push(`| ${targetRates[k]} | ${cells.join(' | ')} |`);
    }
    out.push('');
    // the publisher's side of every step: messages it got answered per
    // second, and its answer p50 / p99 (ssepub before --inflight had none)
    const anyAnswer = [...res.values()].some((r) => r.peaks.some((p) => p.steps.some((y) => y.ans50 !== undefined)));
    if (!anyAnswer) continue;
    out.push('Publisher at each step: achieved msg/s, publish answer p50 / p99 (median of the runs that reached it):');
    out.push('');
    out.push(`| msg/s | ${servers.map((x) => SERVER_NAMES[x] ?? x).join(' | ')} |`);
    out.push(`|---|${servers.map(() => '---').join('|')}|`);
    for (let k = 0; k < targetRates.length; k++) {
      const cells = servers.map((x) => {
        const steps = res.get(x).peaks.map((p) => p.steps[k]).filter(Boolean);
        if (!steps.length) return '';
        return `${fmtInt(median(steps.map((y) => y.achieved)))}: ${fmtMs(median(steps.map((y) => y.ans50)))} / ${fmtMs(median(steps.map((y) => y.ans99)))}`;
      });
      if (cells.every((c) => c === '')) continue;
      out.push(`| ${targetRates[k]} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
}

// handshake: TLS connections per second (sseload --churn over https), full
// handshakes and resumed ones, one server thread on one CPU
function sectionHandshake(dir, knobs, out, figures) {
  const groups = loadScenario(dir, 'handshake');
  if (!groups.size) return;
  out.push(`## TLS handshakes per second (issue #12): ${knobs.HANDSHAKE_CONNS} loops of connect, TLS handshake, GET /sse, response head, close, for ${knobs.HANDSHAKE_SECONDS} s`);
  out.push('');
  out.push('The server on one CPU with one thread (one nginx worker), the load generator on the other; ECDSA P-256 certificate, TLS 1.3. `full`: every connection a full handshake; `resumed`: every loop offers the session its previous connection got (tickets). Client: `benchtls13` is the minimal TLS 1.3 client in bench/benchtls13.c, used whenever the server completes a handshake with it; otherwise OpenSSL.');
  out.push('');
  out.push('| server | handshakes | handshakes/s | resumed | errors | sseload CPU | sseload µs/cycle | client |');
  out.push('|---|---|---|---|---|---|---|---|');
  const res = new Map();
  for (const g of groups.values()) {
    const st = groupStatus(g);
    const t = st.ok.map((r) => r.load ?? {});
    const r = {
      server: g.server, kind: g.mode, st,
      perS: median(t.map((x) => x.tls_handshakes_per_s)),
      resumed: median(t.map((x) => (x.tls_handshakes ? x.tls_resumed / x.tls_handshakes : undefined))),
      errors: median(t.map((x) => x.errors ?? 0)),
      cpu: median(t.map((x) => (x.duration_s > 0 ? (100 * ((x.cpu_user_s ?? 0) + (x.cpu_sys_s ?? 0))) / x.duration_s : undefined))),
      usPerCycle: median(t.map((x) => (x.cycles > 0 ? (1e6 * ((x.cpu_user_s ?? 0) + (x.cpu_sys_s ?? 0))) / x.cycles : undefined))),
      lite: t.some((x) => (x.tls_lite_handshakes ?? 0) > 0),
    };
    res.set(`${g.server}-${g.mode}`, r);
    const name = SERVER_NAMES[g.server] ?? g.server;
    if (!st.ok.length) { out.push(`| ${name} | ${g.mode} | failed: ${st.failed[0].error} | | | | | |`); continue; }
    out.push(`| ${name}${st.note} | ${g.mode} | **${fmtInt(r.perS)}** | ${r.resumed === undefined ? '–' : `${(r.resumed * 100).toFixed(0)}%`} | ${fmtInt(r.errors)} | ${r.cpu === undefined ? '–' : `${r.cpu.toFixed(0)}%`} | ${r.usPerCycle === undefined ? '–' : fmtInt(r.usPerCycle)} | ${r.lite ? 'benchtls13' : 'OpenSSL'} |`);
  }
  out.push('');
  figures.handshake = res;
}

function sectionS2(dir, knobs, out, figures) {
  const groups = loadScenario(dir, 's2');
  if (!groups.size) return;
  const limit = Number(knobs.P99_LIMIT_US) || 100000;
  out.push(`## S2 many rooms: ${fmtInt(Number(knobs.S2_CONNS))} subscribers over ${fmtInt(Number(knobs.S2_ROOMS))} rooms, ${fmtInt(Number(knobs.S2_RATE))} msg/s`);
  out.push('');
  out.push(`One step of ${knobs.S2_SECONDS} s; messages spread evenly over the rooms. Medians of the runs.`);
  out.push('');
  out.push('| server | mode | deliveries/s | p50 | p99 | gaps | missing deliveries | publish rate reached | ÷ sserooms (deliveries/s) | ÷ raw baseline |');
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const mode of ['same', 'all']) {
    const rows = [...groups.values()].filter((g) => g.mode === mode);
    const res = new Map();
    for (const g of rows) {
      const st = groupStatus(g);
      const steps = st.ok.map((r) => runSteps(r, [Number(knobs.S2_RATE)], limit)[0]).filter(Boolean);
      res.set(g.server, {
        st,
        perS: median(steps.map((s) => s.perS)),
        p50: median(steps.map((s) => s.p50)),
        p99: median(steps.map((s) => s.p99)),
        gaps: median(steps.map((s) => s.gaps)),
        missing: median(steps.map((s) => (s.expected === undefined ? undefined : Math.max(0, s.expected - s.deliveries)))),
        achieved: median(steps.map((s) => s.achieved)),
      });
    }
    figures.s2[mode] = res;
    const ref = res.get('sserooms')?.perS;
    const raw = res.get('rawfan')?.perS;
    for (const [server, r] of res) {
      if (!r.st.ok.length) {
        out.push(`| ${SERVER_NAMES[server] ?? server} | ${mode} | failed: ${r.st.failed[0].error} | | | | | | | |`);
        continue;
      }
      out.push(`| ${SERVER_NAMES[server] ?? server}${r.st.note} | ${mode} | **${fmtInt(r.perS)}** | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtInt(r.gaps)} | ${fmtInt(r.missing)} | ${fmtInt(r.achieved)} | ${fmtRatio(r.perS, ref)} | ${fmtRatio(r.perS, raw)} |`);
    }
  }
  out.push('');
}

function sectionS3(dir, knobs, out, figures) {
  const groups = loadScenario(dir, 's3');
  if (!groups.size) return;
  out.push(`## S3 idle memory: ${fmtInt(Number(knobs.S3_CONNS))} idle streams`);
  out.push('');
  out.push('Server RSS (VmRSS; nginx: master + workers) with the streams open, minus RSS before they connected, per stream. RSS is user-space memory: the kernel\'s socket buffers are not in it. Medians of the runs.');
  out.push('');
  out.push('| server | mode | RSS before | RSS with the streams | per stream | ÷ sserooms | ÷ raw baseline |');
  out.push('|---|---|---|---|---|---|---|');
  const res = new Map();
  for (const g of groups.values()) {
    const st = groupStatus(g);
    const per = st.ok.map((r) => ((Number(r.meta.rss_streams_kib) - Number(r.meta.rss_idle_kib)) * 1024) / (Number(r.meta.connected) || NaN));
    res.set(`${g.server}-${g.mode}`, {
      server: g.server,
      mode: g.mode,
      st,
      before: median(st.ok.map((r) => Number(r.meta.rss_idle_kib))),
      after: median(st.ok.map((r) => Number(r.meta.rss_streams_kib))),
      per: median(per),
    });
  }
  figures.s3 = res;
  for (const r of res.values()) {
    const ref = res.get(`sserooms-${r.mode}`)?.per;
    const raw = res.get(`rawfan-${r.mode}`)?.per;
    if (!r.st.ok.length) {
      out.push(`| ${SERVER_NAMES[r.server] ?? r.server} | ${r.mode} | failed: ${r.st.failed[0].error} | | | | |`);
      continue;
    }
    out.push(`| ${SERVER_NAMES[r.server] ?? r.server}${r.st.note} | ${r.mode} | ${fmtInt(r.before)} KiB | ${fmtInt(r.after)} KiB | **${fmtBytes(r.per)}** | ${fmtRatio(r.per, ref)} | ${fmtRatio(r.per, raw)} |`);
  }
  out.push('');
}

function sectionS4(dir, knobs, out, figures) {
  const groups = loadScenario(dir, 's4');
  if (!groups.size) return;
  const limit = Number(knobs.P99_LIMIT_US) || 100000;
  out.push(`## S4 cross-node: ${fmtInt(Number(knobs.S4_CONNS))} subscribers over ${fmtInt(Number(knobs.S4_ROOMS))} rooms, ${fmtInt(Number(knobs.S4_RATE))} msg/s`);
  out.push('');
  out.push('Two nodes of the same server and one redis-server: subscribers on node B, publishes on node A (for "publisher into Redis": ssepub PUBLISHes the reference envelope straight into Redis, subscribers on one sserooms node; for the 3-shard Redis Cluster: two sserooms nodes with `--redis-cluster` on three cluster-enabled redis-servers, sharded Pub/Sub, its one-node figure is the plain sserooms one); against the same load on one node without Redis. Nothing pinned (three servers and the tools share the 2 CPUs); servers on their default threads. Medians of the runs.');
  out.push('');
  out.push('| server | one node p50 / p99 | two nodes p50 / p99 | p99 added by the Redis hop | gaps (two nodes) | missing deliveries (two nodes) |');
  out.push('|---|---|---|---|---|---|');
  const summary = (g) => {
    if (!g) return null;
    const st = groupStatus(g);
    const steps = st.ok.map((r) => runSteps(r, [Number(knobs.S4_RATE)], Infinity)[0]).filter(Boolean);
    return {
      st,
      p50: median(steps.map((s) => s.p50)),
      p99: median(steps.map((s) => s.p99)),
      gaps: median(steps.map((s) => s.gaps)),
      missing: median(steps.map((s) => (s.expected === undefined ? undefined : Math.max(0, s.expected - s.deliveries)))),
    };
  };
  const variants = [...new Set([...groups.values()].map((g) => g.server))];
  for (const v of variants) {
    const kind = v.replace(/-(redispub|cluster)$/, '');
    const one = summary(groups.get(`${kind}-one`));
    const two = summary(groups.get(`${v}-two`));
    const cell = (s) => (!s ? 'not run' : !s.st.ok.length ? `failed: ${s.st.failed[0].error}` : `${fmtMs(s.p50)} / ${fmtMs(s.p99)}${s.st.note}`);
    const added = one?.p99 !== undefined && two?.p99 !== undefined ? two.p99 - one.p99 : undefined;
    figures.s4.set(v, { one, two, added });
    out.push(`| ${SERVER_NAMES[v] ?? v} | ${cell(one)} | ${cell(two)} | ${added === undefined ? '–' : (added >= 0 ? '+' : '−') + fmtMs(Math.abs(added))} | ${fmtInt(two?.gaps)} | ${fmtInt(two?.missing)} |`);
  }
  void limit;
  out.push('');
}

function sectionS5(dir, knobs, out, figures) {
  const groups = loadScenario(dir, 's5');
  if (!groups.size) return;
  out.push(`## S5 churn: ${knobs.S5_CONNS} loops of connect, GET /sse, response headers, close, for ${knobs.S5_SECONDS} s`);
  out.push('');
  out.push('| server | mode | connects+disconnects per second | errors | ÷ sserooms | ÷ raw baseline |');
  out.push('|---|---|---|---|---|---|');
  const res = new Map();
  for (const g of groups.values()) {
    const st = groupStatus(g);
    const t = st.ok.map((r) => r.load?.totals ?? r.load ?? {});
    res.set(`${g.server}-${g.mode}`, {
      server: g.server,
      mode: g.mode,
      st,
      perS: median(t.map((x) => pick(x, 'cycles_per_s', 'per_s', 'rate'))),
      errors: median(t.map((x) => pick(x, 'errors', 'failed') ?? 0)),
    });
  }
  figures.s5 = res;
  for (const r of res.values()) {
    const ref = res.get(`sserooms-${r.mode}`)?.perS;
    const raw = res.get(`rawfan-${r.mode}`)?.perS;
    if (!r.st.ok.length) {
      out.push(`| ${SERVER_NAMES[r.server] ?? r.server} | ${r.mode} | failed: ${r.st.failed[0].error} | | | |`);
      continue;
    }
    out.push(`| ${SERVER_NAMES[r.server] ?? r.server}${r.st.note} | ${r.mode} | **${fmtInt(r.perS)}** | ${fmtInt(r.errors)} | ${fmtRatio(r.perS, ref)} | ${fmtRatio(r.perS, raw)} |`);
  }
  out.push('');
}

// perf report --sort dso,sym / --sort dso text -> top entries, kernel share
function sectionProfile(dir, out, figures, sub = 'profile') {
  const pdir = path.join(dir, sub);
  if (!fs.existsSync(pdir)) return;
  const seq = sub === 'profile-seq';
  out.push(seq ? '## Profile of sserooms at the S1-seq peak (sequential publisher)' : '## Profile of sserooms at the S1 peak');
  out.push('');
  const err = path.join(pdir, 'error.txt');
  if (fs.existsSync(err)) {
    out.push(`Not available: ${fs.readFileSync(err, 'utf8').trim()}`);
    out.push('');
    return;
  }
  const rate = fs.existsSync(path.join(pdir, 'rate.txt')) ? fs.readFileSync(path.join(pdir, 'rate.txt'), 'utf8').trim() : '?';
  const parse = (file) => {
    if (!fs.existsSync(file)) return [];
    return fs.readFileSync(file, 'utf8').split('\n')
      .map((l) => /^\s*([\d.]+)%\s+(\S+)\s*(?:\[([.kKuUgH])\]\s*(.*))?$/.exec(l))
      .filter(Boolean)
      .map((m) => ({ pct: Number(m[1]), dso: m[2], kind: m[3], sym: (m[4] ?? '').trim() }));
  };
  const byDso = parse(path.join(pdir, 'by-dso.txt'));
  const kernel = byDso.filter((d) => /kernel|vmlinux|\[k/i.test(d.dso)).reduce((a, d) => a + d.pct, 0);
  const total = byDso.reduce((a, d) => a + d.pct, 0);
  figures[seq ? 'profileSeq' : 'profile'] = { kernel, user: total - kernel, rate };
  out.push(`\`perf record -e cpu-clock -g\` on the server process (same-cores mode, one thread) for ${knobs0.PROFILE_SECONDS} s of one step at ${rate} msg/s × ${fmtInt(Number(knobs0.S1_CONNS))} subscribers (sserooms's median highest clean ${seq ? 'S1-seq' : 'S1'} step, or highest sustained step when no step was clean${seq ? '; publisher: `ssepub --inflight 1`' : ''}).`);
  out.push('');
  out.push(`Kernel: **${kernel.toFixed(1)}%** of the samples; user space: **${(total - kernel).toFixed(1)}%** (by shared object: ${byDso.slice(0, 6).map((d) => `${d.dso} ${d.pct.toFixed(1)}%`).join(', ')}).`);
  out.push('');
  const top = parse(path.join(pdir, 'top-symbols.txt')).slice(0, 15);
  if (top.length) {
    out.push('| self % | where | symbol |');
    out.push('|---|---|---|');
    for (const t of top) out.push(`| ${t.pct.toFixed(2)} | ${t.dso}${t.kind === 'k' ? ' (kernel)' : ''} | \`${t.sym}\` |`);
    out.push('');
  }
  out.push(`Full outputs: \`${sub}/top-symbols.txt\`, \`${sub}/by-dso.txt\`, \`${sub}/callers.txt\` in the results directory.`);
  out.push('');
}

// ---- targets ------------------------------------------------------------

function targets(figures) {
  const rows = [];
  const add = (target, figure, goal, met, margin) => rows.push({ target, figure, goal, met, margin });
  const pct = (x) => `${(x * 100).toFixed(0)}%`;
  for (const mode of ['same', 'all']) {
    const s1 = figures.s1[mode];
    if (!s1) continue;
    const m = mode === 'same' ? 'same cores' : 'all cores';
    // the issue's figure is the clean peak; when sserooms has no clean step
    // at all on this machine, the sustained peaks are compared instead (said so)
    const useClean = (s1.get('sserooms')?.perS ?? 0) > 0;
    const fig = (server) => (useClean ? s1.get(server)?.perS : s1.get(server)?.perSS);
    const basis = useClean ? 'clean' : 'sustained: no clean step';
    const sr = fig('sserooms');
    const raw = fig('rawfan');
    const nchan = fig('nchan');
    const node = fig('node');
    const vs = (label, other, goalText, goalRatio) => {
      if (sr === undefined || other === undefined) return;
      if (!other || !sr) {
        add(`S1 peak vs ${label} (${m}, ${basis})`, `${fmtInt(sr)} vs ${fmtInt(other)} deliveries/s (no such step: ${!sr ? 'sserooms' : label})`, goalText, !!sr && !other, 'not measurable');
        return;
      }
      const ratio = sr / other;
      add(`S1 peak vs ${label} (${m}, ${basis})`, `${fmtInt(sr)} vs ${fmtInt(other)} deliveries/s = ${goalRatio < 1 ? pct(ratio) : `${ratio.toFixed(2)}×`}`,
        goalText, ratio >= goalRatio, (goalRatio < 1 ? `${ratio >= goalRatio ? '+' : ''}${((ratio - goalRatio) * 100).toFixed(0)} points` : `${(ratio / goalRatio).toFixed(2)}× the goal`) +
        (label === 'raw baseline' && ratio > 1.1 ? ' (the baseline is below sserooms: under this load it is no ceiling, see the S1 note)' : ''));
    };
    vs('raw baseline', raw, '≥ 90%', 0.9);
    vs('Nchan', nchan, '≥ 2×', 2);
    vs('Node', node, '≥ 10×', 10);
    // p99 of the 100 msg/s step. A server whose run stopped below 100 msg/s
    // (not sustained) has none; its p99 at 100 msg/s is then at least the p99
    // of the highest step it ran (latency only grows with the rate), which
    // is used as a lower bound.
    const at100 = (server) => {
      const r = s1.get(server);
      if (!r || !r.peaks.length) return null;
      const p99 = median(r.peaks.map((p) => p.steps.find((x) => x.rate === 100)?.p99));
      const last = r.peaks.map((p) => p.steps[p.steps.length - 1]).filter((x) => x && x.rate < 100);
      return { p99, lowerBound: median(last.map((x) => x.p99)), lastRate: median(last.map((x) => x.rate)) };
    };
    const a = at100('sserooms');
    const b = at100('nchan');
    const goal = '≤ ½ of Nchan';
    const name = `S1 p99 at 100 msg/s vs Nchan (${m})`;
    if (a && b) {
      if (a.p99 === undefined) {
        add(name, `sserooms did not reach 100 msg/s (stopped at ${fmtInt(a.lastRate)} msg/s)`, goal, false, 'not measurable');
      } else if (b.p99 !== undefined) {
        add(name, `${fmtMs(a.p99)} vs ${fmtMs(b.p99)}`, goal, a.p99 <= b.p99 / 2, `${fmtRatio(a.p99, b.p99)} of Nchan's`);
      } else if (b.lowerBound !== undefined) {
        add(name, `${fmtMs(a.p99)} vs Nchan > ${fmtMs(b.lowerBound)} (its p99 at ${fmtInt(b.lastRate)} msg/s, where it stopped keeping up)`,
          goal, a.p99 <= b.lowerBound / 2, `≤ ${fmtRatio(a.p99, b.lowerBound)} of Nchan's`);
      } else {
        add(name, `${fmtMs(a.p99)}; Nchan has no figure`, goal, false, 'not measurable');
      }
    }
  }
  if (figures.s3) {
    for (const r of figures.s3.values()) {
      if (r.server !== 'sserooms' || r.per === undefined) continue;
      const others = ['nchan', 'node'].map((s) => figures.s3.get(`${s}-${r.mode}`)?.per).filter((x) => x !== undefined);
      const lessThanPeers = others.every((x) => r.per < x);
      add(`S3 memory per idle stream (${r.mode})`, `${fmtBytes(r.per)}; Nchan ${fmtBytes(figures.s3.get(`nchan-${r.mode}`)?.per)}, Node ${fmtBytes(figures.s3.get(`node-${r.mode}`)?.per)}`,
        '≤ 1 KiB and < Nchan, Node', r.per <= 1024 && lessThanPeers, `${fmtBytes(1024 - r.per)} under 1 KiB${lessThanPeers ? '' : '; not below every peer'}`);
    }
  }
  const s4What = { sserooms: 'publish on A', 'sserooms-redispub': 'publisher into Redis', 'sserooms-cluster': '3-shard Redis Cluster' };
  for (const v of ['sserooms', 'sserooms-redispub', 'sserooms-cluster']) {
    const s4 = figures.s4.get(v);
    if (!s4 || s4.added === undefined) continue;
    add(`S4 p99 added by Redis (${s4What[v]})`, `${fmtMs(s4.two.p99)} − ${fmtMs(s4.one.p99)} = ${fmtMs(s4.added)}`, '≤ 1 ms', s4.added <= 1000, `${fmtMs(Math.abs(1000 - s4.added))} ${s4.added <= 1000 ? 'to spare' : 'over'}`);
  }
  if (figures.s5) {
    for (const r of figures.s5.values()) {
      if (r.server !== 'sserooms' || r.perS === undefined) continue;
      add(`S5 churn (${r.mode})`, `${fmtInt(r.perS)}/s, ${fmtInt(r.errors)} errors`, '≥ 10,000/s, no errors', r.perS >= 10000 && r.errors === 0, `${fmtRatio(r.perS, 10000)} of the goal`);
    }
  }
  targets14(figures, add);
  targets12(figures, add);
  return rows;
}

// issue #14: the sequential publisher against one sserooms thread (same
// cores), sustained figures (nothing lost, the publisher reached the rate)
function targets14(figures, add) {
  const seq = figures['s1-seq'].same;
  const sr = seq?.get('sserooms');
  if (!sr || !sr.st.ok.length) return;
  add('#14 S1-seq: sequential publisher, sserooms sustained (same cores)', `${fmtInt(sr.rateS)} msg/s = ${fmtInt(sr.perSS)} deliveries/s`,
    '≥ 200 msg/s (2,000,000 deliveries/s), nothing lost', sr.rateS >= 200, `${fmtRatio(sr.rateS, 200)} of the goal`);
  // answer p99 at the 200 msg/s step (the target's rate), else at the peak
  const at200 = median(sr.peaks.map((p) => p.steps.find((x) => x.rate === 200)?.ans99));
  const ans = at200 ?? sr.ans99S;
  if (ans !== undefined) {
    add(`#14 S1-seq: publish answer p99 ${at200 !== undefined ? 'at 200 msg/s' : `at the sustained peak (${fmtInt(sr.rateS)} msg/s; 200 not reached)`} (same cores)`, fmtMs(ans), '≤ 10 ms', ans <= 10000,
      `${fmtMs(Math.abs(10000 - ans))} ${ans <= 10000 ? 'to spare' : 'over'}`);
  }
  const nchan = seq.get('nchan');
  if (nchan && nchan.st.ok.length) {
    const ok = nchan.perSS > 0 ? sr.perSS / nchan.perSS : undefined;
    add('#14 S1-seq: sserooms vs Nchan, same publisher (same cores, sustained)', `${fmtInt(sr.perSS)} vs ${fmtInt(nchan.perSS)} deliveries/s${ok === undefined ? '' : ` = ${ok.toFixed(2)}×`}`,
      '≥ 5×', ok === undefined ? sr.perSS > 0 : ok >= 5, ok === undefined ? 'Nchan sustained no step' : `${(ok / 5).toFixed(2)}× the goal`);
  }
}

// issue #12: TLS and HTTP/2 (same cores, sustained figures), handshakes,
// idle memory per TLS stream
function targets12(figures, add) {
  const tls = figures['s1-tls'].same;
  const h2 = figures['s1-h2'].same;
  const fig = (m, server) => { const r = m?.get(server); return r && r.st.ok.length ? r.perSS : undefined; };
  const t = fig(tls, 'sserooms-tls');
  const ratio = (label, other, goal, goalText) => {
    if (t === undefined || other === undefined) return;
    const x = other > 0 ? t / other : undefined;
    add(`#12 S1-TLS vs ${label} (same cores, sustained)`, `${fmtInt(t)} vs ${fmtInt(other)} deliveries/s${x === undefined ? '' : ` = ${goal < 1 ? `${(x * 100).toFixed(0)}%` : `${x.toFixed(2)}×`}`}`,
      goalText, x === undefined ? t > 0 : x >= goal, x === undefined ? `${label} sustained no step` : goal < 1 ? `${x >= goal ? '+' : ''}${((x - goal) * 100).toFixed(0)} points` : `${(x / goal).toFixed(2)}× the goal`);
  };
  ratio('sserooms plaintext', fig(tls, 'sserooms') ?? fig(figures.s1.same, 'sserooms'), 0.5, '≥ 50%');
  ratio('nginx in front', fig(tls, 'sserooms-nginx-tls'), 3, '≥ 3×');
  ratio('Nchan over TLS', fig(tls, 'nchan-tls'), 2, '≥ 2×');
  const hh = fig(h2, 'sserooms-h2');
  if (hh !== undefined && t !== undefined) {
    add('#12 S1-H2 vs S1-TLS (same cores, sustained)', `${fmtInt(hh)} vs ${fmtInt(t)} deliveries/s = ${t > 0 ? `${(hh / t).toFixed(2)}×` : '–'}`, '≥ S1-TLS', hh >= t, t > 0 ? `${(hh / t).toFixed(2)}× of S1-TLS` : 'S1-TLS sustained no step');
  }
  const hs = figures.handshake;
  const full = hs?.get('sserooms-tls-full');
  const res = hs?.get('sserooms-tls-resumed');
  if (full && full.perS !== undefined) {
    add('#12 full TLS handshakes per second, one core (ECDSA P-256)', `${fmtInt(full.perS)}/s (connect + handshake + GET /sse head + close)`, '≥ 2,000/s', full.perS >= 2000, `${fmtRatio(full.perS, 2000)} of the goal`);
    if (res && res.perS !== undefined) {
      add('#12 resumed TLS handshakes per second, one core', `${fmtInt(res.perS)}/s, ${res.resumed === undefined ? '?' : `${(res.resumed * 100).toFixed(0)}%`} resumed`, '> full handshakes', res.perS > full.perS, `${fmtRatio(res.perS, full.perS)} of full`);
    }
  }
  if (figures.s3) {
    for (const r of figures.s3.values()) {
      if ((r.server !== 'sserooms-tls' && r.server !== 'sserooms-h2') || r.per === undefined) continue;
      add(`#12 S3 memory per idle ${r.server === 'sserooms-h2' ? 'HTTP/2' : 'TLS'} stream (${r.mode})`, fmtBytes(r.per), '≤ 4 KiB', r.per <= 4096, `${fmtBytes(Math.abs(4096 - r.per))} ${r.per <= 4096 ? 'under' : 'over'} 4 KiB`);
    }
  }
}

// The sections of an earlier RESULTS_MD for the scenarios this run did not
// run (and sections other tools wrote there, e.g. bench/presence.sh's),
// each marked with the run it comes from, so that a run of some scenarios
// does not drop the others' figures.
const SECTION_OF = [
  ['s1', /^## S1 fan-out/], ['s1-seq', /^## S1-seq/], ['s1-tls', /^## S1-TLS/], ['s1-h2', /^## S1-H2/],
  ['s2', /^## S2 /], ['s3', /^## S3 /], ['s4', /^## S4 /], ['s5', /^## S5 /], ['handshake', /^## TLS handshakes/],
  ['profile', /^## Profile of sserooms at the S1 peak/], ['profile-seq', /^## Profile of sserooms at the S1-seq/],
];
const OWN_SECTIONS = [/^## Targets/, /^## Machine and run/, /^## Closing note/, /^## Failed runs/, /^## Kept from/];
function keptSections(mdFile, ran) {
  if (!fs.existsSync(mdFile)) return [];
  const text = fs.readFileSync(mdFile, 'utf8');
  const from = /Written by `bench\/suite.sh` \(`make bench`\) on ([^,]+), commit (\w+)/.exec(text);
  const origin = from ? `the run of ${from[1]}, commit ${from[2]}` : 'the previous RESULTS.md';
  const kept = [];
  let cur = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('## ')) {
      cur = null;
      const known = SECTION_OF.find(([, re]) => re.test(line));
      const own = OWN_SECTIONS.some((re) => re.test(line));
      if (known ? !ran.has(known[0]) : !own) {
        cur = [line];
        cur.fromSuite = !!known; // other tools' sections say themselves where they come from
        kept.push(cur);
        continue;
      }
    }
    if (cur) cur.push(line);
  }
  // a section kept before keeps the origin it was marked with
  const marker = /^\*Kept from .*: not part of this run\.\*$/;
  for (const lines of kept) {
    if (lines.fromSuite && !lines.some((l) => marker.test(l))) lines.splice(1, 0, '', `*Kept from ${origin}: not part of this run.*`);
  }
  return kept.map((lines) => lines.join('\n').replace(/\n+$/, '\n'));
}

let knobs0 = {};

function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--s1-peak-rate') {
    const [, dir, server, mode, scen = 's1'] = args;
    const rk = S1_KINDS[scen]?.rates ?? 'S1_RATES';
    const machine = readEnv(path.join(dir, 'machine.env'));
    const knobs = Object.fromEntries(Object.entries(machine).filter(([k]) => k.startsWith('knob_')).map(([k, v]) => [k.slice(5), v]));
    const g = loadScenario(dir, scen).get(`${server}-${mode}`);
    if (!g) process.exit(1);
    const r = median(g.runs.filter((x) => x.ok).map((x) => (s1Peak(x, rates(knobs, rk), Number(knobs.P99_LIMIT_US) || 100000, Number(knobs.SUSTAIN_P99_US) || 1000000).best ?? s1Peak(x, rates(knobs, rk), Number(knobs.P99_LIMIT_US) || 100000, Number(knobs.SUSTAIN_P99_US) || 1000000).bestS)?.rate));
    if (r === undefined) process.exit(1);
    // the nearest configured step at or below the median
    const all = rates(knobs, rk).filter((x) => x <= r);
    console.log(all.length ? all[all.length - 1] : r);
    return;
  }
  const [dir, mdFile] = args;
  if (!dir || !mdFile) {
    console.error('usage: node report.mjs RESULTS_DIR RESULTS_MD');
    process.exit(2);
  }
  const machine = readEnv(path.join(dir, 'machine.env'));
  const knobs = Object.fromEntries(Object.entries(machine).filter(([k]) => k.startsWith('knob_')).map(([k, v]) => [k.slice(5), v]));
  knobs0 = knobs;
  const figures = { s1: {}, 's1-seq': {}, 's1-tls': {}, 's1-h2': {}, s2: {}, s3: null, s4: new Map(), s5: null, handshake: null, profile: null, profileSeq: null, limitUs: Number(knobs.P99_LIMIT_US) || 100000 };
  const body = [];
  sectionS1(dir, knobs, body, figures);
  sectionS1(dir, knobs, body, figures, 's1-seq');
  sectionS1(dir, knobs, body, figures, 's1-tls');
  sectionS1(dir, knobs, body, figures, 's1-h2');
  sectionS2(dir, knobs, body, figures);
  sectionS3(dir, knobs, body, figures);
  sectionS4(dir, knobs, body, figures);
  sectionS5(dir, knobs, body, figures);
  sectionHandshake(dir, knobs, body, figures);
  sectionProfile(dir, body, figures);
  sectionProfile(dir, body, figures, 'profile-seq');
  // what this run ran: a scenario directory, or a profile directory
  const ran = new Set(['s1', 's1-seq', 's1-tls', 's1-h2', 's2', 's3', 's4', 's5', 'handshake', 'profile', 'profile-seq']
    .filter((x) => fs.existsSync(path.join(dir, x))));
  const kept = keptSections(mdFile, ran);

  // every failed run, with its reason
  const failures = [];
  for (const sc of ['s1', 's1-seq', 's1-tls', 's1-h2', 's2', 's3', 's4', 's5', 'handshake']) {
    for (const g of loadScenario(dir, sc).values()) {
      for (const r of g.runs) if (!r.ok) failures.push(`- ${sc} ${g.server} ${g.mode} ${path.basename(r.dir)}: ${r.error}`);
    }
  }

  const rel = path.relative(path.dirname(path.resolve(mdFile)), path.resolve(dir));
  const tg = targets(figures);
  const md = [];
  md.push('# sserooms benchmark results');
  md.push('');
  md.push(`Written by \`bench/suite.sh\` (\`make bench\`) on ${machine.date}, commit ${machine.commit}${machine.dirty === 'yes' ? ' (with uncommitted changes)' : ''}. Raw per-run JSON: \`${rel}/\` (not in git; \`make bench\` writes a new one). How to read this: docs/benchmarks.md.`);
  md.push('');
  md.push(`## Targets of issue #4${tg.some((t) => t.target.startsWith('#')) ? ', and of #12 and #14 (marked)' : ''}`);
  md.push('');
  if (tg.length) {
    md.push('| target | figure | goal | met | margin |');
    md.push('|---|---|---|---|---|');
    for (const t of tg) md.push(`| ${t.target} | ${t.figure} | ${t.goal} | ${t.met ? 'yes' : '**no**'} | ${t.margin} |`);
  } else {
    md.push('No target could be evaluated (the scenarios they need did not produce figures; see the failures below).');
  }
  md.push('');
  md.push('## Machine and run');
  md.push('');
  md.push(`- ${machine.nproc} CPUs: ${machine.cpu}; ${fmtInt(Number(machine.ram_kib) / 1024)} MiB RAM; ${machine.kernel}; ${machine.os}`);
  md.push(`- ${machine.sserooms} (--threads option: ${machine.sserooms_threads}); nginx ${machine.nginx} + libnginx-mod-nchan ${machine.nchan}; Node ${machine.node} + better-sse ${machine.better_sse}; redis ${machine.redis}${machine.openssl ? `; OpenSSL ${machine.openssl}, nghttp2 ${machine.nghttp2}${machine.tls_cert ? `; certificate: ${machine.tls_cert}` : ''}` : ''}`);
  md.push(`- loopback only; net.ipv4.tcp_tw_reuse=${machine.tcp_tw_reuse}, ip_local_port_range ${machine.port_range}`);
  md.push(`- command: \`${machine.command}\` (${knobs.RUNS} runs per figure; the whole run took ${machine.elapsed_s ? `${Math.round(Number(machine.elapsed_s) / 60)} min` : '?'})`);
  md.push(`- scenarios: ${knobs.SCENARIOS ?? '?'}; settings: ${['S1_CONNS', 'S1_RATES', 'S1_STEP_S', 'S1_PAUSE_S', 'S1_SEQ_RATES', 'S1_TLS_CONNS', 'H2_STREAMS', 'S2_CONNS', 'S2_ROOMS', 'S2_RATE', 'S2_SECONDS', 'S3_CONNS', 'S4_CONNS', 'S4_ROOMS', 'S4_RATE', 'S4_SECONDS', 'S5_CONNS', 'S5_SECONDS', 'HANDSHAKE_CONNS', 'HANDSHAKE_SECONDS'].filter((k) => knobs[k] !== undefined).map((k) => `${k}=${knobs[k]}`).join(' ')}`);
  md.push('');
  md.push(...body);
  for (const k of kept) md.push(k);
  // closing note: what was missed and by how much, and where the time goes
  md.push('## Closing note');
  md.push('');
  const missed = tg.filter((t) => !t.met);
  md.push(`${tg.length - missed.length} of ${tg.length} targets met.` + (missed.length ? ' Missed:' : ''));
  for (const t of missed) md.push(`- ${t.target}: ${t.figure} (goal ${t.goal}; ${t.margin})`);
  if (figures.profile) {
    const top = fs.existsSync(path.join(dir, 'profile', 'top-symbols.txt'))
      ? fs.readFileSync(path.join(dir, 'profile', 'top-symbols.txt'), 'utf8').split('\n')
        .map((l) => /^\s*([\d.]+)%\s+(\S+)\s+\[\.\]\s*(.*)$/.exec(l)).filter(Boolean).slice(0, 4)
        .map((m) => `\`${m[3].trim()}\` ${Number(m[1]).toFixed(1)}%`)
      : [];
    md.push('');
    md.push(`At the S1 peak (${figures.profile.rate} msg/s) the kernel has ${figures.profile.kernel.toFixed(0)}% of the server's samples (TCP send and loopback receive); user space ${figures.profile.user.toFixed(0)}%${top.length ? `, led by ${top.join(', ')}` : ''}.`);
  }
  if (figures.profileSeq) {
    md.push('');
    md.push(`At the S1-seq peak (sequential publisher, ${figures.profileSeq.rate} msg/s) the kernel has ${figures.profileSeq.kernel.toFixed(0)}% of the server's samples, user space ${figures.profileSeq.user.toFixed(0)}% (see its profile section).`);
  }
  md.push('');
  md.push('## Failed runs');
  md.push('');
  md.push(failures.length ? failures.join('\n') : 'None.');
  md.push('');
  fs.writeFileSync(mdFile, md.join('\n'));

  console.log('targets:');
  for (const t of tg) console.log(`  ${t.met ? 'MET   ' : 'MISSED'} ${t.target}: ${t.figure} (goal ${t.goal}; ${t.margin})`);
  if (!tg.length) console.log('  none could be evaluated');
  if (failures.length) console.log(`${failures.length} failed run(s): see ${mdFile}`);
}

main();
