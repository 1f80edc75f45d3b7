// Drives the uvio Node.js addon (examples/node_addon) in a real node process.
//
//   node tests/node/addon_test.js ADDON.node          every function, main thread and Workers
//   node tests/node/addon_test.js ADDON.node unref    an unref'd timer must not keep node alive
//   node tests/node/addon_test.js ADDON.node worker-only ENDING
//        the addon loaded only in Workers (never in the main thread), so node unloads it
//        when each Worker's env ends; ENDING is how the Workers end: natural, exit
//        (process.exit with handles open) or terminate (worker.terminate() with handles open)
//
// Run by tests/node_addon.rs, which checks the exit status and the lines printed here.
'use strict';

const assert = require('assert');
const fs = require('fs');
const net = require('net');
const { Worker, isMainThread, workerData, parentPort } = require('worker_threads');

const addonPath = isMainThread ? process.argv[2] : workerData.addonPath;
const mode = isMainThread ? process.argv[3] || 'main' : workerData.mode;
// How Workers end (worker-only mode): natural, exit or terminate.
const ending = isMainThread ? process.argv[4] : workerData.ending;
// In worker-only mode the main thread never loads the addon: each Worker's env is its only
// user, so node unmaps the library when that env ends, before the thread exits.
const addon = isMainThread && mode === 'worker-only' ? null : require(addonPath);

function log(msg) {
  console.log(`${isMainThread ? 'main' : 'worker'}: ${msg}`);
}

// One echo round trip through an echo server (the addon's or node's own), over a real
// socket. With `lateRead`, the client starts reading only a while after connecting, so the
// server's writes back up (the addon's server then stops reading until they drain).
function echo(port, text, lateRead = false) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    if (lateRead) {
      sock.pause();
      setTimeout(() => sock.resume(), 50);
    }
    sock.on('connect', () => sock.end(text));
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => resolve(Buffer.concat(chunks).toString()));
    sock.on('error', reject);
  });
}

