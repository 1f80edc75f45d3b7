/* The C side of uvio-bench: the work of libuv's own test/benchmark-*.c, written against the
 * vendored libuv that uvio links (same static libuv.a, same binary), and the echo and sink
 * servers every ping-pong and pump client (C, uvio, tokio, Node.js) talks to.
 *
 * Every workload does a fixed number of operations (so that instruction counts under
 * cachegrind are comparable), returns 0 or a negative libuv error code, and fills a
 * `uvb_result`, mirrored by `Done` in benches/src/c.rs. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

/* Mirrors `CResult` in benches/src/c.rs. */
typedef struct uvb_result {
  uint64_t ops;        /* operations done */
  uint64_t wall_ns;    /* of the measured phase */
  uint64_t cpu_ns;     /* process CPU (user + system, every thread) of the measured phase */
  uint64_t iterations; /* loop iterations in the measured phase */
  uint64_t events;     /* million_async: callbacks run */
  uint64_t seen;       /* million_async: handles whose callback ran at least once */
} uvb_result;

static uint64_t cpu_now_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
    return 0;
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

typedef struct uvb_mark {
  uint64_t wall;
  uint64_t cpu;
  uint64_t iterations;
} uvb_mark;

static uint64_t loop_iterations(uv_loop_t* loop) {
  uv_metrics_t m;
  if (loop == NULL || uv_metrics_info(loop, &m) != 0)
    return 0;
  return m.loop_count;
}

static uvb_mark mark_now(uv_loop_t* loop) {
  uvb_mark m;
  m.iterations = loop_iterations(loop);
  m.wall = uv_hrtime();
  m.cpu = cpu_now_ns();
  return m;
}

/* `ops` operations done since `m`. */
static void mark_done(uvb_mark m, uv_loop_t* loop, uint64_t ops, uvb_result* out) {
  out->cpu_ns = cpu_now_ns() - m.cpu;
  out->wall_ns = uv_hrtime() - m.wall;
  out->iterations = loop_iterations(loop) - m.iterations;
  out->ops = ops;
}

static void close_walked(uv_handle_t* h, void* arg) {
  (void) arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Closes every handle left, runs until they are closed, closes the loop. */
static int close_loop(uv_loop_t* loop, int err) {
  int closed;

  uv_walk(loop, close_walked, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  closed = uv_loop_close(loop);
  return err != 0 ? err : closed;
}

static unsigned fastrand_state;

/* libuv's benchmarks' generator (a linear congruential one). */
static unsigned fastrand(void) {
  fastrand_state = fastrand_state * 214013 + 2531011;
  return fastrand_state;
}

/* ---- the servers (benchmark-pump's sink, the echo helper) ------------------------------ */

static int server_sink;
static char sink_space[65536];

typedef struct echo_write {
  uv_write_t req;
  uv_buf_t buf;
} echo_write;

static void server_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void) h;
  if (server_sink) {
    *buf = uv_buf_init(sink_space, sizeof(sink_space));
    return;
  }
  buf->base = malloc(suggested);
  buf->len = buf->base == NULL ? 0 : suggested;
}

static void server_closed(uv_handle_t* h) {
  free(h);
}

static void server_echoed(uv_write_t* req, int status) {
  echo_write* w = (echo_write*) req;
  (void) status;
  free(w->buf.base);
  free(w);
}

static void server_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  echo_write* w;

  if (nread <= 0 || server_sink) {
    if (!server_sink)
      free(buf->base);
    if (nread < 0)
      uv_close((uv_handle_t*) s, server_closed);
    return;
  }
  /* Echo what was read, from the buffer it was read into (as libuv's echo server). */
  w = malloc(sizeof(*w));
  if (w == NULL)
    abort();
  w->buf = uv_buf_init(buf->base, (unsigned int) nread);
  if (uv_write(&w->req, s, &w->buf, 1, server_echoed) != 0) {
    free(buf->base);
    free(w);
  }
}

