/* The C side of uvio-bench: the same workloads as the Rust variants, written against the
 * vendored libuv that uvio links (same static libuv.a, same binary).
 *
 * Every function returns 0 or a negative libuv error code, and fills a result struct whose
 * layout is mirrored by `#[repr(C)]` structs in benches/src/c.rs. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

/* Mirrors `Phases` in benches/src/c.rs. */
typedef struct uvb_phases {
  uint64_t init_ns;
  uint64_t dispatch_ns;
  uint64_t cleanup_ns;
  uint64_t init_cpu_ns;
  uint64_t dispatch_cpu_ns;
  uint64_t cleanup_cpu_ns;
  uint64_t fired;
  uint64_t closed;
} uvb_phases;

/* Mirrors `Ticks` in benches/src/c.rs. */
typedef struct uvb_ticks {
  uint64_t ticks;
  uint64_t elapsed_ns;
  uint64_t cpu_ns;
  uint64_t loop_iterations;
} uvb_ticks;

static uint64_t cpu_now_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
    return 0;
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
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

static void on_boxed_timer_closed(uv_handle_t* h) {
  timers_closed++;
  free(h);
}

/* `n` one-shot timers, timer i due after i / 1000 + 1 ms; run until all fired, close all,
 * run until all closed. The loop and the timer array exist before the clock starts (as
 * uvio's loop and Vec do); the memory is freed inside the cleanup phase (as uvio frees its
 * boxes in close callbacks).
 *
 * box_size 0: one array of uv_timer_t (libuv's own benchmark). Otherwise each timer is its
 * own malloc(box_size) block, freed in its close callback: uvio's memory layout without
 * uvio's code, to tell the cost of the layout from the cost of the binding. */
