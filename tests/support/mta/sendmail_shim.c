/*
 * LD_PRELOAD shim for running an extracted sendmail 8.17 inside the e2e tests.
 *
 * 1. Host name: sendmail sleeps 60 s at start-up ("My unqualified host name ... unknown; sleeping
 *    for retry") when gethostname() has no dot and cannot be canonicalised.  gethostname() and
 *    uname() answer MDCRYPT_SHIM_HOSTNAME instead (a fully qualified name).
 * 2. Logging: sendmail logs only through syslog(3) and the test machine runs no syslog daemon.
 *    openlog/syslog/vsyslog/__syslog_chk/__vsyslog_chk/closelog are replaced by appends to the
 *    file MDCRYPT_SHIM_LOG (one line per call, prefixed with a timestamp and the pid).
 *
 * sendmail wipes its environment early in main(), so both variables are read once in a
 * constructor that runs before main().  The file is opened per message (sendmail closes stray
 * descriptors and forks a lot); O_APPEND keeps lines from concurrent children whole.
 *
 * Build: cc -shared -fPIC -O2 -o sendmail_shim.so sendmail_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static char shim_hostname[256];
static char shim_logfile[4096];
static char shim_ident[64] = "sendmail";

__attribute__((constructor)) static void shim_init(void) {
  const char *h = getenv("MDCRYPT_SHIM_HOSTNAME");
  const char *l = getenv("MDCRYPT_SHIM_LOG");
  if (h != NULL && strlen(h) < sizeof shim_hostname) strcpy(shim_hostname, h);
  if (l != NULL && strlen(l) < sizeof shim_logfile) strcpy(shim_logfile, l);
}

int gethostname(char *name, size_t len) {
  if (shim_hostname[0] == '\0') {
    int (*real)(char *, size_t) = (int (*)(char *, size_t))dlsym(RTLD_NEXT, "gethostname");
    return real != NULL ? real(name, len) : -1;
  }
  size_t n = strlen(shim_hostname);
  if (n + 1 > len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(name, shim_hostname, n + 1);
  return 0;
}

int uname(struct utsname *buf) {
  int (*real)(struct utsname *) = (int (*)(struct utsname *))dlsym(RTLD_NEXT, "uname");
  if (real == NULL) return -1;
  int rc = real(buf);
  if (rc == 0 && shim_hostname[0] != '\0') {
    strncpy(buf->nodename, shim_hostname, sizeof buf->nodename - 1);
    buf->nodename[sizeof buf->nodename - 1] = '\0';
  }
  return rc;
}

/* Expand %m (syslog's strerror(errno)) since vsnprintf does not know it. */
static void expand_percent_m(const char *fmt, int saved_errno, char *out, size_t outlen) {
  const char *err = strerror(saved_errno);
  size_t o = 0;
  for (const char *p = fmt; *p != '\0' && o + 1 < outlen; ++p) {
    if (p[0] == '%' && p[1] == '%') {
      if (o + 2 >= outlen) break;
      out[o++] = '%';
      out[o++] = '%';
      ++p;
    } else if (p[0] == '%' && p[1] == 'm') {
      for (const char *e = err; *e != '\0' && o + 1 < outlen; ++e) {
        if (*e == '%') continue;
        out[o++] = *e;
      }
      ++p;
    } else {
      out[o++] = *p;
    }
  }
  out[o] = '\0';
}

static void shim_log(int priority, const char *fmt, va_list ap) {
  int saved_errno = errno;
  if (shim_logfile[0] == '\0' || fmt == NULL) return;
  char fmtbuf[2048];
  char msg[8192];
  expand_percent_m(fmt, saved_errno, fmtbuf, sizeof fmtbuf);
  vsnprintf(msg, sizeof msg, fmtbuf, ap);

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  char stamp[64];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

  char line[8448];
  int n = snprintf(line, sizeof line, "%s.%03ld %s[%ld]: <%d> %s\n", stamp, ts.tv_nsec / 1000000L,
                   shim_ident, (long)getpid(), LOG_PRI(priority), msg);
  if (n < 0) return;
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  int fd = open(shim_logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ssize_t w = write(fd, line, len);
  (void)w;
  close(fd);
  errno = saved_errno;
}

void openlog(const char *ident, int option, int facility) {
  (void)option;
  (void)facility;
  if (ident != NULL) {
    strncpy(shim_ident, ident, sizeof shim_ident - 1);
    shim_ident[sizeof shim_ident - 1] = '\0';
  }
}

void closelog(void) {}

void vsyslog(int priority, const char *fmt, va_list ap) { shim_log(priority, fmt, ap); }

void syslog(int priority, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  shim_log(priority, fmt, ap);
  va_end(ap);
}

void __vsyslog_chk(int priority, int flag, const char *fmt, va_list ap) {
  (void)flag;
  shim_log(priority, fmt, ap);
}

void __syslog_chk(int priority, int flag, const char *fmt, ...) {
  (void)flag;
  va_list ap;
  va_start(ap, fmt);
  shim_log(priority, fmt, ap);
  va_end(ap);
}