// Node's own echo server (node's TCP handles on the same loop as the addon's).
function nodeEchoServer() {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.pipe(c));
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function exercise() {
  // The libuv uvio sees is node's own.
  assert.strictEqual(addon.version(), process.versions.uv);
  assert.strictEqual(addon.linkMode, 'host');

  // A uvio Timer resolves a promise; the continuation (a promise job) and a nextTick
  // queued by it both run, so the callback scope works.
  let ticked = false;
  await addon.sleep(2).then(() => new Promise((r) => process.nextTick(() => { ticked = true; r(); })));
  assert.ok(ticked);

  // Timers count from the call, not from the loop's cached time, which stands still while
  // JavaScript runs: after 100 ms of busy JS a 50 ms uvio timer still waits 50 ms (by the
  // monotonic clock performance.now() reads; a lower bound, which load cannot break).
  for (const ms of [50, 3]) {
    const spin = performance.now();
    while (performance.now() - spin < 100) { /* busy */ }
    const start = performance.now();
    await addon.sleep(ms);
    const took = performance.now() - start;
    assert.ok(took >= ms, `sleep(${ms}) resolved after ${took} ms`);
  }

  // A file read with uvio::fs.
  const buf = await addon.readFile(__filename);
  assert.ok(buf.equals(fs.readFileSync(__filename)));
  await assert.rejects(addon.readFile('/nonexistent/uvio-test'),
    (e) => e.code === 'ENOENT' && e.message.includes('/nonexistent/uvio-test'));
  // A missing file in an existing directory; several reads at once.
  const missing = `${__dirname}/no-such-file-${process.pid}`;
  await assert.rejects(addon.readFile(missing),
    (e) => e instanceof Error && e.code === 'ENOENT' && e.message.includes(missing));
  const many = await Promise.all([1, 2, 3].map(() => addon.readFile(__filename)));
  for (const b of many) assert.ok(b.equals(buf));
  await assert.rejects(addon.readFile(__dirname), { code: 'EISDIR' });

  // An async uvio task: a timer future, then a read.
  const t = await addon.spawnTask(__filename);
  assert.strictEqual(t.bytes, buf.length);
  assert.strictEqual(typeof t.sleptMs, 'number');
  await assert.rejects(addon.spawnTask('/nonexistent/uvio-task'), { code: 'ENOENT' });

  // A std thread wakes a uvio task through its Send waker.
  const c = await addon.countFromThread(1000);
  assert.strictEqual(c.count, 1000);
  assert.ok(c.polls >= 1 && c.polls <= 1001, `polls ${c.polls}`);
  assert.deepStrictEqual((await addon.countFromThread(0)).count, 0);

  // A panic in a libuv callback: caught, a rejected promise, node alive.
  await assert.rejects(addon.panicInCallback(),
    (e) => e.code === 'PANIC' && e.message.includes('deliberate panic'));
  await addon.sleep(1);

  // Calls into JS from a libuv callback (make_callback): the callback runs, its nextTick too.
  await new Promise((resolve) => {
    const keep = setInterval(() => {}, 1000); // the unref'd timer alone would not keep us up
    addon.unrefTimer(1, () => process.nextTick(() => { clearInterval(keep); resolve(); }));
  });

  // An exception thrown by a JS callback called from a libuv callback is an uncaught
  // exception, as with node's own callbacks.
  await new Promise((resolve) => {
    const keep = setInterval(() => {}, 1000);
    process.once('uncaughtException', (e) => {
      clearInterval(keep);
      assert.strictEqual(e.message, 'thrown from a uvio callback');
      resolve();
    });
    addon.unrefTimer(1, () => { throw new Error('thrown from a uvio callback'); });
  });

  // libuv functions: one node 20 has (1.45), one it lacks (1.50: a typed error, no crash).
  assert.ok(addon.metrics().loopCount > 0);
  assert.throws(() => addon.threadRusage(),
    (e) => e.code === 'UNSUPPORTED' && e.message.includes('uv_getrusage_thread'));

  // Bad input is a thrown error, never a crash.
  assert.throws(() => addon.sleep(-1), { code: 'EINVAL' });
  assert.throws(() => addon.sleep('soon'), { code: 'EINVAL' });
  assert.throws(() => addon.readFile(42), { code: 'EINVAL' });
  assert.throws(() => addon.unrefTimer(1, 'not a function'), { code: 'EINVAL' });
  assert.throws(() => addon.startEchoServer(70000), { code: 'EINVAL' });

  // The echo server (uvio's TcpListener/TcpStream on node's loop), several clients at once,
  // next to node's own echo server on the same loop.
  const nodeServer = await nodeEchoServer();
  const nodePort = nodeServer.address().port;
  const port = addon.startEchoServer(0);
  assert.ok(port > 0);
  const texts = ['one', 'two', 'x'.repeat(200000)];
  const [replies, nodeReplies] = await Promise.all([
    Promise.all(texts.map((s) => echo(port, s))),
    Promise.all(texts.map((s) => echo(nodePort, s))),
  ]);
  assert.deepStrictEqual(replies, texts);
  assert.deepStrictEqual(nodeReplies, texts);
  // A client that is slow to read 16 MiB: more than loopback's socket buffers and the
  // server's write queue limit hold, so the server stops reading, then resumes.
  const big = 'abcdefghijklmnop'.repeat(1024 * 1024);
  assert.strictEqual(await echo(port, big, true), big);
  assert.throws(() => addon.startEchoServer(port), { code: 'EADDRINUSE' });
  assert.throws(() => addon.startEchoServer(nodePort), { code: 'EADDRINUSE' });
  assert.strictEqual(addon.stopEchoServer(), 1);
  assert.strictEqual(addon.stopEchoServer(), 0);
  await addon.sleep(1);
  await assert.rejects(echo(port, 'closed'), { code: 'ECONNREFUSED' });
  // Node's server is untouched by uvio's closing, and still echoes.
  assert.strictEqual(await echo(nodePort, 'node still echoes'), 'node still echoes');
  await new Promise((r) => nodeServer.close(r));
}

function runWorker(extra) {
  return new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: { addonPath, ...extra } });
    const messages = [];
    w.on('message', (m) => {
      messages.push(m);
      if (m === 'ready' && (extra.mode === 'terminate' || extra.ending === 'terminate')) {
        w.terminate();
      }
    });
    w.on('error', reject);
    w.on('exit', (code) => resolve({ code, messages }));
  });
}

