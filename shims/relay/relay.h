/* tp's capture relay (tp run --netns): runs as process 1 of the command's user, network, mount
 * and PID namespaces. Connections and DNS questions that nftables redirected to it are handed to
 * the daemon over its capture socket (a Unix socket, reachable by path from any network
 * namespace). The wire between relay and daemon, per connection:
 *   relay  -> daemon  "tp-capture 1 <ip> <port>\n"   (or "tp-capture 1 dns 53\n": the DNS stub)
 *   daemon -> relay   one byte: 'O' dialled, 'R' refused (the relay resets the client)
 *   then frames both ways: kind (1 byte) + length (2 bytes, big endian) + data:
 *   'D' data, 'E' end (the sender's FIN), 'X' reset (length 0 for E and X).
 * Parsed by src/capture/frames.ts. Published ports (--publish) use the same wire the other way
 * round, over the relay's publish socket: tp -> relay "tp-publish 1 <port>\n", relay -> tp 'O'
 * (connected to 127.0.0.1:<port> inside) or 'R', then frames. */
#ifndef TP_RELAY_H
#define TP_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRAME_DATA 'D'
#define FRAME_END 'E'
#define FRAME_RESET 'X'
#define FRAME_MAX 65535
#define MAX_CONNECTIONS 1024

#define MAX_MAPPED_PORTS 64

struct port_map {
  int from; /* the port a connection is made to */
  int to;   /* the port it reaches on the other side */
};

struct relay_config {
  const char *capture_socket;
  /* --host-port INSIDE:HOST: loopback ports inside that reach the host's loopback */
  struct port_map host_ports[MAX_MAPPED_PORTS];
  int host_port_count;
  /* --publish: ports inside that the host may connect to through the publish socket */
  int published[MAX_MAPPED_PORTS];
  int published_count;
  int tcp_port;
  int dns_port;
  uint32_t resolver; /* the namespace's resolver address (network order): TCP to it on 53 is DNS */
};

extern struct relay_config relay_config;

int write_all(int fd, const void *data, size_t length);
int read_exact(int fd, void *data, size_t length);
int send_frame(int fd, char kind, const void *data, size_t length);
/* Connects to the daemon, sends the header for host ("dns" or an IP) and port, waits for 'O'. -1 when refused or gone. */
int open_handover(const char *host, int port);
/* Takes an accepted, redirected TCP connection; returns at once (the work happens in threads). */
void relay_connection(int client);
/* Relays between a connected TCP socket and a framed Unix socket, on the calling thread (and one
 * more) until both directions are done; takes both descriptors. */
void relay_pair(int client, int framed);
/* How many connections are still passing on what their inside end sent (see drain in relay.c). */
int relay_sending(void);
/* Serves the publish socket (tp run --netns --publish) forever (run in its own thread). */
void *serve_published(void *unix_listener);
/* Answers UDP DNS questions on the socket forever (run in its own thread). */
void *serve_dns(void *socket_fd);

#endif
