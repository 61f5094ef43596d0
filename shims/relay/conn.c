/* One redirected TCP connection: its original destination from SO_ORIGINAL_DST, a hand-over to
 * the daemon, then two threads, one per direction, with blocking I/O: a slow reader on one side
 * never stalls the other direction, and the code stays straight-line. A FIN is passed on as an
 * 'E' frame (and an 'E' frame becomes shutdown(SHUT_WR)); a reset as an 'X' frame (and an 'X'
 * frame, or a daemon that goes away mid-stream, becomes an RST: SO_LINGER 0 and close). */
#define _GNU_SOURCE
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DIAL_TIMEOUT_S 60
#define CHUNK 16384

static atomic_int open_connections;
/* Connections whose inside end still has bytes to pass on (their upstream is running). */
static atomic_int sending;

int relay_sending(void) { return atomic_load(&sending); }

struct conn {
  int client;
  int daemon;
  atomic_int refs;
  atomic_int reset; /* set when the client is to get an RST */
};

int write_all(int fd, const void *data, size_t length) {
  const char *at = data;
  while (length > 0) {
    ssize_t n = send(fd, at, length, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    at += n;
    length -= (size_t)n;
  }
  return 0;
}

int read_exact(int fd, void *data, size_t length) {
  char *at = data;
  while (length > 0) {
    ssize_t n = read(fd, at, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    at += n;
    length -= (size_t)n;
  }
  return 0;
}

int send_frame(int fd, char kind, const void *data, size_t length) {
  unsigned char header[3] = {(unsigned char)kind, (unsigned char)(length >> 8), (unsigned char)(length & 0xff)};
  if (write_all(fd, header, sizeof header) < 0) return -1;
  return length > 0 ? write_all(fd, data, length) : 0;
}

int open_handover(const char *host, int port) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(relay_config.capture_socket) >= sizeof address.sun_path) goto fail;
  strcpy(address.sun_path, relay_config.capture_socket);
  if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) goto fail;
  char header[96];
  int length = snprintf(header, sizeof header, "tp-capture 1 %s %d\n", host, port);
  if (write_all(fd, header, (size_t)length) < 0) goto fail;
  struct timeval deadline = {.tv_sec = DIAL_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof deadline);
  char answer;
  if (read_exact(fd, &answer, 1) < 0 || answer != 'O') goto fail;
  struct timeval none = {0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  return fd;
fail:
  close(fd);
  return -1;
}

static void reset_now(int fd) {
  struct linger linger = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
}

static void release(struct conn *conn) {
  if (atomic_fetch_sub(&conn->refs, 1) != 1) return;
  if (atomic_load(&conn->reset)) reset_now(conn->client);
  close(conn->client);
  if (conn->daemon >= 0) close(conn->daemon);
  free(conn);
  atomic_fetch_sub(&open_connections, 1);
}

/* Client -> daemon. Each read is sent as one frame in one write: the header goes in front of the data. */
static void *upstream(void *arg) {
  struct conn *conn = arg;
  unsigned char buffer[3 + CHUNK];
  for (;;) {
    ssize_t n = read(conn->client, buffer + 3, CHUNK);
    if (n < 0 && errno == EINTR) continue;
    if (atomic_load(&conn->reset)) break; /* woken by the other direction's reset */
    if (n > 0) {
      buffer[0] = FRAME_DATA;
      buffer[1] = (unsigned char)(n >> 8);
      buffer[2] = (unsigned char)(n & 0xff);
      if (write_all(conn->daemon, buffer, 3 + (size_t)n) == 0) continue;
      atomic_store(&conn->reset, 1); /* the daemon is gone: the client gets an RST */
      break;
    }
    if (n == 0) send_frame(conn->daemon, FRAME_END, NULL, 0);
    else send_frame(conn->daemon, FRAME_RESET, NULL, 0);
    break;
  }
  atomic_fetch_sub(&sending, 1);
  release(conn);
  return NULL;
}

