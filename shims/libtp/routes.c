/*
 * The routes file the daemon writes (path in $TP_ROUTES), re-read when its inode, size or mtime
 * changes, so a connect() costs a stat() and never a round trip. Line format (version 1):
 *
 *   tp-routes 1
 *   token <hex>           secret sent with each hand-over (the file is 0600)
 *   redirect <port>       TCP redirect listener on 127.0.0.1
 *   handover <port>       UDP hand-over socket on 127.0.0.1
 *   dns <port>            DNS stub on 127.0.0.1 (UDP and TCP)
 *   query <path>          unix socket answering name queries
 *   cidr <cidr>           cluster range: connections go to the daemon
 *   exclude <cidr>        never handed over (the user's --never-proxy)
 *   nameserver <ip>       the system resolver: UDP/53 to it goes to the DNS stub
 *
 * Unknown lines are ignored so that newer daemons can add to the format. Also holds the shim's
 * debug log and address helpers shared by the hooks.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tp_debug = 0;
int (*tp_real_connect)(int, const struct sockaddr *, socklen_t);

static pthread_mutex_t routes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tp_routes current;
static struct stat current_stat;
static int have_stat = 0;

void tp_log(const char *fmt, ...) {
  if (!tp_debug) return;
  char line[512];
  int n = snprintf(line, sizeof line, "tp-shim[%d]: ", (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  ssize_t ignored = write(2, line, (size_t)n);
  (void)ignored;
}

static void before_fork(void) { pthread_mutex_lock(&routes_lock); }
static void after_fork(void) { pthread_mutex_unlock(&routes_lock); }

void tp_resolve_real(void) {
  if (!tp_real_connect) tp_real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
}

__attribute__((constructor)) static void tp_init(void) {
  const char *debug = getenv("TP_SHIM_DEBUG");
  tp_debug = debug && strcmp(debug, "1") == 0;
  tp_resolve_real();
  pthread_atfork(before_fork, after_fork, after_fork);
}

static int parse_cidr(const char *text, struct tp_cidr *out) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", text);
  char *slash = strchr(buf, '/');
  int bits = -1;
  if (slash) {
    *slash = 0;
    bits = atoi(slash + 1);
  }
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, buf, out->addr) == 1) {
    out->family = AF_INET;
    out->bits = bits < 0 || bits > 32 ? 32 : bits;
    return 0;
  }
  if (inet_pton(AF_INET6, buf, out->addr) == 1) {
    out->family = AF_INET6;
    out->bits = bits < 0 || bits > 128 ? 128 : bits;
    return 0;
  }
  return -1;
}

static void loopback_port(struct sockaddr_in *sa, const char *port) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa->sin_port = htons((uint16_t)atoi(port));
}

static void parse_routes(FILE *f, struct tp_routes *r) {
  char line[512];
  memset(r, 0, sizeof *r);
  int versioned = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    char *value = strchr(line, ' ');
    if (!value) continue;
    *value++ = 0;
    if (strcmp(line, "tp-routes") == 0) versioned = atoi(value) == 1;
    else if (strcmp(line, "token") == 0) snprintf(r->token, sizeof r->token, "%s", value);
    else if (strcmp(line, "redirect") == 0) loopback_port(&r->redirect, value);
    else if (strcmp(line, "handover") == 0) loopback_port(&r->handover, value);
    else if (strcmp(line, "dns") == 0) loopback_port(&r->dns, value);
    else if (strcmp(line, "query") == 0) snprintf(r->query_path, sizeof r->query_path, "%s", value);
    else if (strcmp(line, "cidr") == 0 && r->ncidrs < TP_MAX_CIDRS) r->ncidrs += parse_cidr(value, &r->cidrs[r->ncidrs]) == 0;
    else if (strcmp(line, "exclude") == 0 && r->nexcludes < TP_MAX_CIDRS) r->nexcludes += parse_cidr(value, &r->excludes[r->nexcludes]) == 0;
    else if (strcmp(line, "nameserver") == 0 && r->nnameservers < TP_MAX_NAMESERVERS) r->nnameservers += parse_cidr(value, &r->nameservers[r->nnameservers]) == 0;
  }
  r->loaded = versioned && r->redirect.sin_port != 0 && r->token[0] != 0;
}

int tp_routes_get(struct tp_routes *out) {
  const char *path = getenv("TP_ROUTES");
  if (!path || !*path) return 0;
  struct stat st;
  pthread_mutex_lock(&routes_lock);
  if (stat(path, &st) != 0) {
    current.loaded = 0;
    have_stat = 0;
  } else if (!have_stat || st.st_ino != current_stat.st_ino || st.st_size != current_stat.st_size ||
             st.st_mtim.tv_sec != current_stat.st_mtim.tv_sec || st.st_mtim.tv_nsec != current_stat.st_mtim.tv_nsec) {
    FILE *f = fopen(path, "re");
    if (f) {
      parse_routes(f, &current);
      fclose(f);
      current_stat = st;
      have_stat = 1;
      tp_log("routes: read %s (%d cluster ranges)", path, current.ncidrs);
    } else {
      current.loaded = 0;
    }
  }
  if (current.loaded) memcpy(out, &current, sizeof *out);
  int loaded = current.loaded;
  pthread_mutex_unlock(&routes_lock);
  return loaded;
}

static int cidr_contains(const struct tp_cidr *c, int family, const uint8_t *addr) {
  if (c->family != family) return 0;
  int full = c->bits / 8, rest = c->bits % 8;
  if (memcmp(c->addr, addr, (size_t)full) != 0) return 0;
  if (rest == 0) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (c->addr[full] & mask) == (addr[full] & mask);
}

enum tp_verdict tp_routes_classify(const struct tp_routes *r, int family, const uint8_t *addr, const char **reason) {
  for (int i = 0; i < r->nexcludes; i++) {
    if (cidr_contains(&r->excludes[i], family, addr)) {
      *reason = "never-proxy range";
      return TP_DIRECT;
    }
  }
  for (int i = 0; i < r->ncidrs; i++) {
    if (cidr_contains(&r->cidrs[i], family, addr)) {
      *reason = "cluster range";
      return TP_CLUSTER;
    }
  }
  for (int i = 0; i < r->nnameservers; i++) {
    if (cidr_contains(&r->nameservers[i], family, addr)) {
      *reason = "system resolver";
      return TP_NAMESERVER;
    }
  }
  *reason = "outside the cluster ranges";
  return TP_DIRECT;
}

int tp_sockaddr_parts(const struct sockaddr *sa, socklen_t len, int *family, uint8_t *addr, uint16_t *port) {
  if (!sa) return -1;
  if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    *family = AF_INET;
    memcpy(addr, &in->sin_addr, 4);
    *port = ntohs(in->sin_port);
    return 0;
  }
  if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    *port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      *family = AF_INET;
      memcpy(addr, &in6->sin6_addr.s6_addr[12], 4);
    } else {
      *family = AF_INET6;
      memcpy(addr, &in6->sin6_addr, 16);
    }
    return 0;
  }
  return -1;
}

void tp_format_addr(int family, const uint8_t *addr, char *buf, size_t size) {
  if (!inet_ntop(family, addr, buf, (socklen_t)size)) snprintf(buf, size, "?");
}
