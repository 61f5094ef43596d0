/*
 * Socket hooks: connect() to a cluster address becomes a connection to the daemon's redirect
 * listener on loopback, after a fire-and-forget UDP datagram "<token> <laptopPort> <ip> <port>"
 * tells the daemon where the connection was meant to go (the socket is bound to 127.0.0.1:0 first
 * so its port is known before connect). Non-blocking sockets keep their EINPROGRESS semantics;
 * nothing here waits on the daemon. getpeername() reports the original destination.
 * UDP (and TCP) to port 53 of the system resolver or of a cluster address goes to the daemon's
 * DNS stub instead, with recvfrom()/recvmsg() reporting the address the program asked.
 * Leaves out: UDP other than DNS, sockets already bound to a non-loopback address, fds above
 * TP_MAX_FDS (handed over, but getpeername shows the redirect listener), and dup2() copies.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TP_MAX_FDS 65536
#define DNS_PORT 53

#define EXPORT __attribute__((visibility("default")))

enum fd_kind { FD_NONE = 0, FD_REDIRECTED = 1, FD_DNS = 2 };

struct fd_slot {
  uint8_t kind;
  socklen_t len;
  struct sockaddr_in6 orig; /* large enough for sockaddr_in too */
};

static struct fd_slot slots[TP_MAX_FDS];

static int (*real_close)(int);
static int (*real_getpeername)(int, struct sockaddr *, socklen_t *);
static int (*real_socket)(int, int, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);

#define REAL(name) (__extension__({ if (!real_##name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name); real_##name; }))

static void slot_clear(int fd) {
  if (fd >= 0 && fd < TP_MAX_FDS) slots[fd].kind = FD_NONE;
}

static void slot_set(int fd, enum fd_kind kind, const struct sockaddr *sa, socklen_t len) {
  if (fd < 0 || fd >= TP_MAX_FDS) return;
  if (len > (socklen_t)sizeof slots[fd].orig) len = sizeof slots[fd].orig;
  memcpy(&slots[fd].orig, sa, len);
  slots[fd].len = len;
  slots[fd].kind = (uint8_t)kind;
}

static int is_loopback(int family, const uint8_t *addr) {
  if (family == AF_INET) return addr[0] == 127;
  static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return memcmp(addr, v6_loopback, 16) == 0;
}

/* 127.0.0.1:port in the socket's own family (v4-mapped for AF_INET6 sockets). */
static socklen_t loopback_addr(sa_family_t family, const struct sockaddr_in *port_of, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = port_of ? port_of->sin_port : 0;
    in6->sin6_addr.s6_addr[10] = 0xff;
    in6->sin6_addr.s6_addr[11] = 0xff;
    in6->sin6_addr.s6_addr[12] = 127;
    in6->sin6_addr.s6_addr[15] = 1;
    return sizeof *in6;
  }
  struct sockaddr_in *in = (struct sockaddr_in *)out;
  in->sin_family = AF_INET;
  in->sin_port = port_of ? port_of->sin_port : 0;
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sizeof *in;
}

static int socket_type(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 ? type : -1;
}

/* The socket's local port, binding it to loopback port 0 first when it is unbound; 0 on failure. */
static uint16_t loopback_local_port(int fd, sa_family_t family, const char **why) {
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  int lf;
  uint8_t la[16];
  uint16_t lport;
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0 || tp_sockaddr_parts((struct sockaddr *)&local, len, &lf, la, &lport) != 0) {
    *why = "getsockname failed";
    return 0;
  }
  if (lport != 0) {
    if (is_loopback(lf, la)) return lport;
    *why = "socket already bound to a non-loopback address";
    return 0;
  }
  len = loopback_addr(family, NULL, &local);
  if (bind(fd, (struct sockaddr *)&local, len) != 0) {
    *why = "could not bind to loopback (IPV6_V6ONLY socket?)";
    return 0;
  }
  len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0 || tp_sockaddr_parts((struct sockaddr *)&local, len, &lf, la, &lport) != 0 || lport == 0) {
    *why = "getsockname after bind failed";
    return 0;
  }
  return lport;
}

