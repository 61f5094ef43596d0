// tp-peer-uid: answers "which uid owns the socket at this address?" for the daemon's front doors
// with one exact NETLINK_SOCK_DIAG query per question (microseconds), instead of reading all of
// /proc/net/tcp (whose printing walks the kernel's whole socket hash). Runs as the user, needs
// no privilege, and lives as long as its stdin.
//
// Protocol, one line each way:
//   in:  <id> tcp <peer-ip> <peer-port> <our-ip> <our-port>
//        <id> udp <peer-ip> <peer-port> <our-ip> <our-port>
//   out: <id> <uid>        the socket's owner
//        <id> -            no such socket, or one without an owner (TIME_WAIT)
//        <id> ?            the question could not be asked (bad line, no sock_diag): fall back
// TCP finds the connected socket whose local end is the peer's and remote end ours; UDP finds the
// socket that would receive a datagram sent from our end to the peer's (bound, wildcard or
// connected), i.e. the sender of a datagram we got from peer-ip:peer-port. IPv4-mapped IPv6
// addresses are asked as IPv4.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct address {
  int family;
  unsigned char bytes[16];
};

static int parse_address(const char *text, struct address *out) {
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, text, out->bytes) == 1) {
    out->family = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, text, out->bytes) != 1) return -1;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(out->bytes, mapped, 12) == 0) {
    memmove(out->bytes, out->bytes + 12, 4);
    memset(out->bytes + 4, 0, 12);
    out->family = AF_INET;
  } else {
    out->family = AF_INET6;
  }
  return 0;
}

/* Returns the uid (>= 0), -1 for no such socket, -2 when the question cannot be asked. */
static long ask(int fd, int protocol, const struct address *src, int sport, const struct address *dst, int dport) {
  struct {
    struct nlmsghdr header;
    struct inet_diag_req_v2 request;
  } message;
  memset(&message, 0, sizeof message);
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST;
  message.request.sdiag_family = (unsigned char)src->family;
  message.request.sdiag_protocol = (unsigned char)protocol;
  message.request.idiag_states = ~0U;
  message.request.id.idiag_sport = htons((unsigned short)sport);
  message.request.id.idiag_dport = htons((unsigned short)dport);
  memcpy(message.request.id.idiag_src, src->bytes, 16);
  memcpy(message.request.id.idiag_dst, dst->bytes, 16);
  message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -2;
  long answer = -2;
  char buffer[8192];
  for (;;) {
    ssize_t got = recv(fd, buffer, sizeof buffer, 0);
    if (got < 0) return errno == EINTR ? answer : -2;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (unsigned)got); h = NLMSG_NEXT(h, got)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *error = NLMSG_DATA(h);
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof *error)) return -2;
        // ENOENT: no such socket. Anything else (no tcp_diag/udp_diag, EINVAL): cannot ask.
        return error->error == -ENOENT ? -1 : -2;
      }
      if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
        const struct inet_diag_msg *diag = NLMSG_DATA(h);
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof *diag)) return -2;
        // A socket with no inode (TIME_WAIT, being torn down) has no owner any more.
        answer = diag->idiag_inode == 0 ? -1 : (long)diag->idiag_uid;
        if (!(h->nlmsg_flags & NLM_F_MULTI)) return answer;
      }
      if (h->nlmsg_type == NLMSG_DONE) return answer;
    }
  }
}

/* Answers one question line (no newline) into `out`; returns the bytes written. fd -1: "?" (no question can be asked). */
static int answer_line(int fd, const char *line, char *out, size_t room) {
  char id[32], proto[8], peer_ip[64], our_ip[64];
  int peer_port, our_port;
  if (sscanf(line, "%31s %7s %63s %d %63s %d", id, proto, peer_ip, &peer_port, our_ip, &our_port) != 6) {
    return snprintf(out, room, "%s ?\n", sscanf(line, "%31s", id) == 1 ? id : "0");
  }
  struct address peer, us;
  long uid = -2;
  int tcp = strcmp(proto, "tcp") == 0, udp = strcmp(proto, "udp") == 0;
  if (fd >= 0 && (tcp || udp) && parse_address(peer_ip, &peer) == 0 && parse_address(our_ip, &us) == 0 && peer.family == us.family &&
      peer_port > 0 && peer_port < 65536 && our_port > 0 && our_port < 65536) {
    uid = tcp ? ask(fd, IPPROTO_TCP, &peer, peer_port, &us, our_port) : ask(fd, IPPROTO_UDP, &us, our_port, &peer, peer_port);
  }
  int length = uid >= 0 ? snprintf(out, room, "%s %ld\n", id, uid) : snprintf(out, room, "%s %s\n", id, uid == -1 ? "-" : "?");
  return length < 0 ? 0 : length >= (int)room ? (int)room - 1 : length;
}

static int write_all(const char *bytes, size_t length) {
  while (length > 0) {
    ssize_t wrote = write(STDOUT_FILENO, bytes, length);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return -1;
    bytes += wrote;
    length -= (size_t)wrote;
  }
  return 0;
}

/* Each read takes all the questions that arrived (the daemon may have several in flight), and
 * their answers go back in one write. A line of LINE_MAX_BYTES or more is no question: it is
 * answered "?" once (under the id it starts with), whether it arrived in one read or in many. */
#define LINE_MAX_BYTES 512
#define ANSWER_MAX_BYTES 48

int main(void) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  static char input[16384], output[65536];
  size_t held = 0;
  int skipping = 0;
  for (;;) {
    ssize_t got = read(STDIN_FILENO, input + held, sizeof input - 1 - held);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return 0;
    held += (size_t)got;
    size_t start = 0, written = 0;
    for (;;) {
      char *newline = memchr(input + start, '\n', held - start);
      if (newline == NULL) break;
      *newline = '\0';
      if (written + ANSWER_MAX_BYTES > sizeof output) {
        if (write_all(output, written) < 0) return 0;
        written = 0;
      }
      if (skipping) skipping = 0;
      else written += (size_t)answer_line((size_t)(newline - input) - start >= LINE_MAX_BYTES ? -1 : fd, input + start, output + written, ANSWER_MAX_BYTES);
      start = (size_t)(newline - input) + 1;
    }
    memmove(input, input + start, held - start);
    held -= start;
    if (held >= LINE_MAX_BYTES && !skipping) {
      if (written + ANSWER_MAX_BYTES > sizeof output) {
        if (write_all(output, written) < 0) return 0;
        written = 0;
      }
      input[held] = '\0';
      written += (size_t)answer_line(-1, input, output + written, ANSWER_MAX_BYTES);
      skipping = 1;
    }
    if (skipping) held = 0;
    if (written > 0 && write_all(output, written) < 0) return 0;
  }
}