/* Daemon -> client. */
static void *downstream(void *arg) {
  struct conn *conn = arg;
  char buffer[FRAME_MAX]; /* on the thread's 256 KiB stack */
  int clean = 0;
  for (;;) {
    unsigned char header[3];
    if (read_exact(conn->daemon, header, sizeof header) < 0) break;
    size_t length = ((size_t)header[1] << 8) | header[2];
    if (header[0] == FRAME_DATA) {
      if (read_exact(conn->daemon, buffer, length) < 0) break;
      if (write_all(conn->client, buffer, length) < 0) break;
      continue;
    }
    if (header[0] == FRAME_END) {
      shutdown(conn->client, SHUT_WR);
      clean = 1;
    }
    break;
  }
  if (!clean) {
    atomic_store(&conn->reset, 1);
    shutdown(conn->client, SHUT_RD); /* wakes the other direction's read */
  }
  release(conn);
  return NULL;
}

static int start_thread(void *(*run)(void *), void *arg) {
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attributes, 256 * 1024);
  pthread_t thread;
  int result = pthread_create(&thread, &attributes, run, arg);
  pthread_attr_destroy(&attributes);
  return result;
}

/* Both directions of a connection whose two ends are open: the other direction on a thread of its
 * own, this one on the calling thread. */
static void *run_pair(struct conn *conn) {
  atomic_fetch_add(&sending, 1);
  atomic_store(&conn->refs, 2);
  if (start_thread(downstream, conn) != 0) {
    atomic_fetch_sub(&sending, 1);
    atomic_store(&conn->reset, 1);
    atomic_store(&conn->refs, 1);
    release(conn);
    return NULL;
  }
  return upstream(conn);
}

/* The host's loopback port a --host-port maps this namespace loopback port to; 0 when none. */
static int host_port_of(int port) {
  for (int i = 0; i < relay_config.host_port_count; i++)
    if (relay_config.host_ports[i].from == port) return relay_config.host_ports[i].to;
  return 0;
}

static void *hand_over(void *arg) {
  struct conn *conn = arg;
  struct sockaddr_in original;
  socklen_t length = sizeof original;
  if (getsockopt(conn->client, SOL_IP, SO_ORIGINAL_DST, &original, &length) < 0) goto refuse;
  char host[INET_ADDRSTRLEN];
  int port = ntohs(original.sin_port);
  int host_port = original.sin_addr.s_addr == htonl(INADDR_LOOPBACK) ? host_port_of(port) : 0;
  if (host_port > 0) {
    /* a --host-port: the host's own loopback, which the daemon dials directly */
    strcpy(host, "127.0.0.1");
    port = host_port;
  } else {
    inet_ntop(AF_INET, &original.sin_addr, host, sizeof host);
  }
  int is_dns = original.sin_addr.s_addr == relay_config.resolver && port == 53;
  conn->daemon = open_handover(is_dns ? "dns" : host, port);
  if (conn->daemon < 0) goto refuse;
  return run_pair(conn);
refuse:
  atomic_store(&conn->reset, 1);
  atomic_store(&conn->refs, 1);
  release(conn);
  return NULL;
}

/* A connection slot and its record, or NULL (the client reset and closed) when none is free. */
static struct conn *admit(int client, int daemon) {
  if (atomic_fetch_add(&open_connections, 1) >= MAX_CONNECTIONS) {
    atomic_fetch_sub(&open_connections, 1);
    reset_now(client);
    close(client);
    if (daemon >= 0) close(daemon);
    return NULL;
  }
  struct conn *conn = calloc(1, sizeof *conn);
  if (!conn) {
    atomic_fetch_sub(&open_connections, 1);
    close(client);
    if (daemon >= 0) close(daemon);
    return NULL;
  }
  int one = 1; /* what the relay writes is what the other side already sent: no waiting to batch it */
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  conn->client = client;
  conn->daemon = daemon;
  atomic_store(&conn->refs, 1);
  return conn;
}

void relay_connection(int client) {
  struct conn *conn = admit(client, -1);
  if (conn && start_thread(hand_over, conn) != 0) {
    atomic_store(&conn->reset, 1);
    release(conn);
  }
}

void relay_pair(int client, int framed) {
  struct conn *conn = admit(client, framed);
  if (conn) run_pair(conn);
}