static void server_connection(uv_stream_t* server, int status) {
  uv_tcp_t* c;

  if (status != 0)
    return;
  c = malloc(sizeof(*c));
  if (c == NULL || uv_tcp_init(server->loop, c) != 0)
    abort();
  if (uv_accept(server, (uv_stream_t*) c) != 0 ||
      uv_read_start((uv_stream_t*) c, server_alloc, server_read) != 0)
    uv_close((uv_handle_t*) c, server_closed);
}

/* Listens on 127.0.0.1 (a free port), prints `PORT <port>` on stdout and echoes (sink 0) or
 * discards (sink 1) what every connection sends, until the process is killed. */
int uvb_server(int sink) {
  uv_loop_t* loop = uv_default_loop();
  static uv_tcp_t server;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound);
  int err;

  server_sink = sink;
  err = uv_ip4_addr("127.0.0.1", 0, &addr);
  if (err == 0)
    err = uv_tcp_init(loop, &server);
  if (err == 0)
    err = uv_tcp_bind(&server, (const struct sockaddr*) &addr, 0);
  if (err == 0)
    err = uv_listen((uv_stream_t*) &server, 128, server_connection);
  if (err == 0)
    err = uv_tcp_getsockname(&server, (struct sockaddr*) &bound, &len);
  if (err != 0)
    return err;
  printf("PORT %d\n", ntohs(((struct sockaddr_in*) &bound)->sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- ping_pong (benchmark-ping-pongs) ---------------------------------------------- */

static char PING[] = "PING\n";
#define PING_LEN (sizeof(PING) - 1)

typedef struct free_buf {
  uv_buf_t buf;
  struct free_buf* next;
} free_buf;

static free_buf* buf_freelist;

/* benchmark-ping-pongs' read buffers: a free list of malloc'd blocks. */
static void pinger_alloc(uv_handle_t* h, size_t size, uv_buf_t* buf) {
  free_buf* b = buf_freelist;
  (void) h;
  if (b != NULL) {
    buf_freelist = b->next;
  } else {
    b = malloc(size + sizeof(*b));
    if (b == NULL)
      abort();
    b->buf = uv_buf_init((char*) (b + 1), (unsigned int) size);
  }
  *buf = b->buf;
}

static void pinger_buf_free(const uv_buf_t* buf) {
  free_buf* b;
  if (buf->base == NULL)
    return;
  b = (free_buf*) buf->base - 1;
  b->next = buf_freelist;
  buf_freelist = b;
}

static void buf_freelist_clear(void) {
  while (buf_freelist != NULL) {
    free_buf* b = buf_freelist;
    buf_freelist = b->next;
    free(b);
  }
}

typedef struct pinger {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uint64_t n;
  uint64_t pongs;
  unsigned state;
  int err;
  uvb_mark mark;
  uvb_result* out;
} pinger;

static void pinger_written(uv_write_t* req, int status) {
  (void) status;
  free(req);
}

/* One PING, with a malloc'd write request (as benchmark-ping-pongs). */
static int pinger_ping(pinger* p) {
  uv_buf_t b = uv_buf_init(PING, PING_LEN);
  uv_write_t* req = malloc(sizeof(*req));
  int err;
  if (req == NULL)
    abort();
  err = uv_write(req, (uv_stream_t*) &p->tcp, &b, 1, pinger_written);
  if (err != 0)
    free(req);
  return err;
}

static void pinger_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  pinger* p = s->data;
  ssize_t i;

  if (nread < 0) {
    pinger_buf_free(buf);
    p->err = (int) nread;
    uv_close((uv_handle_t*) s, NULL);
    return;
  }
  for (i = 0; i < nread; i++) {
    if (buf->base[i] != PING[p->state]) {
      p->err = UV_EPROTO;
      uv_close((uv_handle_t*) s, NULL);
      break;
    }
    p->state = (p->state + 1) % PING_LEN;
    if (p->state != 0)
      continue;
    if (++p->pongs == p->n) {
      mark_done(p->mark, s->loop, p->pongs, p->out);
      uv_close((uv_handle_t*) s, NULL);
      break;
    }
    p->err = pinger_ping(p);
    if (p->err != 0) {
      uv_close((uv_handle_t*) s, NULL);
      break;
    }
  }
  pinger_buf_free(buf);
}

static void pinger_connected(uv_connect_t* req, int status) {
  pinger* p = req->handle->data;

  p->err = status;
  if (p->err == 0) {
    p->mark = mark_now(req->handle->loop);
    p->err = pinger_ping(p);
  }
  if (p->err == 0)
    p->err = uv_read_start(req->handle, pinger_alloc, pinger_read);
  if (p->err != 0)
    uv_close((uv_handle_t*) req->handle, NULL);
}

/* `n` ping-pong round trips with the echo server on 127.0.0.1:`port`: 5-byte PINGs, each
 * sent once the previous one is back, the pongs counted byte by byte. */
int uvb_ping_pong(int port, uint64_t n, uvb_result* out) {
  uv_loop_t loop;
  struct sockaddr_in addr;
  pinger p;
  int err;

  memset(&p, 0, sizeof(p));
  p.n = n;
  p.out = out;
  err = uv_loop_init(&loop);
  if (err != 0)
    return err;
  err = uv_ip4_addr("127.0.0.1", port, &addr);
  if (err == 0)
    err = uv_tcp_init(&loop, &p.tcp);
  p.tcp.data = &p;
  if (err == 0)
    err = uv_tcp_connect(&p.connect_req, &p.tcp, (const struct sockaddr*) &addr,
                         pinger_connected);
  if (err == 0)
    err = uv_run(&loop, UV_RUN_DEFAULT);
  if (err == 0)
    err = p.err;
  if (err == 0 && p.pongs != n)
    err = UV_EPROTO;
  err = close_loop(&loop, err);
  buf_freelist_clear();
  return err;
}

/* ---- pump (benchmark-pump, the client side) ---------------------------------------- */

#define PUMP_WRITE 8192

static char pump_buffer[PUMP_WRITE];

typedef struct pumper {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uint64_t n;
  uint64_t written;
  int err;
  uvb_mark mark;
  uvb_result* out;
} pumper;

static void pump_next(pumper* p);

static void pump_written(uv_write_t* req, int status) {
  pumper* p = req->handle->data;

  free(req);
  if (status != 0) {
    p->err = status;
    uv_close((uv_handle_t*) &p->tcp, NULL);
    return;
  }
  if (++p->written == p->n) {
    mark_done(p->mark, p->tcp.loop, p->written, p->out);
    uv_close((uv_handle_t*) &p->tcp, NULL);
    return;
  }
  pump_next(p);
}

/* One 8 KiB write from the static buffer, the next one started from its callback. */
static void pump_next(pumper* p) {
  uv_buf_t b = uv_buf_init(pump_buffer, PUMP_WRITE);
  uv_write_t* req = malloc(sizeof(*req));
  if (req == NULL)
    abort();
  p->err = uv_write(req, (uv_stream_t*) &p->tcp, &b, 1, pump_written);
  if (p->err != 0) {
    free(req);
    uv_close((uv_handle_t*) &p->tcp, NULL);
  }
}

static void pump_connected(uv_connect_t* req, int status) {
  pumper* p = req->handle->data;

  p->err = status;
  if (status != 0) {
    uv_close((uv_handle_t*) req->handle, NULL);
    return;
  }
  p->mark = mark_now(req->handle->loop);
  pump_next(p);
}

/* `n` writes of 8 KiB to the sink server on 127.0.0.1:`port`, one in flight. */
int uvb_pump(int port, uint64_t n, uvb_result* out) {
  uv_loop_t loop;
  struct sockaddr_in addr;
  pumper p;
  int err;

  memset(&p, 0, sizeof(p));
  p.n = n;
  p.out = out;
  err = uv_loop_init(&loop);
  if (err != 0)
    return err;
  err = uv_ip4_addr("127.0.0.1", port, &addr);
  if (err == 0)
    err = uv_tcp_init(&loop, &p.tcp);
  p.tcp.data = &p;
  if (err == 0)
    err = uv_tcp_connect(&p.connect_req, &p.tcp, (const struct sockaddr*) &addr,
                         pump_connected);
  if (err == 0)
    err = uv_run(&loop, UV_RUN_DEFAULT);
  if (err == 0)
    err = p.err;
  if (err == 0 && p.written != n)
    err = UV_EPROTO;
  return close_loop(&loop, err);
}

/* ---- million_timers ---------------------------------------------------------------- */

static uint64_t timers_fired;
static uint64_t timers_closed;

static void on_timer_fired(uv_timer_t* t) {
  (void) t;
  timers_fired++;
}

static void on_timer_closed(uv_handle_t* h) {
  (void) h;
  timers_closed++;
}

/* `n` one-shot timers in one array, timer i due after i / 1000 + 1 ms; run until all fired,
 * close all, run until all closed. */
int uvb_million_timers(uint64_t n, uvb_result* out) {
  uv_loop_t loop;
  uv_timer_t* timers;
  uvb_mark m;
  uint64_t i;
  int err;

  timers = malloc(n * sizeof(*timers));
  if (timers == NULL)
    return UV_ENOMEM;
  err = uv_loop_init(&loop);
  if (err != 0) {
    free(timers);
    return err;
  }
  timers_fired = 0;
  timers_closed = 0;
  m = mark_now(&loop);
  for (i = 0; i < n && err == 0; i++) {
    err = uv_timer_init(&loop, &timers[i]);
    if (err == 0)
      err = uv_timer_start(&timers[i], on_timer_fired, i / 1000 + 1, 0);
  }
  if (err == 0)
    err = uv_run(&loop, UV_RUN_DEFAULT);
  for (i = 0; i < n; i++)
    uv_close((uv_handle_t*) &timers[i], on_timer_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, &loop, timers_fired, out);
  err = close_loop(&loop, err);
  free(timers);
  if (err == 0 && (timers_fired != n || timers_closed != n))
    err = UV_EPROTO;
  return err;
}

/* ---- loop_count -------------------------------------------------------------------- */

static uint64_t idle_ticks, idle_target;

static void on_idle(uv_idle_t* h) {
  if (++idle_ticks == idle_target)
    uv_idle_stop(h);
}

/* `n` ticks of an idle handle (one per loop iteration), then stop. */
int uvb_loop_count(uint64_t n, uvb_result* out) {
  uv_loop_t loop;
  uv_idle_t idle;
  uvb_mark m;
  int err;

  err = uv_loop_init(&loop);
  if (err != 0)
    return err;
  idle_ticks = 0;
  idle_target = n;
  err = uv_idle_init(&loop, &idle);
  if (err == 0)
    err = uv_idle_start(&idle, on_idle);
  m = mark_now(&loop);
  if (err == 0)
    err = uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, &loop, idle_ticks, out);
  return close_loop(&loop, err);
}

