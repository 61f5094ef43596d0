/* DNS over UDP inside the namespace: each question (redirected from the namespace's resolver on
 * port 53) is asked of the daemon's DNS stub over the capture socket as DNS over TCP (a 2-byte
 * length, then the message), one hand-over per question, in its own thread; the answer goes back
 * from the same socket, so the client sees it come from the resolver it asked. */
#define _GNU_SOURCE
#include "relay.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_QUESTIONS 256
#define ANSWER_TIMEOUT_S 10

static atomic_int open_questions;

struct question {
  int socket;
  struct sockaddr_in from;
  size_t length;
  unsigned char message[2 + FRAME_MAX];
};

static void ask(struct question *question) {
  int daemon = open_handover("dns", 53);
  if (daemon < 0) return;
  struct timeval deadline = {.tv_sec = ANSWER_TIMEOUT_S};
  setsockopt(daemon, SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof deadline);
  question->message[0] = (unsigned char)(question->length >> 8);
  question->message[1] = (unsigned char)(question->length & 0xff);
  if (send_frame(daemon, FRAME_DATA, question->message, question->length + 2) < 0) goto done;
  /* The answer reuses the question's buffer: 2 + 65535 bytes hold any DNS-over-TCP message. */
  size_t have = 0;
  for (;;) {
    unsigned char header[3];
    if (read_exact(daemon, header, sizeof header) < 0 || header[0] != FRAME_DATA) goto done;
    size_t length = ((size_t)header[1] << 8) | header[2];
    if (have + length > sizeof question->message) goto done;
    if (read_exact(daemon, question->message + have, length) < 0) goto done;
    have += length;
    if (have >= 2) {
      size_t want = ((size_t)question->message[0] << 8) | question->message[1];
      if (have >= want + 2) {
        sendto(question->socket, question->message + 2, want, 0, (struct sockaddr *)&question->from, sizeof question->from);
        break;
      }
    }
  }
  send_frame(daemon, FRAME_END, NULL, 0);
done:
  close(daemon);
}

static void *answer(void *arg) {
  struct question *question = arg;
  ask(question);
  free(question);
  atomic_fetch_sub(&open_questions, 1);
  return NULL;
}

void *serve_dns(void *socket_fd) {
  int fd = (int)(intptr_t)socket_fd;
  for (;;) {
    struct question *question = malloc(sizeof *question);
    if (!question) {
      sleep(1);
      continue;
    }
    socklen_t from_length = sizeof question->from;
    ssize_t n = recvfrom(fd, question->message + 2, FRAME_MAX - 2, 0, (struct sockaddr *)&question->from, &from_length);
    if (n <= 0 || atomic_fetch_add(&open_questions, 1) >= MAX_QUESTIONS) {
      if (n > 0) atomic_fetch_sub(&open_questions, 1);
      free(question);
      continue;
    }
    question->socket = fd;
    question->length = (size_t)n;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 128 * 1024);
    pthread_t thread;
    if (pthread_create(&thread, &attributes, answer, question) != 0) {
      free(question);
      atomic_fetch_sub(&open_questions, 1);
    }
    pthread_attr_destroy(&attributes);
  }
  return NULL;
}
