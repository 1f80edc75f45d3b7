/* The C side of uvio-bench: the same workloads as the Rust variants, written against the
 * vendored libuv that uvio links (same static libuv.a, same binary).
 *
 * Every function returns 0 or a negative libuv error code, and fills a result struct whose
 * layout is mirrored by `#[repr(C)]` structs in benches/src/c.rs. */

#include <stdint.h>
#include <stdlib.h>
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