/* ---- million_async ----------------------------------------------------------------- */

static uv_async_t* async_handles;
static unsigned char* async_seen;
static uint64_t async_count, async_sends, async_events;
static uv_async_t async_done;
static uv_timer_t async_closer;
static uv_thread_t async_thread;

static void million_async_sender(void* arg) {
  uint64_t i;
  (void) arg;
  for (i = 0; i < async_sends; i++)
    uv_async_send(&async_handles[fastrand() % async_count]);
  uv_async_send(&async_done);
}

static void on_million_async(uv_async_t* h) {
  async_events++;
  async_seen[h - async_handles] = 1;
}

static void million_async_close(uv_timer_t* t) {
  uint64_t i;
  (void) t;
  for (i = 0; i < async_count; i++)
    uv_close((uv_handle_t*) &async_handles[i], NULL);
  uv_close((uv_handle_t*) &async_done, NULL);
  uv_close((uv_handle_t*) &async_closer, NULL);
}

/* The sender's last send: every earlier one is already pending, so let this iteration's
 * walk over the async handles finish, and close everything from a timer in the next. */
static void on_million_async_done(uv_async_t* h) {
  (void) h;
  uv_thread_join(&async_thread);
  uv_timer_start(&async_closer, million_async_close, 0, 0);
}