int uvb_million_timers(uint64_t n, uint64_t box_size, uvb_phases* out) {
  uv_loop_t loop;
  uv_timer_t* timers = NULL;
  uv_timer_t** boxes = NULL;
  uv_timer_t* t;
  uint64_t i, t0, t1, t2, t3, c0, c1, c2, c3;
  int err;

  if (box_size == 0)
    timers = malloc(n * sizeof(*timers));
  else if (box_size >= sizeof(uv_timer_t))
    boxes = malloc(n * sizeof(*boxes));
  else
    return UV_EINVAL;
  if (timers == NULL && boxes == NULL)
    return UV_ENOMEM;
  err = uv_loop_init(&loop);
  if (err != 0) {
    free(timers);
    free(boxes);
    return err;
  }
  timers_fired = 0;
  timers_closed = 0;

  t0 = uv_hrtime();
  c0 = cpu_now_ns();
  for (i = 0; i < n; i++) {
    if (boxes == NULL) {
      t = &timers[i];
    } else {
      t = malloc(box_size);
      if (t == NULL)
        abort();
      boxes[i] = t;
    }
    err = uv_timer_init(&loop, t);
    if (err == 0)
      err = uv_timer_start(t, on_timer_fired, i / 1000 + 1, 0);
    if (err != 0)
      abort(); /* neither can fail for an initialised loop and a valid callback */
  }
  t1 = uv_hrtime();
  c1 = cpu_now_ns();

  uv_run(&loop, UV_RUN_DEFAULT);
  t2 = uv_hrtime();
  c2 = cpu_now_ns();

  for (i = 0; i < n; i++) {
    if (boxes == NULL)
      uv_close((uv_handle_t*) &timers[i], on_timer_closed);
    else
      uv_close((uv_handle_t*) boxes[i], on_boxed_timer_closed);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  err = uv_loop_close(&loop);
  free(timers);
  free(boxes);
  t3 = uv_hrtime();
  c3 = cpu_now_ns();

  out->init_ns = t1 - t0;
  out->dispatch_ns = t2 - t1;
  out->cleanup_ns = t3 - t2;
  out->init_cpu_ns = c1 - c0;
  out->dispatch_cpu_ns = c2 - c1;
  out->cleanup_cpu_ns = c3 - c2;
  out->fired = timers_fired;
  out->closed = timers_closed;
  return err;
}

/* ---- loop_count -------------------------------------------------------------------- */

static uint64_t ticks;
static int stop_requested;
static uv_idle_t idle;
static uv_timer_t zero_timer;
static uv_timer_t stop_timer;

static void on_idle(uv_idle_t* h) {
  (void) h;
  ticks++;
}

static void stop_idle(uv_timer_t* t) {
  (void) t;
  uv_idle_stop(&idle);
}

static void on_zero_timer(uv_timer_t* t) {
  ticks++;
  if (!stop_requested)
    uv_timer_start(t, on_zero_timer, 0, 0);
}

static void stop_zero_timer(uv_timer_t* t) {
  (void) t;
  stop_requested = 1;
}

static int run_counted(uv_loop_t* loop, uvb_ticks* out) {
  uv_metrics_t m;
  uint64_t start_iters, start, start_cpu;
  int err;

  err = uv_metrics_info(loop, &m);
  if (err != 0)
    return err;
  start_iters = m.loop_count;
  start = uv_hrtime();
  start_cpu = cpu_now_ns();
  uv_run(loop, UV_RUN_DEFAULT);
  out->elapsed_ns = uv_hrtime() - start;
  out->cpu_ns = cpu_now_ns() - start_cpu;
  out->ticks = ticks;
  err = uv_metrics_info(loop, &m);
  out->loop_iterations = m.loop_count - start_iters;
  return err;
}

static void close_walked(uv_handle_t* h, void* arg) {
  (void) arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static int close_loop(uv_loop_t* loop, int err) {
  int closed;

  uv_walk(loop, close_walked, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  closed = uv_loop_close(loop);
  return err != 0 ? err : closed;
}

/* Ticks of an active idle handle until a timer stops it after `ms` milliseconds. */
int uvb_loop_count_idle(uint64_t ms, uvb_ticks* out) {
  uv_loop_t loop;
  int err;

  err = uv_loop_init(&loop);
  if (err != 0)
    return err;
  ticks = 0;
  err = uv_idle_init(&loop, &idle);
  if (err == 0)
    err = uv_idle_start(&idle, on_idle);
  if (err == 0)
    err = uv_timer_init(&loop, &stop_timer);
  if (err == 0)
    err = uv_timer_start(&stop_timer, stop_idle, ms, 0);
  if (err == 0)
    err = run_counted(&loop, out);
  return close_loop(&loop, err);
}

/* Firings of a zero-timeout timer that re-arms itself from its callback (once per loop
 * iteration), until a second timer asks it to stop after `ms` milliseconds. */
int uvb_loop_count_timer0(uint64_t ms, uvb_ticks* out) {
  uv_loop_t loop;
  int err;

  err = uv_loop_init(&loop);
  if (err != 0)
    return err;
  ticks = 0;
  stop_requested = 0;
  err = uv_timer_init(&loop, &zero_timer);
  if (err == 0)
    err = uv_timer_start(&zero_timer, on_zero_timer, 0, 0);
  if (err == 0)
    err = uv_timer_init(&loop, &stop_timer);
  if (err == 0)
    err = uv_timer_start(&stop_timer, stop_zero_timer, ms, 0);
  if (err == 0)
    err = run_counted(&loop, out);
  return close_loop(&loop, err);
}

/* ---- counted runs: a count of units (stats, bytes, round trips) in a measured time ---- */

typedef struct uvb_mark {
  uint64_t wall;
  uint64_t cpu;
} uvb_mark;

static uvb_mark mark_now(void) {
  uvb_mark m;
  m.wall = uv_hrtime();
  m.cpu = cpu_now_ns();
  return m;
}

/* `ticks` units counted since `m`. */
static void mark_done(uvb_mark m, uvb_ticks* out) {
  out->elapsed_ns = uv_hrtime() - m.wall;
  out->cpu_ns = cpu_now_ns() - m.cpu;
  out->ticks = ticks;
  out->loop_iterations = 0;
}

/* ---- fs_stat, fs_read -------------------------------------------------------------- */

static const char* fs_path;
static uint64_t fs_left; /* requests still to start */
static int fs_error;

static void on_stat(uv_fs_t* req) {
  int err = (int) req->result;
  uv_loop_t* loop = req->loop;

  uv_fs_req_cleanup(req);
  if (err < 0) {
    fs_error = err;
    return;
  }
  ticks++;
  if (fs_left > 0) {
    fs_left--;
    err = uv_fs_stat(loop, req, fs_path, on_stat);
    if (err != 0)
      fs_error = err;
  }
}

/* `n` stats of `path`, `inflight` requests at a time (each restarted from its callback). */
int uvb_fs_stat(const char* path, uint64_t n, uint64_t inflight, uvb_ticks* out) {
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
  ticks = 0;
  fs_error = 0;
  fs_path = path;
  fs_left = n;
  m = mark_now();
  for (i = 0; i < inflight && fs_left > 0 && err == 0; i++) {
    fs_left--;
    err = uv_fs_stat(&loop, &reqs[i], path, on_stat);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, out);
  free(reqs);
  if (err == 0)
    err = fs_error;
  return close_loop(&loop, err);
}

static uv_file read_fd;
static int64_t read_offset;
static uv_buf_t read_buf;

static void on_read(uv_fs_t* req) {
  ssize_t n = req->result;
  int err;

  uv_fs_req_cleanup(req);
  if (n <= 0) {
    fs_error = (int) n;
    return;
  }
  ticks += (uint64_t) n;
  read_offset += n;
  err = uv_fs_read(req->loop, req, read_fd, &read_buf, 1, read_offset, on_read);
  if (err != 0)
    fs_error = err;
}

/* Reads `path` from start to end in `chunk`-byte reads, one at a time, into one buffer. */
int uvb_fs_read(const char* path, uint64_t chunk, uvb_ticks* out) {
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
  ticks = 0;
  fs_error = 0;
  read_offset = 0;
  m = mark_now();
  if (err == 0)
    err = uv_fs_read(&loop, &req, read_fd, &read_buf, 1, 0, on_read);
  uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, out);
  if (read_fd >= 0) {
    uv_fs_close(&loop, &req, read_fd, NULL);
    uv_fs_req_cleanup(&req);
  }
  free(read_buf.base);
  if (err == 0)
    err = fs_error; /* 0 at the end of the file */
  return close_loop(&loop, err);
}

/* ---- tcp_pingpong, tcp_pump -------------------------------------------------------- */

#define PING_BYTES 64
#define PUMP_BYTES 65536

static char ping_msg[PING_BYTES];
static char pump_chunk[PUMP_BYTES];
static char read_space[PUMP_BYTES];

typedef struct echo_req {
  uv_write_t req;
  char data[];
} echo_req;

static uv_tcp_t tcp_server;
static uv_tcp_t* tcp_conns; /* n clients, then n accepted */
static uv_connect_t* tcp_connect_reqs;
static uv_write_t* tcp_write_reqs; /* one per client */
static uint64_t tcp_n, tcp_ready, tcp_accepted, tcp_ms, ping_got;
static int tcp_pump, tcp_error;
static uvb_mark tcp_mark;
static uvb_ticks* tcp_out;

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void) h;
  (void) suggested;
  *buf = uv_buf_init(read_space, sizeof(read_space));
}