static void send_handover(const struct tp_routes *r, uint16_t laptop_port, const char *ip, uint16_t port) {
  char msg[TP_TOKEN_MAX + 80];
  int n = snprintf(msg, sizeof msg, "%s %u %s %u", r->token, laptop_port, ip, port);
  int s = REAL(socket)(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return;
  REAL(sendto)(s, msg, (size_t)n, 0, (const struct sockaddr *)&r->handover, sizeof r->handover);
  REAL(close)(s);
}

static int redirect_stream(int fd, const struct sockaddr *sa, socklen_t len, int family, const uint8_t *addr, uint16_t port, const struct tp_routes *r) {
  char ip[64];
  tp_format_addr(family, addr, ip, sizeof ip);
  const char *why = NULL;
  uint16_t laptop_port = loopback_local_port(fd, sa->sa_family, &why);
  if (laptop_port == 0) {
    tp_log("connect %s:%u: direct (%s)", ip, port, why);
    slot_clear(fd);
    return tp_real_connect(fd, sa, len);
  }
  send_handover(r, laptop_port, ip, port);
  slot_set(fd, FD_REDIRECTED, sa, len);
  struct sockaddr_storage to;
  socklen_t to_len = loopback_addr(sa->sa_family, &r->redirect, &to);
  tp_log("connect %s:%u: to the daemon (cluster range) from 127.0.0.1:%u", ip, port, laptop_port);
  int rc = tp_real_connect(fd, (struct sockaddr *)&to, to_len);
  if (rc != 0 && errno != EINPROGRESS && errno != EINTR) {
    int saved = errno;
    slot_clear(fd);
    errno = saved;
  }
  return rc;
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len) {
  tp_resolve_real();
  int family;
  uint8_t addr[16];
  uint16_t port;
  if (tp_sockaddr_parts(sa, len, &family, addr, &port) != 0 || is_loopback(family, addr)) {
    slot_clear(fd);
    return tp_real_connect(fd, sa, len);
  }
  struct tp_routes r;
  const char *reason = "no routes file";
  enum tp_verdict verdict = tp_routes_get(&r) ? tp_routes_classify(&r, family, addr, &reason) : TP_DIRECT;
  int type = verdict == TP_DIRECT ? -1 : socket_type(fd);
  if (verdict != TP_DIRECT && port == DNS_PORT && (type == SOCK_DGRAM || verdict == TP_NAMESERVER) && r.dns.sin_port != 0) {
    struct sockaddr_storage stub;
    socklen_t stub_len = loopback_addr(sa->sa_family, &r.dns, &stub);
    slot_set(fd, FD_DNS, sa, len);
    tp_log("connect %s/53: to the DNS stub (%s)", type == SOCK_DGRAM ? "udp" : "tcp", reason);
    return tp_real_connect(fd, (struct sockaddr *)&stub, stub_len);
  }
  if (verdict == TP_CLUSTER && type == SOCK_STREAM) return redirect_stream(fd, sa, len, family, addr, port, &r);
  slot_clear(fd);
  if (tp_debug) {
    char ip[64];
    tp_format_addr(family, addr, ip, sizeof ip);
    tp_log("connect %s:%u: direct (%s)", ip, port, verdict == TP_DIRECT ? reason : "not a TCP socket");
  }
  return tp_real_connect(fd, sa, len);
}

EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len) {
  if (fd >= 0 && fd < TP_MAX_FDS && slots[fd].kind != FD_NONE && sa && len) {
    int rc = REAL(getpeername)(fd, sa, len);
    if (rc != 0) return rc; /* not connected (yet): the caller sees libc's answer */
    socklen_t n = *len < slots[fd].len ? *len : slots[fd].len;
    memcpy(sa, &slots[fd].orig, n);
    *len = slots[fd].len;
    return 0;
  }
  return REAL(getpeername)(fd, sa, len);
}

EXPORT int close(int fd) {
  slot_clear(fd);
  return REAL(close)(fd);
}

EXPORT int socket(int domain, int type, int protocol) {
  int fd = REAL(socket)(domain, type, protocol);
  slot_clear(fd);
  return fd;
}

/* The DNS stub's address for a datagram to port 53 that should go there, or 0. */
static socklen_t dns_redirect(int fd, const struct sockaddr *to, socklen_t tolen, struct sockaddr_storage *stub) {
  int family;
  uint8_t addr[16];
  uint16_t port;
  if (!to || tp_sockaddr_parts(to, tolen, &family, addr, &port) != 0 || port != DNS_PORT || is_loopback(family, addr)) return 0;
  struct tp_routes r;
  const char *reason;
  if (!tp_routes_get(&r) || r.dns.sin_port == 0 || tp_routes_classify(&r, family, addr, &reason) == TP_DIRECT) return 0;
  if (socket_type(fd) != SOCK_DGRAM) return 0;
  slot_set(fd, FD_DNS, to, tolen);
  tp_log("sendto udp/53: to the DNS stub (%s)", reason);
  return loopback_addr(to->sa_family, &r.dns, stub);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to, socklen_t tolen) {
  struct sockaddr_storage stub;
  socklen_t stub_len = dns_redirect(fd, to, tolen, &stub);
  if (stub_len) return REAL(sendto)(fd, buf, n, flags, (struct sockaddr *)&stub, stub_len);
  return REAL(sendto)(fd, buf, n, flags, to, tolen);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  struct sockaddr_storage stub;
  socklen_t stub_len = msg ? dns_redirect(fd, (const struct sockaddr *)msg->msg_name, msg->msg_namelen, &stub) : 0;
  if (stub_len) {
    struct msghdr copy = *msg;
    copy.msg_name = &stub;
    copy.msg_namelen = stub_len;
    return REAL(sendmsg)(fd, &copy, flags);
  }
  return REAL(sendmsg)(fd, msg, flags);
}

/* Answers from the stub appear to come from the address the program sent its question to. */
static void restore_source(int fd, struct sockaddr *from, socklen_t *fromlen) {
  if (fd < 0 || fd >= TP_MAX_FDS || slots[fd].kind != FD_DNS || !from || !fromlen) return;
  int family;
  uint8_t addr[16];
  uint16_t port;
  if (tp_sockaddr_parts(from, *fromlen, &family, addr, &port) != 0 || !is_loopback(family, addr)) return;
  socklen_t n = *fromlen < slots[fd].len ? *fromlen : slots[fd].len;
  memcpy(from, &slots[fd].orig, n);
  *fromlen = slots[fd].len;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *fromlen) {
  ssize_t got = REAL(recvfrom)(fd, buf, n, flags, from, fromlen);
  if (got >= 0) restore_source(fd, from, fromlen);
  return got;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
  ssize_t got = REAL(recvmsg)(fd, msg, flags);
  if (got >= 0 && msg) restore_source(fd, (struct sockaddr *)msg->msg_name, &msg->msg_namelen);
  return got;
}