/* `handles` async handles; a thread sends `n` wake-ups to handles picked at random, then
 * one to a last handle that ends the run. */
int uvb_million_async(uint64_t handles, uint64_t n, uvb_result* out) {
  uv_loop_t loop;
  uvb_mark m;
  uint64_t i;
  int err;

  async_handles = malloc(handles * sizeof(*async_handles));
  async_seen = calloc(handles, 1);
  if (async_handles == NULL || async_seen == NULL) {
    free(async_handles);
    free(async_seen);
    return UV_ENOMEM;
  }
  err = uv_loop_init(&loop);
  async_count = handles;
  async_sends = n;
  async_events = 0;
  fastrand_state = 0;
  for (i = 0; i < handles && err == 0; i++)
    err = uv_async_init(&loop, &async_handles[i], on_million_async);
  if (err == 0)
    err = uv_async_init(&loop, &async_done, on_million_async_done);
  if (err == 0)
    err = uv_timer_init(&loop, &async_closer);
  m = mark_now(&loop);
  if (err == 0)
    err = uv_thread_create(&async_thread, million_async_sender, NULL);
  if (err == 0)
    err = uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, &loop, n, out);
  out->events = async_events;
  out->seen = 0;
  for (i = 0; i < handles; i++)
    out->seen += async_seen[i];
  err = close_loop(&loop, err);
  free(async_handles);
  free(async_seen);
  return err;
}

