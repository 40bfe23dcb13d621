/*
 * mock-load - a minimal load client for bench/mock-llm: N keep-alive
 * connections on one epoll thread, each sending R streamed completions
 * in a row, counting SSE token events. Raw sockets and no parsing beyond
 * pattern matching, so that the client costs far less than the server.
 *
 *   mock-load HOST PORT CONNS REQUESTS_PER_CONN MAX_TOKENS
 *
 * Prints one line: "conns=N requests=N ok=N tokens=N seconds=S".
 * Exit 1 if any response was not "200" or did not end with [DONE].
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CARRY 6 /* strlen("data: {") - 1: a match may straddle reads */
#define TAIL "data: [DONE]\n\n\r\n0\r\n\r\n"

struct conn {
  int fd;
  int left;    /* requests still to send */
  size_t sent; /* bytes of the current request sent */
  int reading;
  int first;     /* no byte of the response read yet */
  int status_ok; /* it starts with "HTTP/1.1 200 " */
  long tokens;   /* token events in the current response */
  char tail[32]; /* the last bytes read */
  size_t ntail;
};

static double now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reset(struct conn *c)
{
  c->sent = 0;
  c->reading = 0;
  c->first = 1;
  c->status_ok = 0;
  c->tokens = 0;
  c->ntail = 0;
}

/* Keeps the last bytes of the stream in c->tail. */
static void keep_tail(struct conn *c, const char *p, size_t n)
{
  size_t cap = sizeof(c->tail);

  if (n >= cap) {
    memcpy(c->tail, p + n - cap, cap);
    c->ntail = cap;
    return;
  }
  if (c->ntail + n > cap) {
    size_t drop = c->ntail + n - cap;
    memmove(c->tail, c->tail + drop, c->ntail - drop);
    c->ntail -= drop;
  }
  memcpy(c->tail + c->ntail, p, n);
  c->ntail += n;
}

/* Counts "data: {" in p[0..n). */
static long count_events(const char *p, size_t n)
{
  long k = 0;
  const char *end = p + n, *q = p;

  while ((q = memmem(q, (size_t)(end - q), "data: {", 7))) {
    k++;
    q += 7;
  }
  return k;
}

int main(int argc, char **argv)
{
  struct sockaddr_in sa;
  struct epoll_event ev, evs[256];
  struct conn *cs;
  char req[512], body[256], buf[65536];
  int nconn, per, maxtok, ep, active, bad = 0;
  long long tokens = 0, ok = 0;
  size_t reqlen;
  double t0, t1;

  if (argc != 6) {
    fprintf(stderr, "usage: mock-load HOST PORT CONNS REQUESTS MAX_TOKENS\n");
    return 2;
  }
  nconn = (int)strtol(argv[3], NULL, 10);
  per = (int)strtol(argv[4], NULL, 10);
  maxtok = (int)strtol(argv[5], NULL, 10);
  snprintf(body, sizeof(body),
           "{\"prompt\":\"hi\",\"max_tokens\":%d,\"ignore_eos\":true,"
           "\"stream\":true}",
           maxtok);
  reqlen = (size_t)snprintf(req, sizeof(req),
                            "POST /v1/completions HTTP/1.1\r\n"
                            "Host: %s:%s\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: %zu\r\n\r\n%s",
                            argv[1], argv[2], strlen(body), body);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)strtol(argv[2], NULL, 10));
  if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
    fprintf(stderr, "mock-load: bad address '%s'\n", argv[1]);
    return 2;
  }
  ep = epoll_create1(0);
  cs = calloc((size_t)nconn, sizeof(*cs));
  if (ep < 0 || !cs)
    return 2;
  t0 = now();
  for (int i = 0; i < nconn; i++) {
    int one = 1;
    struct conn *c = &cs[i];

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
      perror("mock-load: socket");
      return 2;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        && errno != EINPROGRESS) {
      perror("mock-load: connect");
      return 2;
    }
    c->left = per;
    reset(c);
    ev.events = EPOLLOUT;
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  }
  active = nconn;
  while (active > 0) {
    int n = epoll_wait(ep, evs, 256, 30000);

    if (n <= 0) {
      fprintf(stderr, "mock-load: stalled with %d connections active\n",
              active);
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;

      if (!c->reading) {
        ssize_t w = write(c->fd, req + c->sent, reqlen - c->sent);
        if (w < 0 && errno != EAGAIN) {
          perror("mock-load: write");
          return 1;
        }
        if (w > 0)
          c->sent += (size_t)w;
        if (c->sent == reqlen) {
          c->reading = 1;
          ev.events = EPOLLIN;
          ev.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
        continue;
      }
      for (;;) {
        /* The previous read's last CARRY bytes go first, so an event
         * split between two reads is counted once. */
        size_t carry = c->ntail < CARRY ? c->ntail : CARRY;
        ssize_t r;
        int finished;

        memcpy(buf, c->tail + c->ntail - carry, carry);
        r = read(c->fd, buf + carry, sizeof(buf) - carry);
        if (r < 0 && errno == EAGAIN)
          break;
        if (r <= 0) {
          fprintf(stderr, "mock-load: connection closed mid-response\n");
          return 1;
        }
        if (c->first) {
          c->status_ok =
              r >= 13 && memcmp(buf + carry, "HTTP/1.1 200 ", 13) == 0;
          c->first = 0;
        }
        c->tokens += count_events(buf, carry + (size_t)r);
        keep_tail(c, buf + carry, (size_t)r);
        finished = c->ntail >= 7
                   && memcmp(c->tail + c->ntail - 7, "\r\n0\r\n\r\n", 7) == 0;
        if (!finished)
          continue;
        if (!c->status_ok || c->ntail < strlen(TAIL)
            || memcmp(c->tail + c->ntail - strlen(TAIL), TAIL, strlen(TAIL)))
          bad++;
        else
          ok++;
        tokens += c->tokens;
        if (--c->left == 0) {
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
          close(c->fd);
          active--;
        } else {
          reset(c);
          ev.events = EPOLLOUT;
          ev.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
        break;
      }
    }
  }
  t1 = now();
  printf("conns=%d requests=%lld ok=%lld tokens=%lld seconds=%.3f\n", nconn,
         (long long)nconn * per, ok, tokens, t1 - t0);
  free(cs);
  close(ep);
  return bad ? 1 : 0;
}
