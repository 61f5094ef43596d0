/* tp-relay: process 1 of a `tp run --netns` namespace set (see relay.h). Usage:
 *   tp-relay <capture-socket> <tcp-port> <dns-port> <resolver-ip> <lifeline-fd>
 *            [--host-port INSIDE:HOST]... [--publish-socket PATH --publish PORT...] -- <command> [args…]
 * Binds the TCP and UDP ports nftables redirects to (127.0.0.1), then starts the command as its
 * child with no capabilities left (ambient, inheritable and bounding sets cleared: the user's
 * uid inside is their own, not 0, so execve() gives it none), forwards SIGINT/SIGTERM/SIGHUP to
 * it, reaps every orphan (it is init here), and exits with the command's status (128+n for a
 * signal). When tp goes away (even SIGKILL) the lifeline's other end closes: the relay exits, and
 * the kernel ends every process of the PID namespace with it. */
#define _GNU_SOURCE
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct relay_config relay_config;

static int bind_loopback(int type, int port) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0 || (type == SOCK_STREAM && listen(fd, 512) < 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

static void drop_capabilities(void) {
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
  struct __user_cap_data_struct data[2] = {{0}};
  syscall(SYS_capset, &header, data);
}

static void *accept_loop(void *listener) {
  int fd = (int)(intptr_t)listener;
  for (;;) {
    int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (client >= 0) relay_connection(client);
    else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) usleep(100000);
  }
  return NULL;
}

static int start(void *(*run)(void *), int fd) {
  pthread_t thread;
  if (pthread_create(&thread, NULL, run, (void *)(intptr_t)fd) != 0) return -1;
  return pthread_detach(thread);
}

static int parse_port(const char *text) {
  char *end;
  long value = strtol(text, &end, 10);
  return *text && !*end && value >= 1 && value <= 65535 ? (int)value : 0;
}

/* "--host-port IN:HOST", "--publish PORT" and "--publish-socket PATH" before "--"; the index of "--", or -1. */
static int parse_options(int argc, char **argv, int first, const char **publish_socket) {
  for (int i = first; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) return i;
    if (i + 1 >= argc) return -1;
    const char *value = argv[++i];
    if (strcmp(argv[i - 1], "--publish-socket") == 0) {
      *publish_socket = value;
    } else if (strcmp(argv[i - 1], "--host-port") == 0 && relay_config.host_port_count < MAX_MAPPED_PORTS) {
      const char *colon = strchr(value, ':');
      char from[8] = {0};
      if (!colon || colon - value >= (long)sizeof from) return -1;
      memcpy(from, value, (size_t)(colon - value));
      struct port_map map = {parse_port(from), parse_port(colon + 1)};
      if (!map.from || !map.to) return -1;
      relay_config.host_ports[relay_config.host_port_count++] = map;
    } else if (strcmp(argv[i - 1], "--publish") == 0 && relay_config.published_count < MAX_MAPPED_PORTS) {
      int port = parse_port(value);
      if (!port) return -1;
      relay_config.published[relay_config.published_count++] = port;
    } else {
      return -1;
    }
  }
  return -1;
}

static int listen_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (fd < 0 || strlen(path) >= sizeof address.sun_path) return -1;
  strcpy(address.sun_path, path);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0 || listen(fd, 512) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The command has ended; its sockets are closed, but what it wrote last may still sit in the
 * relay's buffers on its way out (a server's last answer before it exits, a client's last
 * request). The relay's exit ends every process and socket of the namespace, so it first lets
 * each connection pass on what its inside end sent, up to the end (or reset) the kernel made
 * when the command closed it, for at most DRAIN_MS: a process the command left behind that
 * keeps a connection open would otherwise hold tp run open forever. */
#define DRAIN_MS 3000
static void drain(int lifeline) {
  struct pollfd gone = {.fd = lifeline, .events = POLLIN};
  for (int waited = 0; relay_sending() > 0 && waited < DRAIN_MS; waited += 10) {
    if (poll(&gone, 1, 10) > 0) return; /* tp is gone: nobody is left to deliver to */
  }
}

int main(int argc, char **argv) {
  const char *publish_socket = NULL;
  int dashes = argc >= 7 ? parse_options(argc, argv, 6, &publish_socket) : -1;
  if (dashes < 0 || dashes + 1 >= argc || (relay_config.published_count > 0 && !publish_socket)) {
    fprintf(stderr,
            "usage: tp-relay <capture-socket> <tcp-port> <dns-port> <resolver-ip> <lifeline-fd>"
            " [--host-port INSIDE:HOST]... [--publish-socket PATH --publish PORT...] -- <command> [args...]\n");
    return 2;
  }
  char **command_argv = argv + dashes + 1;
  relay_config.capture_socket = argv[1];
  relay_config.tcp_port = atoi(argv[2]);
  relay_config.dns_port = atoi(argv[3]);
  if (inet_pton(AF_INET, argv[4], &relay_config.resolver) != 1) {
    fprintf(stderr, "tp-relay: bad resolver address %s\n", argv[4]);
    return 2;
  }
  int lifeline = atoi(argv[5]);
  int tcp = bind_loopback(SOCK_STREAM, relay_config.tcp_port);
  int udp = bind_loopback(SOCK_DGRAM, relay_config.dns_port);
  if (tcp < 0 || udp < 0) {
    perror("tp-relay: cannot bind its ports");
    return 2;
  }
  int published = publish_socket ? listen_unix(publish_socket) : -1;
  if (publish_socket && published < 0) {
    perror("tp-relay: cannot listen on its publish socket");
    return 2;
  }
  static const int HANDLED[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  sigset_t handled, previous;
  sigemptyset(&handled);
  for (size_t i = 0; i < sizeof HANDLED / sizeof HANDLED[0]; i++) sigaddset(&handled, HANDLED[i]);
  pthread_sigmask(SIG_BLOCK, &handled, &previous);
  int signals = signalfd(-1, &handled, SFD_CLOEXEC);
  if (signals < 0 || start(accept_loop, tcp) < 0 || start(serve_dns, udp) < 0 || (published >= 0 && start(serve_published, published) < 0)) {
    perror("tp-relay: cannot start");
    return 2;
  }
  pid_t command = fork();
  if (command < 0) {
    perror("tp-relay: fork");
    return 2;
  }
  if (command == 0) {
    close(lifeline);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    drop_capabilities();
    execvp(command_argv[0], command_argv);
    fprintf(stderr, "tp: cannot run %s: %s\n", command_argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  struct pollfd watched[2] = {{.fd = signals, .events = POLLIN}, {.fd = lifeline, .events = POLLIN}};
  for (;;) {
    if (poll(watched, 2, -1) < 0) continue;
    if (watched[1].revents) {
      char byte;
      if (read(lifeline, &byte, 1) <= 0) return 137; /* tp is gone */
    }
    if (!(watched[0].revents & POLLIN)) continue;
    struct signalfd_siginfo info;
    if (read(signals, &info, sizeof info) != sizeof info) continue;
    if (info.ssi_signo != SIGCHLD) {
      kill(command, (int)info.ssi_signo);
      continue;
    }
    int status;
    pid_t ended;
    while ((ended = waitpid(-1, &status, WNOHANG)) > 0) {
      if (ended != command) continue;
      drain(lifeline);
      return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    }
  }
}