/* ---- async1 (benchmark-async with one thread) -------------------------------------- */

typedef struct async_pair {
  uv_loop_t worker_loop;
  uv_thread_t thread;
  uv_async_t main_async;
  uv_async_t worker_async;
  uint64_t n;
  uint64_t main_seen;
  uint64_t worker_seen;
} async_pair;

static async_pair pair;

static void on_worker_async(uv_async_t* h) {
  (void) h;
  uv_async_send(&pair.main_async);
  if (++pair.worker_seen == pair.n)
    uv_close((uv_handle_t*) &pair.worker_async, NULL);
}

static void on_main_async(uv_async_t* h) {
  (void) h;
  if (++pair.main_seen == pair.n) {
    uv_close((uv_handle_t*) &pair.main_async, NULL);
    return;
  }
  uv_async_send(&pair.worker_async);
}

static void async_worker(void* arg) {
  (void) arg;
  uv_run(&pair.worker_loop, UV_RUN_DEFAULT);
}

/* `n` round trips between the loop thread and a worker thread running its own loop: each
 * side's async callback wakes the other side's handle. */
int uvb_async1(uint64_t n, uvb_result* out) {
  uv_loop_t loop;
  uvb_mark m;
  int err;

  memset(&pair, 0, sizeof(pair));
  pair.n = n;
  err = uv_loop_init(&loop);
  if (err != 0)
    return err;
  err = uv_loop_init(&pair.worker_loop);
  if (err == 0)
    err = uv_async_init(&pair.worker_loop, &pair.worker_async, on_worker_async);
  if (err == 0)
    err = uv_async_init(&loop, &pair.main_async, on_main_async);
  m = mark_now(&loop);
  if (err == 0)
    err = uv_thread_create(&pair.thread, async_worker, NULL);
  if (err == 0) {
    uv_async_send(&pair.worker_async);
    err = uv_run(&loop, UV_RUN_DEFAULT);
    uv_thread_join(&pair.thread);
  }
  mark_done(m, &loop, pair.main_seen, out);
  uv_loop_close(&pair.worker_loop);
  return close_loop(&loop, err);
}

/* ---- queue_work -------------------------------------------------------------------- */

static uint64_t work_left, work_done;
static unsigned work_result;

static void work_cb(uv_work_t* req) {
  (void) req;
  work_result = fastrand();
}