static void client_send(uv_tcp_t* c);

static void on_client_written(uv_write_t* w, int status) {
  if (status == 0 && !stop_requested && tcp_pump)
    client_send((uv_tcp_t*) w->handle);
}

/* A ping (one 64-byte message) or a 64 KiB chunk, from the client's own write request. */
static void client_send(uv_tcp_t* c) {
  uv_buf_t b = tcp_pump ? uv_buf_init(pump_chunk, PUMP_BYTES) : uv_buf_init(ping_msg, PING_BYTES);
  int err = uv_write(&tcp_write_reqs[c - tcp_conns], (uv_stream_t*) c, &b, 1, on_client_written);
  if (err != 0)
    tcp_error = err;
}

static void on_echoed(uv_write_t* w, int status) {
  (void) status;
  free(w);
}

static void on_server_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  echo_req* e;
  uv_buf_t b;

  if (nread <= 0)
    return; /* the end (or an error) only comes once the bench closes everything */
  if (tcp_pump) {
    ticks += (uint64_t) nread;
    return;
  }
  e = malloc(sizeof(*e) + (size_t) nread);
  if (e == NULL)
    abort();
  memcpy(e->data, buf->base, (size_t) nread);
  b = uv_buf_init(e->data, (unsigned int) nread);
  if (uv_write(&e->req, s, &b, 1, on_echoed) != 0)
    free(e);
}

static void on_client_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  (void) buf;
  if (nread <= 0)
    return;
  ping_got += (uint64_t) nread;
  if (ping_got >= PING_BYTES) {
    ping_got -= PING_BYTES;
    ticks++;
    if (!stop_requested)
      client_send((uv_tcp_t*) s);
  }
}

static void on_tcp_stop(uv_timer_t* t) {
  mark_done(tcp_mark, tcp_out);
  stop_requested = 1;
  uv_walk(t->loop, close_walked, NULL);
}

/* Every connection is up: start the clock, the stop timer and the clients' writes. */
static void tcp_connected(uv_loop_t* loop) {
  uint64_t i;
  int err;

  if (++tcp_ready < 2 * tcp_n)
    return;
  ticks = 0;
  tcp_mark = mark_now();
  err = uv_timer_init(loop, &stop_timer);
  if (err == 0)
    err = uv_timer_start(&stop_timer, on_tcp_stop, tcp_ms, 0);
  if (err != 0)
    tcp_error = err;
  for (i = 0; i < tcp_n; i++)
    client_send(&tcp_conns[i]);
}

