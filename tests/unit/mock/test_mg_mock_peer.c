/* Unit tests for mg_mock_peer_gone: is the client of a TCP socket gone? */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mock/mg_mock.h"

static const char pipelined[] = "POST /v1/completions HTTP/1.1\r\n\r\n";

/* A connected loopback TCP pair: *cli the client side, *srv the server's. */
static void tcp_pair(int *cli, int *srv)
{
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int lfd = socket(AF_INET, SOCK_STREAM, 0);

  assert_true(lfd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(lfd, 1), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
  *cli = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(*cli >= 0);
  assert_int_equal(connect(*cli, (struct sockaddr *)&a, sizeof(a)), 0);
  *srv = accept(lfd, NULL, NULL);
  assert_true(*srv >= 0);
  close(lfd);
}

/* Waits up to 2 s for fd to have something to read (data or an end). */
static void wait_readable(int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };

  assert_int_equal(poll(&p, 1, 2000), 1);
}

/* Waits up to 2 s for mg_mock_peer_gone(fd) to say 1; returns its last
 * answer. The peer's FIN or RST reaches the socket asynchronously. */
static int becomes_gone(int fd)
{
  struct timespec ts = { 0, 10000000L };

  for (int i = 0; i < 200; i++) {
    if (mg_mock_peer_gone(fd))
      return 1;
    nanosleep(&ts, NULL);
  }
  return mg_mock_peer_gone(fd);
}

/* The pipelined bytes are still there to read, unconsumed. */
static void assert_unread(int fd)
{
  char buf[64];
  ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

  assert_int_equal(n, (ssize_t)strlen(pipelined));
  assert_memory_equal(buf, pipelined, (size_t)n);
}

static void test_open_idle(void **state)
{
  int cli, srv;

  (void)state;
  tcp_pair(&cli, &srv);
  assert_int_equal(mg_mock_peer_gone(srv), 0);
  assert_int_equal(mg_mock_peer_gone(srv), 0);
  close(cli);
  close(srv);
}

static void test_open_pipelined(void **state)
{
  int cli, srv;

  (void)state;
  tcp_pair(&cli, &srv);
  assert_int_equal(send(cli, pipelined, strlen(pipelined), 0),
                   (ssize_t)strlen(pipelined));
  wait_readable(srv);
  assert_int_equal(mg_mock_peer_gone(srv), 0);
  assert_unread(srv);
  assert_int_equal(mg_mock_peer_gone(srv), 0);
  close(cli);
  close(srv);
}

static void test_closed(void **state)
{
  int cli, srv;

  (void)state;
  tcp_pair(&cli, &srv);
  close(cli);
  wait_readable(srv);
  assert_int_equal(becomes_gone(srv), 1);
  close(srv);
}

static void test_closed_after_pipelined(void **state)
{
  int cli, srv;

  (void)state;
  tcp_pair(&cli, &srv);
  assert_int_equal(send(cli, pipelined, strlen(pipelined), 0),
                   (ssize_t)strlen(pipelined));
  close(cli);
  /* The end of stream sits behind bytes a peek would see first. */
  assert_int_equal(becomes_gone(srv), 1);
  assert_unread(srv);
  close(srv);
}

static void test_reset(void **state)
{
  struct linger lg = { .l_onoff = 1, .l_linger = 0 };
  int cli, srv;

  (void)state;
  tcp_pair(&cli, &srv);
  assert_int_equal(setsockopt(cli, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
  close(cli);
  assert_int_equal(becomes_gone(srv), 1);
  close(srv);
}

static void test_half_closed(void **state)
{
  int cli, srv;

  (void)state;
  tcp_pair(&cli, &srv);
  assert_int_equal(shutdown(cli, SHUT_WR), 0);
  assert_int_equal(becomes_gone(srv), 1);
  close(cli);
  close(srv);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_open_idle),
    cmocka_unit_test(test_open_pipelined),
    cmocka_unit_test(test_closed),
    cmocka_unit_test(test_closed_after_pipelined),
    cmocka_unit_test(test_reset),
    cmocka_unit_test(test_half_closed),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
