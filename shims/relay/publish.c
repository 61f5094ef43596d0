/* Ports published to the host (tp run --netns --publish): tp listens on the host's loopback and,
 * for each connection there, connects to this relay's publish socket (a Unix socket in the user's
 * 0700 runtime directory, reachable by path from outside the namespace) and names the port inside;
 * the relay connects to 127.0.0.1:<port> in the namespace, where the command listens, answers 'O'
 * or 'R' (nothing listens: tp resets its client, as a closed port would), and relays with the
 * capture socket's frames (relay.h), the roles turned round. Only ports given with --publish. */
#define _GNU_SOURCE
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HEADER_TIMEOUT_S 10
#define MAX_HEADER 32 /* "tp-publish 1 65535\n" and room to spare */

static int is_published(int port) {
  for (int i = 0; i < relay_config.published_count; i++)
    if (relay_config.published[i] == port) return 1;
  return 0;
}

/* The port named by "tp-publish 1 <port>\n", read a byte at a time so nothing after it is taken; 0 for anything else. */
static int read_header(int fd) {
  char line[MAX_HEADER + 1];
  size_t length = 0;
  while (length < MAX_HEADER) {
    if (read_exact(fd, line + length, 1) < 0) return 0;
    if (line[length] == '\n') break;
    length++;
  }
  if (length == MAX_HEADER) return 0;
  line[length] = '\0';
  int port = 0, consumed = 0;
  if (sscanf(line, "tp-publish 1 %5d%n", &port, &consumed) != 1 || (size_t)consumed != length) return 0;
  return port >= 1 && port <= 65535 ? port : 0;
}

static int connect_inside(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int result;
  do result = connect(fd, (struct sockaddr *)&address, sizeof address);
  while (result < 0 && errno == EINTR);
  if (result < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void *hand_in(void *arg) {
  int framed = (int)(intptr_t)arg;
  struct timeval deadline = {.tv_sec = HEADER_TIMEOUT_S};
  setsockopt(framed, SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof deadline);
  int port = read_header(framed);
  int inside = port > 0 && is_published(port) ? connect_inside(port) : -1;
  if (inside < 0) {
    write_all(framed, "R", 1);
    close(framed);
    return NULL;
  }
  struct timeval none = {0};
  setsockopt(framed, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  if (write_all(framed, "O", 1) < 0) {
    close(inside);
    close(framed);
    return NULL;
  }
  relay_pair(inside, framed);
  return NULL;
}

void *serve_published(void *unix_listener) {
  int listener = (int)(intptr_t)unix_listener;
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attributes, 256 * 1024);
  for (;;) {
    int framed = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (framed < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) usleep(100000);
      continue;
    }
    pthread_t thread;
    if (pthread_create(&thread, &attributes, hand_in, (void *)(intptr_t)framed) != 0) close(framed);
  }
  return NULL;
}
