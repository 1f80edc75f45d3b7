/* A C program that owns and runs its libuv loop, with uvio attached as a plugin.
 *
 *   host             uses the plugin linked in (libuvio_c_plugin.a)
 *   host PLUGIN.so   loads the plugin with dlopen
 *
 * The host connects to the plugin's echo listener with its own libuv calls, waits until the
 * plugin's timer, work and task have all run, calls uvio_detach(), runs the loop to the
 * end and checks that uv_loop_close() returns 0. Prints "key=value" lines; exits 0 when all
 * is well. Built and run by tests/c_host.rs. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef int (*attach_fn)(uv_loop_t *);
typedef void (*detach_fn)(void);
typedef long (*stat_fn)(const char *);

#ifdef STATIC_PLUGIN
int uvio_attach(uv_loop_t *);
void uvio_detach(void);
long uvio_stat(const char *);
#endif

static attach_fn p_attach;
static detach_fn p_detach;
static stat_fn p_stat;

static const char msg[] = "ping from the C host";
static char got[64];
static size_t got_len;
static int echo_done;
/* Loop time (ms) when the poller started: a hang guard counts time, not polls (a loaded
 * machine or valgrind runs far fewer polls in the same time). */
static uint64_t started_ms;

static uv_tcp_t client;
static uv_connect_t connect_req;
static uv_write_t write_req;
static uv_timer_t poller;

static void fail(const char *what, int err) {
  fprintf(stderr, "host: %s: %s\n", what, err ? uv_strerror(err) : "failed");
  exit(1);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = got + got_len;
  buf->len = sizeof(got) - 1 - got_len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  if (n > 0) {
    got_len += (size_t)n;
    return;
  }
  if (n < 0) { /* UV_EOF: the plugin echoed everything and closed its side */
    echo_done = 1;
    uv_close((uv_handle_t *)s, NULL);
  }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

static void on_write(uv_write_t *req, int status) {
  uv_shutdown_t *sh = malloc(sizeof *sh);
  (void)req;
  if (status < 0) fail("write", status);
  if (!sh || uv_shutdown(sh, (uv_stream_t *)&client, on_shutdown) < 0) fail("shutdown", 0);
}

static void on_connect(uv_connect_t *req, int status) {
  uv_buf_t b = uv_buf_init((char *)msg, (unsigned)strlen(msg));
  if (status < 0) fail("connect", status);
  if (uv_read_start(req->handle, on_alloc, on_read) < 0) fail("read_start", 0);
  if (uv_write(&write_req, req->handle, &b, 1, on_write) < 0) fail("write", 0);
}

/* Detaches uvio once everything it started has been seen to work. */
static void on_poll(uv_timer_t *t) {
  if (echo_done && p_stat("ticks") >= 3 && p_stat("work") > 0 && p_stat("task") == 1) {
    p_detach();
    uv_close((uv_handle_t *)t, NULL);
  } else if (uv_now(t->loop) - started_ms > 300000) {
    fail("the plugin did not finish", 0);
  }
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  struct sockaddr_in addr;
  int port, rc;

  if (argc > 1) {
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      fprintf(stderr, "host: dlopen: %s\n", dlerror());
      return 1;
    }
    p_attach = (attach_fn)dlsym(lib, "uvio_attach");
    p_detach = (detach_fn)dlsym(lib, "uvio_detach");
    p_stat = (stat_fn)dlsym(lib, "uvio_stat");
    if (!p_attach || !p_detach || !p_stat) fail("dlsym", 0);
    printf("mode=dlopen\n");
  } else {
#ifdef STATIC_PLUGIN
    p_attach = uvio_attach;
    p_detach = uvio_detach;
    p_stat = uvio_stat;
    printf("mode=static\n");
#else
    fail("built without the static plugin; pass the shared one", 0);
#endif
  }
  printf("libuv=%s\n", uv_version_string());

  if (uv_loop_init(&loop) < 0) fail("loop_init", 0);
  printf("attach_null=%d\n", p_attach(NULL));
  port = p_attach(&loop);
  if (port <= 0) fail("uvio_attach", port);
  printf("attach_again=%d\n", p_attach(&loop));
  printf("metrics_supported=%ld\n", p_stat("metrics_supported"));

  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(&loop, &client);
  if (uv_tcp_connect(&connect_req, &client, (const struct sockaddr *)&addr, on_connect) < 0)
    fail("tcp_connect", 0);
  uv_timer_init(&loop, &poller);
  started_ms = uv_now(&loop);
  uv_timer_start(&poller, on_poll, 1, 1);

  rc = uv_run(&loop, UV_RUN_DEFAULT);
  got[got_len] = 0;
  printf("echo=%s\n", got);
  printf("ticks_ok=%d\n", p_stat("ticks") >= 3);
  printf("work=%ld\n", p_stat("work"));
  printf("task=%ld\n", p_stat("task"));
  printf("detached=%ld\n", p_stat("detached"));
  printf("run=%d\n", rc);
  rc = uv_loop_close(&loop);
  printf("loop_close=%d\n", rc);
  /* Detaching twice is harmless. */
  p_detach();
  return rc == 0 && strcmp(got, msg) == 0 ? 0 : 1;
}
