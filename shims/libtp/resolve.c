/*
 * Name lookup hooks: getaddrinfo(), gethostbyname(), gethostbyname2() and their _r forms ask the
 * daemon over its name query socket (unix stream, one line each way):
 *
 *   -> "<name> <family>\n"            family 0 (any), 4 or 6
 *   <- "cluster <ip> [<ip>…]\n" | "not-cluster\n" | "nxdomain\n" | "error <text>\n"
 *
 * The daemon decides with its routing table; "not-cluster" (and an unreachable daemon) fall
 * through to libc, so names outside the cluster resolve exactly as before. Answers are cached
 * in-process for TP_CACHE_SECONDS. Results we allocate are remembered so freeaddrinfo() frees only
 * ours and hands libc's back to libc. Leaves out AI_ADDRCONFIG filtering, AI_V4MAPPED and reverse
 * lookups (getnameinfo stays libc's).
 */
#define _GNU_SOURCE
#include "shim.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define TP_MAX_ADDRS 16
#define TP_CACHE_SIZE 64
#define TP_CACHE_SECONDS 5
#define TP_QUERY_TIMEOUT_MS 5000
#define TP_NAME_MAX 254

enum answer_kind { ANSWER_NOT_CLUSTER = 0, ANSWER_CLUSTER, ANSWER_NXDOMAIN, ANSWER_ERROR };

struct answer {
  enum answer_kind kind;
  int naddrs;
  int families[TP_MAX_ADDRS];
  uint8_t addrs[TP_MAX_ADDRS][16];
};

