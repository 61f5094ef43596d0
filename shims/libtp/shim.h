/*
 * tp's LD_PRELOAD library: shared declarations. The library hands connections and name lookups
 * for cluster destinations to the user's tp daemon and leaves everything else to libc. It reads
 * one routes file (path in $TP_ROUTES) that the daemon writes; see routes.c for its format.
 * Each hook either hands the call to the daemon or falls through to libc with a named reason,
 * printed to stderr when TP_SHIM_DEBUG=1.
 */
#ifndef TP_SHIM_H
#define TP_SHIM_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#define TP_MAX_CIDRS 64
#define TP_MAX_NAMESERVERS 8
#define TP_TOKEN_MAX 64
#define TP_PATH_MAX 256

struct tp_cidr {
  int family;           /* AF_INET or AF_INET6 */
  uint8_t addr[16];
  int bits;
};

/* A snapshot of the routes file; copied out under the lock so hooks never see a half reload. */
struct tp_routes {
  int loaded;
  char token[TP_TOKEN_MAX];
  struct sockaddr_in redirect;  /* daemon's redirect listener (TCP, loopback) */
  struct sockaddr_in handover;  /* daemon's hand-over socket (UDP, loopback) */
  struct sockaddr_in dns;       /* daemon's DNS stub (UDP and TCP, loopback) */
  char query_path[TP_PATH_MAX]; /* daemon's name query socket (unix stream) */
  int ncidrs;
  struct tp_cidr cidrs[TP_MAX_CIDRS];
  int nexcludes;
  struct tp_cidr excludes[TP_MAX_CIDRS];
  int nnameservers;
  struct tp_cidr nameservers[TP_MAX_NAMESERVERS]; /* host addresses (bits = 32 or 128) */
};

/* Routing verdict for an address, with the reason a debug log prints. */
enum tp_verdict { TP_DIRECT = 0, TP_CLUSTER = 1, TP_NAMESERVER = 2 };

/* Fills *out with the current routes (re-reading the file when it changed); 0 when there are none. */
int tp_routes_get(struct tp_routes *out);
/* Classifies a v4 or v6 address (16 bytes for v6, 4 for v4). */
enum tp_verdict tp_routes_classify(const struct tp_routes *r, int family, const uint8_t *addr, const char **reason);

/* Debug logging to stderr when TP_SHIM_DEBUG=1. */
extern int tp_debug;
void tp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Extracts family/address bytes/port from a sockaddr, unwrapping v4-mapped v6 addresses. */
int tp_sockaddr_parts(const struct sockaddr *sa, socklen_t len, int *family, uint8_t *addr, uint16_t *port);
/* Formats an address for logs and the hand-over ("198.19.0.5", "fd00::1"). */
void tp_format_addr(int family, const uint8_t *addr, char *buf, size_t size);

/* libc's own functions, found with dlsym(RTLD_NEXT). */
extern int (*tp_real_connect)(int, const struct sockaddr *, socklen_t);
void tp_resolve_real(void);

#endif
