// dashboard_driver.mjs — Debian's headless Chromium driven by Playwright
// (playwright-core, no browser download) for the dashboard e2e tests, which
// control it from Python (tests/e2e/browser.py) over stdin/stdout: one JSON
// command a line in, one JSON reply a line out ({"ok": true, ...} or
// {"ok": false, "error": "..."}). Nothing else is written to stdout.
//
//   {"cmd": "open", "url": "http://127.0.0.1:9471/", "basic_auth": ["u", "p"]}
//   {"cmd": "snapshot"}        -> {"ok": true, "snapshot": {...}} (the page's test hooks)
//   {"cmd": "wait", "expr": "JS expression", "timeout_ms": 10000}
//   {"cmd": "wait", "selector": "section.target[data-up=false]", "timeout_ms": 10000}
//   {"cmd": "eval", "expr": "document.title"}
//   {"cmd": "screenshot", "path": "/tmp/x.png", "full_page": true}
//   {"cmd": "logs"}            -> console messages, page errors, failed requests
//   {"cmd": "reload"}
//   {"cmd": "close"}
//
// Usage: node dashboard_driver.mjs [--chromium /usr/bin/chromium] [--width 1280] [--height 900]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const argv = process.argv.slice(2);
function flag(name, dflt) {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
}

const CHROMIUM = flag('--chromium', process.env.MYDEV_CHROMIUM || '/usr/bin/chromium');
const WIDTH = parseInt(flag('--width', '1280'), 10);
const HEIGHT = parseInt(flag('--height', '900'), 10);
// Chromium on a machine with no network: nothing in the background tries to
// reach the internet (or it fails, many times a second).
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Reads the page's test hooks (see the dashboard's page). Runs in the page.
function readHooks() {
  const text = (el, sel) => {
    const e = sel ? el.querySelector(sel) : el;
    return e ? e.textContent.trim() : null;
  };
  const value = (el, sel) => {
    const e = el.querySelector(sel);
    if (!e) return null;
    return { text: e.textContent.trim(), value: e.dataset.value ?? null };
  };
  const targets = [...document.querySelectorAll('section.target')].map((sec) => ({
    name: sec.dataset.target ?? null,
    up: sec.dataset.up ?? null,
    status: text(sec, '.target-status'),
    devices: [...sec.querySelectorAll('[data-device]')]
      .filter((el) => !el.matches('tr[data-session-id]') && !el.closest('tr[data-session-id]'))
      .map((el) => ({
        name: el.dataset.device,
        pps: value(el, '.pps'),
        bps: value(el, '.bps'),
        drops: value(el, '.drops'),
      })),
    sessions: [...sec.querySelectorAll('tr[data-session-id]')].map((tr) => ({
      id: tr.dataset.sessionId,
      user: value(tr, '.user'),
      comm: value(tr, '.comm'),
      device: value(tr, '.device'),
      pps: value(tr, '.pps'),
      drops: value(tr, '.drops'),
      fill: value(tr, '.fill'),
    })),
    text: sec.innerText,
  }));
  // Session rows outside any target section (a single table for all targets).
  const loose = [...document.querySelectorAll('tr[data-session-id]')]
    .filter((tr) => !tr.closest('section.target'))
    .map((tr) => ({
      id: tr.dataset.sessionId,
      target: tr.dataset.target ?? null,
      user: value(tr, '.user'),
      comm: value(tr, '.comm'),
      device: value(tr, '.device'),
      pps: value(tr, '.pps'),
      drops: value(tr, '.drops'),
      fill: value(tr, '.fill'),
    }));
  const conn = document.querySelector('#connection');
  return {
    url: location.href,
    title: document.title,
    version: document.body ? document.body.dataset.version ?? null : null,
    events: document.body ? document.body.dataset.events ?? null : null,
    connection: conn ? conn.textContent.trim() : null,
    targets,
    loose_sessions: loose,
    time_ms: Date.now(),
  };
}

const logs = [];
function log(kind, text) {
  logs.push({ kind, text: String(text).slice(0, 2000), time_ms: Date.now() });
  if (logs.length > 500) logs.shift();
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mydev-chromium-'));
let context = null;
let page = null;

async function launch() {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: WIDTH, height: HEIGHT },
    ignoreHTTPSErrors: true,
    timeout: 60000,
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    const where = m.location() && m.location().url ? ' (' + m.location().url + ')' : '';
    log('console.' + m.type(), m.text() + where);
  });
  page.on('pageerror', (e) => log('pageerror', e.stack || e.message));
  page.on('requestfailed', (r) => log('requestfailed', r.url() + ' ' + (r.failure()?.errorText ?? '')));
  page.on('crash', () => log('crash', 'page crashed'));
}

async function handle(cmd) {
  switch (cmd.cmd) {
    case 'open': {
      if (cmd.basic_auth) {
        const [u, p] = cmd.basic_auth;
        await page.setExtraHTTPHeaders({
          Authorization: 'Basic ' + Buffer.from(u + ':' + p).toString('base64'),
        });
      }
      const resp = await page.goto(cmd.url, {
        waitUntil: cmd.wait_until || 'load',
        timeout: cmd.timeout_ms || 15000,
      });
      return { status: resp ? resp.status() : null };
    }
    case 'reload': {
      const resp = await page.reload({ timeout: cmd.timeout_ms || 15000 });
      return { status: resp ? resp.status() : null };
    }
    case 'snapshot':
      return { snapshot: await page.evaluate(readHooks) };
    case 'wait': {
      const timeout = cmd.timeout_ms || 10000;
      if (cmd.selector) {
        await page.waitForSelector(cmd.selector, { timeout, state: cmd.state || 'attached' });
      } else {
        await page.waitForFunction(cmd.expr, cmd.arg ?? null, { timeout, polling: 100 });
      }
      return {};
    }
    case 'eval':
      return { value: await page.evaluate(cmd.expr) };
    case 'screenshot':
      await page.screenshot({ path: cmd.path, fullPage: cmd.full_page !== false });
      return { path: cmd.path };
    case 'logs':
      return { logs };
    case 'close':
      return {};
    default:
      throw new Error('unknown command ' + JSON.stringify(cmd.cmd));
  }
}

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function shutdown(code) {
  try {
    if (context) await context.close();
  } catch (e) {
    // the browser is gone already
  }
  fs.rmSync(userDataDir, { recursive: true, force: true });
  process.exit(code);
}

async function main() {
  try {
    await launch();
    reply({ ok: true, ready: true, chromium: context.browser()?.version() ?? null });
  } catch (e) {
    reply({ ok: false, error: 'launch: ' + (e.stack || e.message) });
    await shutdown(1);
  }
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      reply({ ok: false, error: 'bad JSON: ' + e.message });
      continue;
    }
    try {
      const out = await handle(cmd);
      reply({ ok: true, ...out });
    } catch (e) {
      reply({ ok: false, error: e.message || String(e) });
    }
    if (cmd.cmd === 'close') break;
  }
  await shutdown(0);
}

process.on('SIGTERM', () => shutdown(0));
main();
