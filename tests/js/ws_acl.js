#!/usr/bin/env node
// The ACL seen by MQTT.js from Node over ws:// (test_acl.py runs it).
//
//   node ws_acl.js ws://HOST:PORT/mqtt READER PASSWORD WRITER PASSWORD
//
// READER may subscribe to pub/# but not secrets/#; WRITER may publish on
// pub/ok/# only. For MQTT 3.1.1 and 5: the reader's SUBSCRIBE gets the
// secrets/# filter refused (0x80 / 0x87) and pub/# granted; the writer's
// QoS 1 publish on pub/ok/... arrives; its publish on pub/no/... is refused
// with PUBACK 0x87 on MQTT 5 and acknowledged but dropped on 3.1.1
// [MQTT-3.3.5-2], and never arrives. Prints "ws_acl: ok" and exits 0, or
// prints the failure and exits 1. Every wait is bounded.
'use strict';

const mqtt = require('mqtt');

const [url, reader, readerPw, writer, writerPw] = process.argv.slice(2);
if (!writerPw) {
  console.error('usage: node ws_acl.js URL READER PW WRITER PW');
  process.exit(2);
}
const STEP_MS = 10000;
const QUIET_MS = 500;

function withTimeout(promise, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), STEP_MS);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

function connect(version, username, password, tag) {
  return withTimeout(mqtt.connectAsync(url, {
    clientId: `wsacl-${tag}-${version}-${process.pid}`,
    protocolVersion: version,
    username,
    password,
    reconnectPeriod: 0,
    connectTimeout: STEP_MS,
    clean: true,
  }), `connect ${tag} v${version}`);
}

async function round(version) {
  const sub = await connect(version, reader, readerPw, 'r');
  const pub = await connect(version, writer, writerPw, 'w');
  const got = [];
  sub.on('message', (topic, payload) => got.push(`${topic}=${payload}`));
  try {
    // MQTT.js rejects a SUBSCRIBE with any refused filter; the SUBACK
    // (its codes in the order of the filters) comes with the error
    let codes = {};
    try {
      const granted = await withTimeout(
        sub.subscribeAsync({'pub/#': {qos: 1}, 'secrets/#': {qos: 1}}),
        'subscribe');
      for (const g of granted) codes[g.topic] = g.qos;
    } catch (e) {
      check(e.packet && Array.isArray(e.packet.granted),
            `v${version}: subscribe failed without a SUBACK: ${e}`);
      codes = {'pub/#': e.packet.granted[0], 'secrets/#': e.packet.granted[1]};
    }
    check(codes['pub/#'] === 1, `v${version}: pub/# granted ${codes['pub/#']}`);
    const refused = version === 5 ? 0x87 : 0x80;
    check(codes['secrets/#'] === refused,
          `v${version}: secrets/# got ${codes['secrets/#']}, want ${refused}`);

    let denied = null;
    try {
      await withTimeout(pub.publishAsync('pub/no/x', 'no', {qos: 1}),
                        'denied publish');
    } catch (e) {
      denied = e;
    }
    if (version === 5) {
      check(denied && denied.code === 0x87,
            `v5: refused publish gave ${denied && (denied.code || denied)}`);
    } else {
      check(denied === null, `v3.1.1: refused publish failed: ${denied}`);
    }
    await withTimeout(pub.publishAsync('pub/ok/x', 'yes', {qos: 1}),
                      'allowed publish');
    const deadline = Date.now() + STEP_MS;
    while (!got.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, QUIET_MS));
    check(got.length === 1 && got[0] === 'pub/ok/x=yes',
          `v${version}: reader got ${JSON.stringify(got)}`);
  } finally {
    await Promise.allSettled([sub.endAsync(), pub.endAsync()]);
  }
}

(async () => {
  for (const v of [4, 5]) await round(v);
  console.log('ws_acl: ok');
  process.exit(0);
})().catch((e) => {
  console.error(`ws_acl: ${e.stack || e}`);
  process.exit(1);
});