struct cache_entry {
  char name[TP_NAME_MAX + 1];
  int family;
  time_t expires;
  struct answer answer;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry cache[TP_CACHE_SIZE];
static unsigned cache_next;

static int (*real_getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
static void (*real_freeaddrinfo)(struct addrinfo *);
static struct hostent *(*real_gethostbyname)(const char *);
static struct hostent *(*real_gethostbyname2)(const char *, int);
static int (*real_gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);
static int (*real_gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t, struct hostent **, int *);

#define REAL(name) (__extension__({ if (!real_##name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name); real_##name; }))

static time_t now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

static int cache_find(const char *name, int family, struct answer *out) {
  int found = 0;
  time_t now = now_seconds();
  pthread_mutex_lock(&cache_lock);
  for (int i = 0; i < TP_CACHE_SIZE; i++) {
    if (cache[i].expires > now && cache[i].family == family && strcmp(cache[i].name, name) == 0) {
      *out = cache[i].answer;
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&cache_lock);
  return found;
}

static void cache_store(const char *name, int family, const struct answer *answer) {
  pthread_mutex_lock(&cache_lock);
  struct cache_entry *e = &cache[cache_next++ % TP_CACHE_SIZE];
  snprintf(e->name, sizeof e->name, "%s", name);
  e->family = family;
  e->answer = *answer;
  e->expires = now_seconds() + TP_CACHE_SECONDS;
  pthread_mutex_unlock(&cache_lock);
}

static void parse_answer(char *line, struct answer *out) {
  memset(out, 0, sizeof *out);
  if (strncmp(line, "cluster", 7) == 0) {
    out->kind = ANSWER_CLUSTER;
    char *save = NULL;
    for (char *tok = strtok_r(line + 7, " ", &save); tok && out->naddrs < TP_MAX_ADDRS; tok = strtok_r(NULL, " ", &save)) {
      int i = out->naddrs;
      if (inet_pton(AF_INET, tok, out->addrs[i]) == 1) out->families[out->naddrs++] = AF_INET;
      else if (inet_pton(AF_INET6, tok, out->addrs[i]) == 1) out->families[out->naddrs++] = AF_INET6;
    }
    if (out->naddrs == 0) out->kind = ANSWER_NXDOMAIN;
  } else if (strcmp(line, "nxdomain") == 0) {
    out->kind = ANSWER_NXDOMAIN;
  } else if (strcmp(line, "not-cluster") == 0) {
    out->kind = ANSWER_NOT_CLUSTER;
  } else {
    out->kind = ANSWER_ERROR;
  }
}

/* One round trip to the daemon; 0 and *out filled, or -1 when the daemon could not be asked. */
static int ask_daemon(const struct tp_routes *r, const char *name, int family, struct answer *out) {
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  if (strlen(r->query_path) >= sizeof sun.sun_path) return -1;
  strcpy(sun.sun_path, r->query_path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  char buf[512];
  int n = snprintf(buf, sizeof buf, "%s %d\n", name, family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0);
  if (tp_real_connect(s, (struct sockaddr *)&sun, sizeof sun) != 0 || write(s, buf, (size_t)n) != n) {
    close(s);
    return -1;
  }
  size_t got = 0;
  struct pollfd pfd = {.fd = s, .events = POLLIN};
  while (got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
    if (poll(&pfd, 1, TP_QUERY_TIMEOUT_MS) <= 0) break;
    ssize_t k = read(s, buf + got, sizeof buf - 1 - got);
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(s);
  char *newline = memchr(buf, '\n', got);
  if (!newline) return -1;
  *newline = 0;
  parse_answer(buf, out);
  return 0;
}

/* The daemon's answer for a name, or ANSWER_NOT_CLUSTER when libc should handle it. */
static struct answer lookup(const char *name, int family, const char *hook) {
  struct answer answer = {.kind = ANSWER_NOT_CLUSTER};
  struct tp_routes r;
  uint8_t literal[16];
  if (!name || !*name || strlen(name) > TP_NAME_MAX) return answer;
  if (inet_pton(AF_INET, name, literal) == 1 || inet_pton(AF_INET6, name, literal) == 1) return answer;
  if (!tp_routes_get(&r) || !r.query_path[0]) {
    tp_log("%s %s: libc (no routes file)", hook, name);
    return answer;
  }
  if (cache_find(name, family, &answer)) return answer;
  if (ask_daemon(&r, name, family, &answer) != 0) {
    tp_log("%s %s: libc (daemon did not answer)", hook, name);
    answer.kind = ANSWER_NOT_CLUSTER;
    return answer;
  }
  tp_log("%s %s: %s", hook, name, answer.kind == ANSWER_CLUSTER ? "cluster" : answer.kind == ANSWER_NXDOMAIN ? "no such cluster name" : answer.kind == ANSWER_ERROR ? "daemon error" : "libc (not a cluster name)");
  if (answer.kind != ANSWER_ERROR) cache_store(name, family, &answer);
  return answer;
}

/* ---- getaddrinfo ---------------------------------------------------------------------- */

struct tp_ai {
  struct addrinfo ai;
  struct sockaddr_in6 sa;
  struct tp_ai *next_result; /* registry of heads we returned */
};

static pthread_mutex_t results_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tp_ai *results;

static int service_port(const char *service, const struct addrinfo *hints, uint16_t *port) {
  *port = 0;
  if (!service) return 0;
  char *end;
  long value = strtol(service, &end, 10);
  if (*service && !*end && value >= 0 && value <= 65535) {
    *port = htons((uint16_t)value);
    return 0;
  }
  if (hints && (hints->ai_flags & AI_NUMERICSERV)) return EAI_NONAME;
  const char *proto = hints && hints->ai_socktype == SOCK_DGRAM ? "udp" : "tcp";
  struct servent se, *found = NULL;
  char buf[1024];
  if (getservbyname_r(service, proto, &se, buf, sizeof buf, &found) != 0 || !found) return EAI_SERVICE;
  *port = (uint16_t)found->s_port;
  return 0;
}

EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
  int family = hints ? hints->ai_family : AF_UNSPEC;
  if (!node || (hints && (hints->ai_flags & AI_NUMERICHOST)) || (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)) {
    return REAL(getaddrinfo)(node, service, hints, res);
  }
  struct answer answer = lookup(node, family, "getaddrinfo");
  if (answer.kind == ANSWER_NOT_CLUSTER) return REAL(getaddrinfo)(node, service, hints, res);
  if (answer.kind == ANSWER_ERROR) return EAI_AGAIN;
  if (answer.kind == ANSWER_NXDOMAIN) return EAI_NONAME;
  uint16_t port;
  int err = service_port(service, hints, &port);
  if (err) return err;
  static const int all_types[][2] = {{SOCK_STREAM, IPPROTO_TCP}, {SOCK_DGRAM, IPPROTO_UDP}, {SOCK_RAW, 0}};
  int wanted_type = hints ? hints->ai_socktype : 0;
  struct tp_ai *head = NULL, *tail = NULL;
  for (int i = 0; i < answer.naddrs; i++) {
    if (family != AF_UNSPEC && answer.families[i] != family) continue;
    for (int t = 0; t < 3; t++) {
      if (wanted_type != 0 ? all_types[t][0] != wanted_type : all_types[t][0] == SOCK_RAW) continue;
      struct tp_ai *node_ai = calloc(1, sizeof *node_ai);
      if (!node_ai) break;
      node_ai->ai.ai_family = answer.families[i];
      node_ai->ai.ai_socktype = all_types[t][0];
      node_ai->ai.ai_protocol = hints && hints->ai_protocol ? hints->ai_protocol : all_types[t][1];
      node_ai->ai.ai_addr = (struct sockaddr *)&node_ai->sa;
      if (answer.families[i] == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&node_ai->sa;
        in->sin_family = AF_INET;
        in->sin_port = port;
        memcpy(&in->sin_addr, answer.addrs[i], 4);
        node_ai->ai.ai_addrlen = sizeof *in;
      } else {
        node_ai->sa.sin6_family = AF_INET6;
        node_ai->sa.sin6_port = port;
        memcpy(&node_ai->sa.sin6_addr, answer.addrs[i], 16);
        node_ai->ai.ai_addrlen = sizeof node_ai->sa;
      }
      if (tail) tail->ai.ai_next = &node_ai->ai;
      else head = node_ai;
      tail = node_ai;
    }
  }
  if (!head) return EAI_NODATA;
  if (hints && (hints->ai_flags & AI_CANONNAME)) head->ai.ai_canonname = strdup(node);
  pthread_mutex_lock(&results_lock);
  head->next_result = results;
  results = head;
  pthread_mutex_unlock(&results_lock);
  *res = &head->ai;
  return 0;
}

EXPORT void freeaddrinfo(struct addrinfo *ai) {
  if (!ai) return;
  struct tp_ai *ours = NULL;
  pthread_mutex_lock(&results_lock);
  for (struct tp_ai **p = &results; *p; p = &(*p)->next_result) {
    if (&(*p)->ai == ai) {
      ours = *p;
      *p = ours->next_result;
      break;
    }
  }
  pthread_mutex_unlock(&results_lock);
  if (!ours) {
    REAL(freeaddrinfo)(ai);
    return;
  }
  free(ours->ai.ai_canonname);
  while (ai) {
    struct addrinfo *next = ai->ai_next;
    free((struct tp_ai *)ai);
    ai = next;
  }
}

/* ---- gethostbyname family ------------------------------------------------------------- */

/* Lays a hostent for `answer` out in the caller's buffer; ERANGE when it does not fit. */
static int fill_hostent(const char *name, int family, const struct answer *answer, struct hostent *he, char *buf, size_t len) {
  int size = family == AF_INET6 ? 16 : 4;
  int count = 0;
  for (int i = 0; i < answer->naddrs; i++) count += answer->families[i] == family;
  size_t name_len = strlen(name) + 1;
  size_t need = sizeof(char *) * (size_t)(count + 2) + (size_t)(count * size) + name_len + sizeof(char *);
  if (len < need + sizeof(void *)) return ERANGE;
  uintptr_t base = ((uintptr_t)buf + sizeof(void *) - 1) & ~(uintptr_t)(sizeof(void *) - 1);
  char **addr_list = (char **)base;
  char **aliases = addr_list + count + 1;
  char *data = (char *)(aliases + 1);
  aliases[0] = NULL;
  int k = 0;
  for (int i = 0; i < answer->naddrs; i++) {
    if (answer->families[i] != family) continue;
    memcpy(data, answer->addrs[i], (size_t)size);
    addr_list[k++] = data;
    data += size;
  }
  addr_list[k] = NULL;
  memcpy(data, name, name_len);
  he->h_name = data;
  he->h_aliases = aliases;
  he->h_addrtype = family;
  he->h_length = size;
  he->h_addr_list = addr_list;
  return 0;
}

static int hostent_r(const char *name, int family, struct hostent *he, char *buf, size_t len, struct hostent **result, int *h_errnop, int *handled) {
  *handled = 0;
  struct answer answer = lookup(name, family, "gethostbyname");
  if (answer.kind == ANSWER_NOT_CLUSTER) return 0;
  *handled = 1;
  *result = NULL;
  if (answer.kind == ANSWER_ERROR) {
    if (h_errnop) *h_errnop = TRY_AGAIN;
    return EAGAIN;
  }
  int has = 0;
  for (int i = 0; i < answer.naddrs; i++) has |= answer.families[i] == family;
  if (answer.kind == ANSWER_NXDOMAIN || !has) {
    if (h_errnop) *h_errnop = answer.kind == ANSWER_NXDOMAIN ? HOST_NOT_FOUND : NO_DATA;
    return 0;
  }
  int err = fill_hostent(name, family, &answer, he, buf, len);
  if (err) {
    if (h_errnop) *h_errnop = NETDB_INTERNAL;
    return err;
  }
  *result = he;
  return 0;
}

EXPORT int gethostbyname2_r(const char *name, int family, struct hostent *he, char *buf, size_t len, struct hostent **result, int *h_errnop) {
  int handled;
  int rc = family == AF_INET || family == AF_INET6 ? hostent_r(name, family, he, buf, len, result, h_errnop, &handled) : (handled = 0);
  return handled ? rc : REAL(gethostbyname2_r)(name, family, he, buf, len, result, h_errnop);
}

EXPORT int gethostbyname_r(const char *name, struct hostent *he, char *buf, size_t len, struct hostent **result, int *h_errnop) {
  int handled;
  int rc = hostent_r(name, AF_INET, he, buf, len, result, h_errnop, &handled);
  return handled ? rc : REAL(gethostbyname_r)(name, he, buf, len, result, h_errnop);
}

static __thread struct hostent static_he;
static __thread char static_buf[1024];

EXPORT struct hostent *gethostbyname2(const char *name, int family) {
  struct hostent *result = NULL;
  int handled = 0, herr = 0;
  if (family == AF_INET || family == AF_INET6) hostent_r(name, family, &static_he, static_buf, sizeof static_buf, &result, &herr, &handled);
  if (!handled) return REAL(gethostbyname2)(name, family);
  if (!result) h_errno = herr;
  return result;
}

EXPORT struct hostent *gethostbyname(const char *name) {
  struct hostent *result = NULL;
  int handled = 0, herr = 0;
  hostent_r(name, AF_INET, &static_he, static_buf, sizeof static_buf, &result, &herr, &handled);
  if (!handled) return REAL(gethostbyname)(name);
  if (!result) h_errno = herr;
  return result;
}