// Inside a Worker that will be terminated (or will call process.exit): leave every kind of
// handle open.
async function busyUntilTerminated() {
  const port = addon.startEchoServer(0);
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  addon.sleep(600000);
  addon.unrefTimer(600000, () => {});
  addon.countFromThread(2000000); // still counting at terminate()
  addon.spawnTask(__filename);
  addon.readFile(__filename);
  await addon.sleep(1);
  parentPort.postMessage('ready');
  if (ending === 'exit') process.exit(3);
  await addon.sleep(600000);
}

// A Worker's work with no streams and no threads, then its end. Some std facilities (a
// thread-local with a destructor, as a spawned thread's hooks use) make glibc keep the
// library mapped until the thread exits, which would hide a destructor registered elsewhere;
// this run touches none of them, so node really unmaps the library when the env ends.
async function light() {
  assert.strictEqual(addon.version(), process.versions.uv);
  const buf = await addon.readFile(__filename);
  await addon.sleep(1);
  const t = await addon.spawnTask(__filename);
  assert.strictEqual(t.bytes, buf.length);
  if (ending === 'natural') return;
  // Left open for process.exit / terminate().
  addon.sleep(600000);
  addon.unrefTimer(600000, () => {});
  addon.spawnTask(__filename);
  addon.readFile(__filename);
  await addon.sleep(1);
  parentPort.postMessage('ready');
  if (ending === 'exit') process.exit(3);
  await addon.sleep(600000);
}

// The addon loaded only in Workers, one at a time, so every Worker's end unloads it: first
// the light workload, then everything (streams, threads, a panic).
async function workerOnly() {
  const want = { natural: [0, 'worker ok'], exit: [3, 'ready'], terminate: [1, 'ready'] }[ending];
  assert.ok(want, `unknown ending ${ending}`);
  for (const work of ['light', 'light', 'exercise', 'light']) {
    const mode = work === 'exercise' && ending !== 'natural' ? 'busy' : work;
    const r = await runWorker({ mode, ending });
    assert.deepStrictEqual(r.messages, [want[1]], `${work} ${ending}`);
    assert.strictEqual(r.code, want[0], `${work} ${ending}`);
  }
  log(`worker-only ${ending} ok`);
}

async function main() {
  if (mode === 'worker-only') {
    await workerOnly();
    return;
  }
  if (mode === 'unref') {
    // Tasks leave the executor's housekeeping handles behind: they must not keep node alive,
    // nor may an unref'd timer.
    const t = await addon.spawnTask(__filename);
    log(`task read ${t.bytes} bytes`);
    addon.unrefTimer(600000, () => log('UNREF TIMER FIRED'));
    process.on('exit', () => log(`exiting with ${addon.handleCount()} uvio handles open`));
    log('unref: main done');
    return;
  }
  await exercise();
  log('exercise ok');

  // The same in a Worker (its own env and loop), which then exits by itself.
  const r = await runWorker({ mode: 'exercise' });
  assert.deepStrictEqual(r.messages, ['worker ok']);
  assert.strictEqual(r.code, 0);
  log('worker exercise ok');

  // Workers terminated with handles, requests, a thread and tasks in flight; two at once.
  for (let i = 0; i < 3; i++) {
    const rs = await Promise.all([runWorker({ mode: 'terminate' }), runWorker({ mode: 'terminate' })]);
    for (const x of rs) {
      assert.deepStrictEqual(x.messages, ['ready']);
      assert.strictEqual(x.code, 1);
    }
  }
  log('worker terminate ok');

  // The main thread's own addon instance still works after workers came and went.
  await addon.sleep(1);
  assert.strictEqual((await addon.countFromThread(10)).count, 10);
  log('ALL OK');
}

if (isMainThread) {
  main().catch((e) => { console.error(e); process.exitCode = 1; });
} else if (mode === 'exercise') {
  exercise().then(() => parentPort.postMessage('worker ok'));
} else if (mode === 'light') {
  light().then(() => parentPort.postMessage('worker ok'));
} else {
  busyUntilTerminated();
}
