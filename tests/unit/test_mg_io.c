#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "mg_time.h"

static char tmpdir[64];

static int setup(void **state)
{
  (void)state;
  (void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/mg-io-test.XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
  DIR *d = opendir(tmpdir);
  struct dirent *e;

  (void)state;
  while (d && (e = readdir(d))) {
    char *p;
    if (e->d_name[0] == '.')
      continue;
    p = mg_xasprintf("%s/%s", tmpdir, e->d_name);
    unlink(p);
    free(p);
  }
  if (d)
    closedir(d);
  rmdir(tmpdir);
  return 0;
}

static size_t count_entries(void)
{
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  size_t n = 0;

  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

static void test_atomic_write_and_read(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(1 << 20);
  char *path = mg_xasprintf("%s/out.json", tmpdir);
  struct stat st;

  (void)state;
  assert_int_equal(mg_io_write_atomic(path, "first\n", 6, 0640, &err), 0);
  assert_int_equal(mg_io_write_atomic(path, "second\n", 7, 0640, &err), 0);
  assert_int_equal(mg_io_read_file(path, &b, &err), 0);
  assert_string_equal(b.data, "second\n");
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);
  /* No temporary file is left behind. */
  assert_int_equal(count_entries(), 1);
  mg_buf_release(&b);
  free(path);
}

static void test_atomic_abort_keeps_old(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(1 << 20);
  char *path = mg_xasprintf("%s/keep.json", tmpdir);
  struct mg_io_atomic a;

  (void)state;
  assert_int_equal(mg_io_write_atomic(path, "old", 3, 0644, &err), 0);
  assert_int_equal(mg_io_atomic_open(&a, path, 0644, &err), 0);
  assert_int_equal(mg_io_atomic_write(&a, "partial new", 11, &err), 0);
  /* Before commit the old content is still there. */
  assert_int_equal(mg_io_read_file(path, &b, &err), 0);
  assert_string_equal(b.data, "old");
  mg_io_atomic_abort(&a);
  mg_buf_reset(&b);
  assert_int_equal(mg_io_read_file(path, &b, &err), 0);
  assert_string_equal(b.data, "old");
  assert_int_equal(count_entries(), 2); /* out.json from before, keep.json */
  mg_buf_release(&b);
  free(path);
}

static void test_read_cap(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(4);
  char *path = mg_xasprintf("%s/big", tmpdir);

  (void)state;
  assert_int_equal(mg_io_write_atomic(path, "12345", 5, 0644, &err), 0);
  assert_int_equal(mg_io_read_file(path, &b, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "is larger than 4 bytes"));
  assert_non_null(strstr(err.msg, path));
  mg_buf_release(&b);
  /* Exactly at the cap is fine. */
  mg_buf_init(&b, 5);
  assert_int_equal(mg_io_read_file(path, &b, &err), 0);
  assert_int_equal(b.len, 5);
  mg_buf_release(&b);
  unlink(path);
  free(path);
}

static void test_errors_name_the_path(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(16);
  char *path = mg_xasprintf("%s/no/such/dir/x", tmpdir);

  (void)state;
  assert_int_equal(mg_io_read_file("/nonexistent/file", &b, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  assert_string_equal(err.msg, "cannot open '/nonexistent/file': "
                               "No such file or directory");
  assert_int_equal(mg_io_write_atomic(path, "x", 1, 0644, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  assert_non_null(strstr(err.msg, "cannot create"));
  mg_buf_release(&b);
  free(path);
}

static void test_mkdirs(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  char *d = mg_xasprintf("%s/a", tmpdir);
  char *dd = mg_xasprintf("%s/a/b/c", tmpdir);
  struct stat st;

  (void)state;
  assert_int_equal(mg_io_mkdirs(dd, &err), 0);
  assert_int_equal(stat(dd, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(mg_io_mkdirs(dd, &err), 0); /* idempotent */
  rmdir(dd);
  dd[strlen(dd) - 2] = '\0';
  rmdir(dd);
  rmdir(d);
  free(d);
  free(dd);
}

static void test_clock(void **state)
{
  char t[40];
  long long a = mg_time_now_ns(), b = mg_time_now_ns();

  (void)state;
  assert_true(b >= a);
  mg_time_rfc3339(t, sizeof(t));
  assert_int_equal(strlen(t), 24);
  assert_int_equal(t[10], 'T');
  assert_int_equal(t[23], 'Z');
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_atomic_write_and_read),
    cmocka_unit_test(test_atomic_abort_keeps_old),
    cmocka_unit_test(test_read_cap),
    cmocka_unit_test(test_errors_name_the_path),
    cmocka_unit_test(test_mkdirs),
    cmocka_unit_test(test_clock),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