static void after_work_cb(uv_work_t* req, int status) {
  if (status != 0)
    return;
  work_done++;
  if (--work_left > 0)
    uv_queue_work(req->loop, req, work_cb, after_work_cb);
}

/* `n` jobs on the thread pool, one at a time, each queued from the previous one's
 * completion. */
int uvb_queue_work(uint64_t n, uvb_result* out) {
  uv_loop_t loop;
  uv_work_t req;
  uvb_mark m;
  int err;

  err = uv_loop_init(&loop);
  if (err != 0)
    return err;
  work_left = n;
  work_done = 0;
  m = mark_now(&loop);
  if (n > 0)
    err = uv_queue_work(&loop, &req, work_cb, after_work_cb);
  if (err == 0)
    err = uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, &loop, work_done, out);
  return close_loop(&loop, err);
}

/* ---- fs_stat ----------------------------------------------------------------------- */

/* `n` synchronous stats (no loop, no callback: `uv_fs_stat(NULL, ...)`). */
int uvb_fs_stat_sync(const char* path, uint64_t n, uvb_result* out) {
  uv_fs_t req;
  uvb_mark m;
  uint64_t i;
  int err = 0;

  m = mark_now(NULL);
  for (i = 0; i < n && err == 0; i++) {
    err = uv_fs_stat(NULL, &req, path, NULL);
    uv_fs_req_cleanup(&req);
  }
  mark_done(m, NULL, i, out);
  return err < 0 ? err : 0;
}

static const char* fs_path;
static uint64_t fs_left, fs_done;
static int fs_error;

static void on_stat(uv_fs_t* req) {
  int err = (int) req->result;

  uv_fs_req_cleanup(req);
  if (err < 0) {
    fs_error = err;
    return;
  }
  fs_done++;
  if (fs_left > 0) {
    fs_left--;
    err = uv_fs_stat(req->loop, req, fs_path, on_stat);
    if (err != 0)
      fs_error = err;
  }
}

/* `n` stats of `path`, `inflight` requests at a time (each restarted from its callback). */
int uvb_fs_stat(const char* path, uint64_t n, uint64_t inflight, uvb_result* out) {
  uv_loop_t loop;
  uv_fs_t* reqs;
  uvb_mark m;
  uint64_t i;
  int err;

  reqs = calloc(inflight, sizeof(*reqs));
  if (reqs == NULL)
    return UV_ENOMEM;
  err = uv_loop_init(&loop);
  if (err != 0) {
    free(reqs);
    return err;
  }
  fs_done = 0;
  fs_error = 0;
  fs_path = path;
  fs_left = n;
  m = mark_now(&loop);
  for (i = 0; i < inflight && fs_left > 0 && err == 0; i++) {
    fs_left--;
    err = uv_fs_stat(&loop, &reqs[i], path, on_stat);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, &loop, fs_done, out);
  free(reqs);
  if (err == 0)
    err = fs_error;
  return close_loop(&loop, err);
}

/* ---- fs_read ----------------------------------------------------------------------- */

static uv_file read_fd;
static int64_t read_offset;
static uv_buf_t read_buf;
static uint64_t read_bytes;

static void on_read(uv_fs_t* req) {
  ssize_t n = req->result;
  int err;

  uv_fs_req_cleanup(req);
  if (n <= 0) {
    fs_error = (int) n;
    return;
  }
  read_bytes += (uint64_t) n;
  read_offset += n;
  err = uv_fs_read(req->loop, req, read_fd, &read_buf, 1, read_offset, on_read);
  if (err != 0)
    fs_error = err;
}

/* Reads `path` from start to end in `chunk`-byte reads, one at a time, into one buffer;
 * `ops` is the bytes read. */