static void on_tcp_connect(uv_connect_t* req, int status) {
  int err = status;

  if (err == 0)
    err = uv_read_start(req->handle, on_alloc, on_client_read);
  if (err != 0) {
    tcp_error = err;
    uv_walk(req->handle->loop, close_walked, NULL);
    return;
  }
  tcp_connected(req->handle->loop);
}

static void on_tcp_connection(uv_stream_t* server, int status) {
  uv_tcp_t* c;
  int err = status;

  if (err == 0 && tcp_accepted < tcp_n) {
    c = &tcp_conns[tcp_n + tcp_accepted++];
    err = uv_tcp_init(server->loop, c);
    if (err == 0)
      err = uv_accept(server, (uv_stream_t*) c);
    if (err == 0)
      err = uv_read_start((uv_stream_t*) c, on_alloc, on_server_read);
  }
  if (err != 0) {
    tcp_error = err;
    uv_walk(server->loop, close_walked, NULL);
    return;
  }
  tcp_connected(server->loop);
}

/* `n` loopback connections, server and clients on one loop, for `ms` milliseconds once all
 * are up. Ping-pong (`pump` 0): each client sends 64 bytes, the server echoes them, the
 * client counts a round trip and sends again. Pump: each client writes 64 KiB chunks (one
 * write in flight, the next from its callback); the server counts the bytes it reads. */
int uvb_tcp(uint64_t n, uint64_t ms, int pump, uvb_ticks* out) {
  uv_loop_t loop;
  struct sockaddr_storage addr;
  struct sockaddr_in any;
  int len = sizeof(addr);
  uint64_t i;
  int err;

  tcp_conns = calloc(2 * n, sizeof(*tcp_conns));
  tcp_connect_reqs = calloc(n, sizeof(*tcp_connect_reqs));
  tcp_write_reqs = calloc(n, sizeof(*tcp_write_reqs));
  err = tcp_conns == NULL || tcp_connect_reqs == NULL || tcp_write_reqs == NULL ? UV_ENOMEM : 0;
  if (err == 0)
    err = uv_loop_init(&loop);
  if (err != 0) {
    free(tcp_conns);
    free(tcp_connect_reqs);
    free(tcp_write_reqs);
    return err;
  }
  tcp_n = n;
  tcp_ms = ms;
  tcp_pump = pump;
  tcp_out = out;
  tcp_ready = tcp_accepted = ping_got = 0;
  tcp_error = 0;
  stop_requested = 0;
  ticks = 0;
  if (err == 0)
    err = uv_ip4_addr("127.0.0.1", 0, &any);
  if (err == 0)
    err = uv_tcp_init(&loop, &tcp_server);
  if (err == 0)
    err = uv_tcp_bind(&tcp_server, (const struct sockaddr*) &any, 0);
  if (err == 0)
    err = uv_listen((uv_stream_t*) &tcp_server, 511, on_tcp_connection);
  if (err == 0)
    err = uv_tcp_getsockname(&tcp_server, (struct sockaddr*) &addr, &len);
  for (i = 0; i < n && err == 0; i++) {
    err = uv_tcp_init(&loop, &tcp_conns[i]);
    if (err == 0)
      err = uv_tcp_connect(&tcp_connect_reqs[i], &tcp_conns[i], (const struct sockaddr*) &addr,
                           on_tcp_connect);
  }
  if (err == 0)
    uv_run(&loop, UV_RUN_DEFAULT);
  if (err == 0)
    err = tcp_error;
  err = close_loop(&loop, err);
  free(tcp_conns);
  free(tcp_connect_reqs);
  free(tcp_write_reqs);
  return err;
}

/* ---- fs_read_nowait: `inflight` reads at once, each chain over its own slice ------------ */

typedef struct par_read {
  uv_fs_t req; /* first: the callback's pointer is the struct's */
  uv_buf_t buf;
  int64_t offset, end;
} par_read;

static uv_file par_fd;

static void on_par_read(uv_fs_t* req) {
  par_read* p = (par_read*) req;
  ssize_t n = req->result;
  int err;

  uv_fs_req_cleanup(req);
  if (n < 0) {
    fs_error = (int) n;
    return;
  }
  ticks += (uint64_t) n;
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
 * to back in `chunk`-byte reads, each restarted from its callback, one buffer per chain. */
int uvb_fs_read_par(const char* path, uint64_t size, uint64_t chunk, uint64_t inflight,
                    uvb_ticks* out) {
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
  ticks = 0;
  fs_error = 0;
  m = mark_now();
  for (i = 0; i < inflight && err == 0; i++)
    err = uv_fs_read(&loop, &reads[i].req, par_fd, &reads[i].buf, 1, reads[i].offset,
                     on_par_read);
  uv_run(&loop, UV_RUN_DEFAULT);
  mark_done(m, out);
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
