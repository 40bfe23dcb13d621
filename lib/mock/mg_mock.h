#ifndef MG_MOCK_H
#define MG_MOCK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"
#include "mock/mg_mock_gen.h"
#include "mock/mg_mock_sched.h"

struct mg_err;

/*
 * mock-llm's server: an OpenAI-compatible HTTP server on libmicrohttpd
 * (the only module that includes microhttpd.h), one thread, external epoll
 * polling. A request waiting for a batch slot or for its next token is a
 * suspended connection with a timer in a min-heap; the loop sleeps until
 * the earliest timer or network activity, resumes what is due and lets
 * libmicrohttpd write. See docs/tools/mock-llm.md for the endpoints.
 */

/* Faults, as fractions of the generation requests (see mg_mock.c). */
struct mg_mock_faults {
  double p429; /* answered 429 at once (with Retry-After) */
  double p500;
  double p503; /* answered 503 at once (with Retry-After) */
  /* At most one of these per request, mid-way through the reply: */
  double cut;          /* connection closed (no [DONE]) */
  double stall;        /* the next token waits stall_ms longer */
  double malformed;    /* one "data:" line of truncated JSON */
  double stream_error; /* a {"error": ...} event, then [DONE] */
  double stall_ms;
  unsigned retry_after_s;
};

struct mg_mock_opts {
  const char *host; /* numeric or name; e.g. "127.0.0.1" */
  unsigned port;    /* 0: any free port */
  struct mg_mock_model model;
  struct mg_mock_timing timing;
  unsigned slots; /* concurrent generations; 0: unlimited */
  size_t max_body;
  unsigned max_connections;
  struct mg_mock_faults faults;
  int arrival_fd; /* JSON line per request written here; -1: none */
  /*
   * HTTPS: the server certificate (chain) and its private key, PEM text,
   * NUL-terminated; both NULL: plain HTTP. libmicrohttpd keeps pointers
   * to them for the server's life, so the caller keeps them (and wipes
   * the key) until after mg_mock_server_free.
   */
  const char *tls_cert;
  const char *tls_key;
  /* Per-request and diagnostic lines at -v; NULL: none. */
  void (*log)(void *arg, const char *line);
  void *log_arg;
};

/* Zero faults, no log, 16 MiB bodies, 20000 connections. Cannot fail. */
void mg_mock_opts_init(struct mg_mock_opts *o);

struct mg_mock_server;

struct mg_mock_stats {
  unsigned long long requests;
  unsigned long long tokens; /* completion tokens sent */
};

/* 1 when this libmicrohttpd can serve HTTPS (opts.tls_cert), else 0. */
int mg_mock_tls_supported(void);

/*
 * Binds host:port and starts the daemon (nothing is served until run).
 * Fails with MG_ERR_IO when the address cannot be bound, or when TLS is
 * asked for and this libmicrohttpd lacks it or rejects the certificate
 * or key. The options and
 * the strings and key they point to are borrowed for the server's life.
 * caller owns *out; free with mg_mock_server_free.
 */
int mg_mock_server_new(const struct mg_mock_opts *o,
                       struct mg_mock_server **out, struct mg_err *err);
/* The bound port (the chosen one when opts.port was 0). */
unsigned mg_mock_server_port(const struct mg_mock_server *s);

/*
 * Serves until *stop becomes non-zero. The caller blocks the signals that
 * set *stop and passes the mask to wait with (they are delivered only
 * while the loop sleeps, so none is missed). Then ends the requests in
 * flight. Fails with MG_ERR_IO if the arrival log cannot be written.
 */
int mg_mock_server_run(struct mg_mock_server *s,
                       const volatile sig_atomic_t *stop,
                       const sigset_t *waitmask, struct mg_err *err);
void mg_mock_server_stats(const struct mg_mock_server *s,
                          struct mg_mock_stats *st);
/* Stops the daemon and frees everything. Accepts NULL. */
void mg_mock_server_free(struct mg_mock_server *s);

/*
 * 1 when the peer of the connected TCP socket fd has gone (closed or
 * reset it, or shut down its sending side), else 0. Reads nothing: bytes
 * the peer has sent (a pipelined request) stay queued. The server calls
 * it on suspended requests, whose connections libmicrohttpd does not
 * watch, so that a request whose client has gone gives up its place.
 */
int mg_mock_peer_gone(int fd);

#endif
