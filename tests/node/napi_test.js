// Drives the napi-rs addon (examples/napi_addon) in a real node process.
//
//   node tests/node/napi_test.js ADDON.node main          main thread, Workers, terminate()
//   node tests/node/napi_test.js ADDON.node worker-only   loaded only in Workers
//
// Run by tests/napi_addon.rs, which checks the exit status and the lines printed here.
'use strict';

const assert = require('assert');
const fs = require('fs');
const net = require('net');
const { Worker, isMainThread, workerData, parentPort } = require('worker_threads');

const addonPath = isMainThread ? process.argv[2] : workerData.addonPath;
const mode = isMainThread ? process.argv[3] || 'main' : workerData.mode;
const addon = isMainThread && mode === 'worker-only' ? null : require(addonPath);

function log(msg) {
  console.log(`${isMainThread ? 'main' : 'worker'}: ${msg}`);
}

async function exercise() {
  // A uvio future as a promise; its continuation and a nextTick it queues run (node's
  // callback scope is open around the task that settles it).
  let ticked = false;
  await addon.sleep(2).then(() => new Promise((r) => process.nextTick(() => { ticked = true; r(); })));
  assert.ok(ticked);

  // Busy JS, then a sleep: it still waits its whole delay.
  const spin = performance.now();
  while (performance.now() - spin < 60) { /* busy */ }
  const start = performance.now();
  await addon.sleep(20);
  assert.ok(performance.now() - start >= 20);

  const buf = await addon.readFile(__filename);
  assert.ok(buf.equals(fs.readFileSync(__filename)));
  await assert.rejects(addon.readFile('/nonexistent/uvio-napi'),
    (e) => e.code === 'ENOENT' && e.message.includes('/nonexistent/uvio-napi'));
  const many = await Promise.all([1, 2, 3, 4].map(() => addon.readFile(__filename)));
  for (const b of many) assert.ok(b.equals(buf));

  assert.strictEqual(await addon.timerThenRead(3, __filename), buf.length);

  // uvio's TCP client against node's server, node's client against uvio's server.
  const server = net.createServer((c) => c.pipe(c));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  assert.strictEqual(await addon.echoRoundTrip(server.address().port, 'to node'), 'to node');
  server.close();
  const port = addon.startEchoServer();
  const back = await new Promise((resolve, reject) => {
    const chunks = [];
    const s = net.connect(port, '127.0.0.1', () => s.end('to uvio'));
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks).toString()));
    s.on('error', reject);
  });
  assert.strictEqual(back, 'to uvio');
  assert.strictEqual(await addon.echoRoundTrip(port, 'uvio to uvio'), 'uvio to uvio');
  assert.strictEqual(addon.stopEchoServers(), 1);

  // A panicking task rejects its promise; a panicking callback is an uncaught exception.
  await assert.rejects(addon.panicInTask(), (e) => e.code === 'PANIC' && e.message.includes('deliberate'));
  await new Promise((resolve) => {
    process.once('uncaughtException', (e) => {
      assert.strictEqual(e.code, 'PANIC');
      assert.ok(e.message.includes('deliberate panic in a uvio callback'));
      resolve();
    });
    addon.panicInCallback();
  });
  assert.ok(addon.handleCount() >= 1);
}

function runWorker(extra) {
  return new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: { addonPath, ...extra } });
    const messages = [];
    w.on('message', (m) => {
      messages.push(m);
      if (m === 'ready') w.terminate();
    });
    w.on('error', reject);
    w.on('exit', (code) => resolve({ code, messages }));
  });
}

// Inside a Worker about to be terminated: timers, a server, a connection, tasks in flight.
async function busyUntilTerminated() {
  const port = addon.startEchoServer();
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  addon.sleep(600000);
  addon.timerThenRead(600000, __filename);
  addon.readFile(__filename);
  addon.echoRoundTrip(port, 'x');
  await addon.sleep(1);
  parentPort.postMessage('ready');
  await addon.sleep(600000);
}

async function workers() {
  const r = await runWorker({ mode: 'exercise' });
  assert.deepStrictEqual(r.messages, ['worker ok']);
  assert.strictEqual(r.code, 0);
  for (let i = 0; i < 3; i++) {
    const rs = await Promise.all([runWorker({ mode: 'terminate' }), runWorker({ mode: 'terminate' })]);
    for (const x of rs) {
      assert.deepStrictEqual(x.messages, ['ready']);
      assert.strictEqual(x.code, 1);
    }
  }
}

async function main() {
  if (mode === 'worker-only') {
    await workers();
    log('worker-only ok');
    return;
  }
  await exercise();
  log('exercise ok');
  await workers();
  log('workers ok');
  await addon.sleep(1);
  log('ALL OK');
}

if (isMainThread) {
  main().catch((e) => { console.error(e); process.exitCode = 1; });
} else if (mode === 'exercise') {
  exercise().then(() => parentPort.postMessage('worker ok'));
} else {
  busyUntilTerminated();
}
