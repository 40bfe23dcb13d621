#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
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

static char *slurp(const char *path)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(1 << 20);

  if (mg_io_read_file(path, &b, &err) < 0)
    fail_msg("%s", err.msg);
  return mg_buf_detach(&b, NULL);
}

/* F1: a symbolic link is kept; the file it points at is replaced. */
static void test_atomic_symlink_kept(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  char *target = mg_xasprintf("%s/target.json", tmpdir);
  char *link1 = mg_xasprintf("%s/link.json", tmpdir);
  char *link2 = mg_xasprintf("%s/link2.json", tmpdir);
  char *dangling = mg_xasprintf("%s/dangling.json", tmpdir);
  char *made = mg_xasprintf("%s/made.json", tmpdir);
  char buf[64], *s;
  ssize_t n;
  struct stat st;

  (void)state;
  assert_int_equal(mg_io_write_atomic(target, "old", 3, 0644, &err), 0);
  assert_int_equal(symlink("target.json", link1), 0); /* relative */
  assert_int_equal(symlink(link1, link2), 0);         /* a chain */
  assert_int_equal(mg_io_write_atomic(link2, "new", 3, 0644, &err), 0);
  assert_int_equal(lstat(link1, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(lstat(link2, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  n = readlink(link1, buf, sizeof(buf));
  assert_int_equal(n, 11);
  assert_memory_equal(buf, "target.json", 11);
  s = slurp(target);
  assert_string_equal(s, "new");
  free(s);
  /* A dangling link: its target is created, as '>' does. */
  assert_int_equal(symlink("made.json", dangling), 0);
  assert_int_equal(mg_io_write_atomic(dangling, "made", 4, 0644, &err), 0);
  assert_int_equal(lstat(dangling, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  s = slurp(made);
  assert_string_equal(s, "made");
  free(s);
  /* No temporary left next to the link or the target. */
  assert_int_equal(count_entries(), 2 + 5);
  unlink(target);
  unlink(link1);
  unlink(link2);
  unlink(dangling);
  unlink(made);
  free(target);
  free(link1);
  free(link2);
  free(dangling);
  free(made);
}

/* F1: a FIFO is written through, and stays a FIFO. */
static void test_atomic_fifo_written_through(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  char *fifo = mg_xasprintf("%s/fifo", tmpdir);
  char buf[64] = "";
  struct stat st;
  pid_t pid;
  int fd, status;
  ssize_t n;

  (void)state;
  assert_int_equal(mkfifo(fifo, 0600), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct mg_err e = MG_ERR_INIT;
    _exit(mg_io_write_atomic(fifo, "through", 7, 0644, &e) == 0 ? 0 : 1);
  }
  fd = open(fifo, O_RDONLY);
  assert_true(fd >= 0);
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(n, 7);
  assert_string_equal(buf, "through");
  assert_int_equal(lstat(fifo, &st), 0);
  assert_true(S_ISFIFO(st.st_mode));
  assert_int_equal(count_entries(), 2 + 1);
  unlink(fifo);
  free(fifo);
  (void)err;
}

/*
 * F1: -o /dev/null run as root replaced the machine's /dev/null with a
 * regular file. A null device made here with mknod must stay a character
 * device, also through a symlink and with the streaming writer.
 */
static void test_atomic_char_device_kept(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  char *dev = mg_xasprintf("%s/null", tmpdir);
  char *link1 = mg_xasprintf("%s/to-null", tmpdir);
  struct mg_io_atomic a;
  struct stat st;

  (void)state;
  if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) < 0) {
    /* Not root (or no CAP_MKNOD): say so, the test cannot run. */
    print_message("SKIP char device: mknod: %s (needs root)\n",
                  strerror(errno));
    free(dev);
    free(link1);
    skip();
  }
  assert_int_equal(mg_io_write_atomic(dev, "gone", 4, 0644, &err), 0);
  assert_int_equal(lstat(dev, &st), 0);
  assert_true(S_ISCHR(st.st_mode));
  assert_int_equal(major(st.st_rdev), 1);
  assert_int_equal(minor(st.st_rdev), 3);
  assert_int_equal(symlink(dev, link1), 0);
  assert_int_equal(mg_io_atomic_open(&a, link1, 0644, &err), 0);
  assert_int_equal(mg_io_atomic_write(&a, "x", 1, &err), 0);
  assert_int_equal(mg_io_atomic_commit(&a, &err), 0);
  assert_int_equal(lstat(dev, &st), 0);
  assert_true(S_ISCHR(st.st_mode));
  assert_int_equal(lstat(link1, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(count_entries(), 2 + 2);
  unlink(link1);
  unlink(dev);
  free(dev);
  free(link1);
}

/* F1: /dev/stdout and /proc/self/fd/N are written through to the fd. */
static void test_atomic_proc_fd_written_through(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  char *file = mg_xasprintf("%s/fd-file", tmpdir);
  char *via = NULL, *s;
  struct stat before, after;
  int fd, saved;

  (void)state;
  fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(fstat(fd, &before), 0);
  via = mg_xasprintf("/proc/self/fd/%d", fd);
  assert_int_equal(mg_io_write_atomic(via, "via proc", 8, 0644, &err), 0);
  s = slurp(file);
  assert_string_equal(s, "via proc");
  free(s);
  /* The same file, not a new one renamed into its place. */
  assert_int_equal(stat(file, &after), 0);
  assert_true(before.st_ino == after.st_ino);
  /* /dev/stdout: point fd 1 at the file for the time of the call. */
  fflush(stdout);
  saved = dup(1);
  assert_int_equal(dup2(fd, 1), 1);
  assert_int_equal(
      mg_io_write_atomic("/dev/stdout", "to stdout", 9, 0644, &err), 0);
  assert_int_equal(dup2(saved, 1), 1);
  close(saved);
  close(fd);
  s = slurp(file);
  assert_string_equal(s, "to stdout");
  free(s);
  assert_int_equal(stat(file, &after), 0);
  assert_true(before.st_ino == after.st_ino);
  assert_int_equal(count_entries(), 2 + 1);
  unlink(file);
  free(file);
  free(via);
}

/* A directory is never replaced. */
static void test_atomic_directory_refused(void **state)
{
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(mg_io_write_atomic(tmpdir, "x", 1, 0644, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  assert_non_null(strstr(err.msg, "Is a directory"));
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
    cmocka_unit_test(test_atomic_symlink_kept),
    cmocka_unit_test(test_atomic_fifo_written_through),
    cmocka_unit_test(test_atomic_char_device_kept),
    cmocka_unit_test(test_atomic_proc_fd_written_through),
    cmocka_unit_test(test_atomic_directory_refused),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
