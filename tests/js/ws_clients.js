#!/usr/bin/env node
// MQTT.js from Node over ws:// against a running ternd.
//
//   node ws_clients.js ws://127.0.0.1:PORT/mqtt
//
// For MQTT 3.1 (subprotocol mqttv3.1), 3.1.1 and 5 (subprotocol mqtt): a
// subscriber (QoS 2 subscription) and a publisher exchange QoS 0, 1 and 2
// messages and a 200 KiB one; each arrives once, intact, at
// min(publish QoS, 2). Prints "ws_clients: ok" and exits 0, or prints the
// failure and exits 1. Every wait is bounded.
'use strict';

const crypto = require('crypto');
const mqtt = require('mqtt');

const url = process.argv[2];
if (!url) {
  console.error('usage: node ws_clients.js ws://HOST:PORT/PATH');
  process.exit(2);
}
const STEP_MS = 10000;

function withTimeout(promise, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), STEP_MS);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function connect(version, clientId) {
  const opts = {
    clientId,
    protocolVersion: version,
    reconnectPeriod: 0,
    connectTimeout: STEP_MS,
    clean: true,
  };
  if (version === 3) opts.protocolId = 'MQIsdp';
  return withTimeout(mqtt.connectAsync(url, opts), `connect v${version}`);
}

// Resolves with the next `n` messages on client (topic, payload, qos).
function nextMessages(client, n, what) {
  const got = [];
  return withTimeout(new Promise((resolve) => {
    const onMsg = (topic, payload, packet) => {
      got.push({ topic, payload: Buffer.from(payload), qos: packet.qos });
      if (got.length === n) {
        client.removeListener('message', onMsg);
        resolve(got);
      }
    };
    client.on('message', onMsg);
  }), what);
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function runVersion(version) {
  const tag = `v${version}-${crypto.randomBytes(4).toString('hex')}`;
  const topic = `ws_clients/${tag}`;
  const sub = await connect(version, `sub-${tag}`);
  const pub = await connect(version, `pub-${tag}`);
  try {
    const granted = await withTimeout(
      sub.subscribeAsync(`${topic}/#`, { qos: 2 }), 'subscribe');
    check(granted.length === 1 && granted[0].qos === 2,
      `v${version}: SUBACK ${JSON.stringify(granted)}`);

    const big = crypto.randomBytes(200 * 1024);
    const sent = [
      { topic: `${topic}/q0`, payload: Buffer.from('qos 0'), qos: 0 },
      { topic: `${topic}/q1`, payload: Buffer.from('qos 1'), qos: 1 },
      { topic: `${topic}/q2`, payload: Buffer.from('qos 2'), qos: 2 },
      { topic: `${topic}/big`, payload: big, qos: 1 },
    ];
    const arriving = nextMessages(sub, sent.length, `v${version} messages`);
    for (const m of sent) {
      await withTimeout(pub.publishAsync(m.topic, m.payload, { qos: m.qos }),
        `publish ${m.topic}`);
    }
    const got = await arriving;
    for (const m of sent) {
      const g = got.filter((x) => x.topic === m.topic);
      check(g.length === 1, `v${version}: ${m.topic} arrived ${g.length}x`);
      check(g[0].qos === m.qos,
        `v${version}: ${m.topic} qos ${g[0].qos}, expected ${m.qos}`);
      check(g[0].payload.equals(m.payload),
        `v${version}: ${m.topic} payload differs ` +
        `(${g[0].payload.length} bytes, expected ${m.payload.length})`);
    }
    // and back: the subscriber publishes, the publisher receives
    await withTimeout(pub.subscribeAsync(`${topic}/back`, { qos: 1 }),
      'subscribe back');
    const back = nextMessages(pub, 1, `v${version} back`);
    await withTimeout(sub.publishAsync(`${topic}/back`, big, { qos: 2 }),
      'publish back');
    const [b] = await back;
    check(b.payload.equals(big) && b.qos === 1,
      `v${version}: back message wrong (qos ${b.qos})`);
    console.log(`ws_clients: v${version} ok (qos 0/1/2, 200 KiB both ways)`);
  } finally {
    await Promise.allSettled([
      withTimeout(sub.endAsync(), 'end'), withTimeout(pub.endAsync(), 'end'),
    ]);
  }
}

async function main() {
  for (const v of [3, 4, 5]) await runVersion(v);
  console.log('ws_clients: ok');
}

main().then(() => process.exit(0), (err) => {
  console.error(`ws_clients: FAILED: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
