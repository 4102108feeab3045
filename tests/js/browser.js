#!/usr/bin/env node
// MQTT.js in a real browser (Debian chromium driven by playwright-core)
// against a running ternd, checked from native MQTT clients.
//
//   node browser.js --ws ws://127.0.0.1:WSPORT/mqtt --mqtt-port PORT
//                   [--mqtt-host 127.0.0.1] [--chromium /usr/bin/chromium]
//
// Serves page.html and MQTT.js's browser bundle from a tiny HTTP server on
// 127.0.0.1 (port 0), opens the page in headless chromium with a fresh
// profile, connects it over WebSocket (MQTT 5), then:
//   1. mosquitto_pub (TCP) publishes to the page's topic: the page gets it;
//   2. the page publishes: mosquitto_sub (TCP) gets it.
// Prints "browser: ok" and exits 0, or the failure (with the page's
// console) and exits 1. Every wait is bounded.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { chromium } = require('playwright-core');

const STEP_MS = 15000;
const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

function parseArgs(argv) {
  const o = { mqttHost: '127.0.0.1', chromium: '/usr/bin/chromium' };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--ws') o.ws = v;
    else if (k === '--mqtt-port') o.mqttPort = v;
    else if (k === '--mqtt-host') o.mqttHost = v;
    else if (k === '--chromium') o.chromium = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!o.ws || !o.mqttPort) {
    throw new Error('usage: node browser.js --ws URL --mqtt-port PORT');
  }
  return o;
}

// Serves exactly two files; everything else is 404.
function startServer() {
  const files = {
    '/page.html': [path.join(__dirname, 'page.html'), 'text/html'],
    '/mqtt.min.js': [
      path.join(__dirname, 'node_modules', 'mqtt', 'dist', 'mqtt.min.js'),
      'application/javascript'],
  };
  const server = http.createServer((req, res) => {
    const f = files[req.url.split('?')[0]];
    if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': f[1], 'Cache-Control': 'no-store' });
    res.end(fs.readFileSync(f[0]));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// mosquitto_sub in the background for one message; `message` resolves
// with its payload once it printed "topic|payload" (it flushes at exit).
function mosquittoSub(o, topic) {
  const p = spawn('mosquitto_sub', [
    '-h', o.mqttHost, '-p', String(o.mqttPort), '-V', 'mqttv311',
    '-t', topic, '-q', '1', '-C', '1', '-W', '30', '-F', '%t|%p'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let onMessage;
  const message = new Promise((r) => { onMessage = r; });
  p.stdout.on('data', (d) => {
    out += d.toString();
    const line = out.split('\n').find((l) => l.startsWith(`${topic}|`));
    if (line !== undefined) onMessage(line.slice(topic.length + 1));
  });
  p.stderr.on('data', (d) => { out += d.toString(); });
  return { proc: p, message, output: () => out };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), STEP_MS);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function main() {
  const o = parseArgs(process.argv);
  const tag = crypto.randomBytes(4).toString('hex');
  const toPage = `browser/${tag}/to-page`;
  const fromPage = `browser/${tag}/from-page`;
  const consoleLines = [];
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-chromium-'));
  const server = await startServer();
  let context = null;
  let sub = null;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: o.chromium, headless: true, args: CHROMIUM_ARGS,
      timeout: STEP_MS,
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (m) => consoleLines.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e}`));
    page.setDefaultTimeout(STEP_MS);
    await page.goto(`http://127.0.0.1:${server.address().port}/page.html`);

    const granted = await page.evaluate(
      ([u, id, t]) => window.tern.start(u, id, t),
      [o.ws, `browser-${tag}`, toPage]);
    if (JSON.stringify(granted) !== '[1]') {
      throw new Error(`page SUBACK ${JSON.stringify(granted)}`);
    }

    // 1. native publisher -> page
    const r = spawnSync('mosquitto_pub', [
      '-h', o.mqttHost, '-p', String(o.mqttPort), '-V', 'mqttv311',
      '-t', toPage, '-m', `hello page ${tag}`, '-q', '1'],
    { timeout: STEP_MS, encoding: 'utf8' });
    if (r.status !== 0) {
      throw new Error(`mosquitto_pub exited ${r.status}: ${r.stderr}`);
    }
    await page.waitForFunction(
      (p) => window.tern.received.some((m) => m.payload === p),
      `hello page ${tag}`);
    console.log('browser: page got the message from mosquitto_pub');

    // 2. page -> native subscriber. Nothing tells when mosquitto_sub's
    // subscription is in place, so the page publishes until it shows.
    sub = mosquittoSub(o, fromPage);
    let got;
    sub.message.then((m) => { got = m; });
    const deadline = Date.now() + STEP_MS;
    while (got === undefined && Date.now() < deadline) {
      await page.evaluate(([t, p]) => window.tern.publish(t, p, 1),
        [fromPage, `hello native ${tag}`]);
      await Promise.race([sub.message, sleep(250)]);
    }
    if (got === undefined) throw new Error('timeout: mosquitto_sub message');
    if (got !== `hello native ${tag}`) {
      throw new Error(`mosquitto_sub got ${JSON.stringify(got)}`);
    }
    console.log('browser: mosquitto_sub got the message from the page');

    await page.evaluate(() => window.tern.stop());
    console.log('browser: ok');
  } catch (err) {
    for (const l of consoleLines) console.error(l);
    if (sub) console.error(`mosquitto_sub output:\n${sub.output()}`);
    throw err;
  } finally {
    if (sub && sub.proc.exitCode === null) sub.proc.kill();
    if (context) await context.close().catch(() => {});
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(`browser: FAILED: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