int uvb_fs_read(const char* path, uint64_t chunk, uvb_result* out) {
  uv_loop_t loop;
  uv_fs_t req;
  uvb_mark m;
  int err;

  read_buf = uv_buf_init(malloc(chunk), (unsigned int) chunk);
  if (read_buf.base == NULL)
    return UV_ENOMEM;
  err = uv_loop_init(&loop);
  if (err != 0) {
    free(read_buf.base);
    return err;
  }
  read_fd = uv_fs_open(&loop, &req, path, UV_FS_O_RDONLY, 0, NULL);
  uv_fs_req_cleanup(&req);
  err = read_fd < 0 ? read_fd : 0;
  read_bytes = 0;
  fs_error = 0;
  read_offset = 0;
  m = mark_now(&loop);
  if (err == 0)
    err = uv_fs_read(&loop, &req, read_fd, &read_buf, 1, 0, on_read);
  uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, &loop, read_bytes, out);
  if (read_fd >= 0) {
    uv_fs_close(&loop, &req, read_fd, NULL);
    uv_fs_req_cleanup(&req);
  }
  free(read_buf.base);
  if (err == 0)
    err = fs_error; /* 0 at the end of the file */
  return close_loop(&loop, err);
}

/* ---- fs_read_nowait: `inflight` reads at once, each chain over its own slice ------------ */

typedef struct par_read {
  uv_fs_t req; /* first: the callback's pointer is the struct's */
  uv_buf_t buf;
  int64_t offset, end;
} par_read;

static uv_file par_fd;
static uint64_t par_bytes;

static void on_par_read(uv_fs_t* req) {
  par_read* p = (par_read*) req;
  ssize_t n = req->result;
  int err;

  uv_fs_req_cleanup(req);
  if (n < 0) {
    fs_error = (int) n;
    return;
  }
  par_bytes += (uint64_t) n;
  p->offset += n;
  if (n == 0 || p->offset >= p->end)
    return;
  p->buf.len = (size_t) (p->end - p->offset) < (size_t) p->buf.len ? (size_t) (p->end - p->offset)
                                                                    : p->buf.len;
  err = uv_fs_read(req->loop, req, par_fd, &p->buf, 1, p->offset, on_par_read);
  if (err != 0)
    fs_error = err;
}

/* Reads `path` (of `size` bytes) with `inflight` chains, chain i reading the i-th slice front
 * to back in `chunk`-byte reads, each restarted from its callback, one buffer per chain;
 * `ops` is the bytes read. */
int uvb_fs_read_par(const char* path, uint64_t size, uint64_t chunk, uint64_t inflight,
                    uvb_result* out) {
  uv_loop_t loop;
  uv_fs_t open_req;
  par_read* reads;
  uvb_mark m;
  uint64_t i, slice;
  int err;

  reads = calloc(inflight, sizeof(*reads));
  if (reads == NULL)
    return UV_ENOMEM;
  err = uv_loop_init(&loop);
  if (err != 0) {
    free(reads);
    return err;
  }
  par_fd = uv_fs_open(&loop, &open_req, path, UV_FS_O_RDONLY, 0, NULL);
  uv_fs_req_cleanup(&open_req);
  err = par_fd < 0 ? par_fd : 0;
  slice = size / inflight;
  for (i = 0; i < inflight; i++) {
    reads[i].buf = uv_buf_init(malloc(chunk), (unsigned int) chunk);
    reads[i].offset = (int64_t) (i * slice);
    reads[i].end = (int64_t) (i + 1 == inflight ? size : (i + 1) * slice);
    if (reads[i].buf.base == NULL)
      err = UV_ENOMEM;
  }
  par_bytes = 0;
  fs_error = 0;
  m = mark_now(&loop);
  for (i = 0; i < inflight && err == 0; i++)
    err = uv_fs_read(&loop, &reads[i].req, par_fd, &reads[i].buf, 1, reads[i].offset,
                     on_par_read);
  uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, &loop, par_bytes, out);
  if (par_fd >= 0) {
    uv_fs_close(&loop, &open_req, par_fd, NULL);
    uv_fs_req_cleanup(&open_req);
  }
  for (i = 0; i < inflight; i++)
    free(reads[i].buf.base);
  free(reads);
  if (err == 0)
    err = fs_error;
  return close_loop(&loop, err);
}
