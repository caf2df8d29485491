/* packet_sender.c — sends UDP-in-Ethernet frames out of one interface through
 * an AF_PACKET socket (sendmmsg, 64 frames a call), at a fixed rate or as fast
 * as the machine goes, for a fixed time; prints how many it sent. The traffic
 * source of the benchmarks and of the tests that need a device at its highest
 * rate (run it inside a test namespace, on the far end of a veth pair).
 *
 *   ip netns exec NS packet_sender --ifname veth1 --seconds 5 --size 64 --pps 0
 *   sent=1234567 seconds=5.000 pps=246913
 *
 * Each frame carries a 64-bit sequence number right after the UDP header.
 */
#define _GNU_SOURCE /* sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_FRAME 1514

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(const char* argv0) {
  fprintf(stderr, "usage: %s --ifname IF [--seconds S] [--size BYTES] [--pps N (0 = max)]\n",
          argv0);
  exit(2);
}

static void build_frame(uint8_t* f, size_t size, int ifindex) {
  struct ether_header eth;
  memset(&eth, 0, sizeof eth);
  memset(eth.ether_dhost, 0xff, ETH_ALEN);
  eth.ether_shost[0] = 0x02;
  eth.ether_shost[5] = (uint8_t)ifindex;
  eth.ether_type = htons(ETHERTYPE_IP);
  struct ip iph;
  memset(&iph, 0, sizeof iph);
  iph.ip_v = 4;
  iph.ip_hl = sizeof iph / 4;
  iph.ip_ttl = 64;
  iph.ip_p = IPPROTO_UDP;
  iph.ip_len = htons((uint16_t)(size - sizeof eth));
  iph.ip_src.s_addr = htonl(0xc6120001); /* 198.18.0.1 (RFC 2544 benchmarking) */
  iph.ip_dst.s_addr = htonl(0xc6120002);
  struct udphdr udp;
  memset(&udp, 0, sizeof udp);
  udp.uh_sport = htons(9);
  udp.uh_dport = htons(9);
  udp.uh_ulen = htons((uint16_t)(size - sizeof eth - sizeof iph));
  memset(f, 0, size);
  memcpy(f, &eth, sizeof eth);
  memcpy(f + sizeof eth, &iph, sizeof iph);
  memcpy(f + sizeof eth + sizeof iph, &udp, sizeof udp);
}

int main(int argc, char** argv) {
  const char* ifname = NULL;
  double seconds = 5, pps = 0;
  size_t size = 64;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 >= argc) usage(argv[0]);
    if (!strcmp(argv[i], "--ifname"))
      ifname = argv[++i];
    else if (!strcmp(argv[i], "--seconds"))
      seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--size"))
      size = (size_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--pps"))
      pps = atof(argv[++i]);
    else
      usage(argv[0]);
  }
  const size_t min_size =
      sizeof(struct ether_header) + sizeof(struct ip) + sizeof(struct udphdr) + sizeof(uint64_t);
  if (ifname == NULL || seconds <= 0 || size < min_size || size > MAX_FRAME) usage(argv[0]);
  int ifindex = (int)if_nametoindex(ifname);
  if (ifindex == 0) {
    fprintf(stderr, "packet_sender: %s: %s\n", ifname, strerror(errno));
    return 1;
  }
  int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only, receive nothing */
  if (fd < 0) {
    fprintf(stderr, "packet_sender: socket(AF_PACKET): %s\n", strerror(errno));
    return 1;
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) != 0) {
    fprintf(stderr, "packet_sender: bind(%s): %s\n", ifname, strerror(errno));
    return 1;
  }
  static uint8_t frames[BATCH][MAX_FRAME];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  const size_t seq_off = sizeof(struct ether_header) + sizeof(struct ip) + sizeof(struct udphdr);
  for (int i = 0; i < BATCH; ++i) {
    build_frame(frames[i], size, ifindex);
    iov[i].iov_base = frames[i];
    iov[i].iov_len = size;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0;
  const double start = now_s(), end = start + seconds;
  double t = start;
  while (t < end) {
    int n = BATCH;
    if (pps > 0) { /* paced: never ahead of the schedule */
      double due = (double)sent / pps;
      if (t - start < due) {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
        t = now_s();
        continue;
      }
      double allowed = (t - start) * pps - (double)sent + 1;
      if (allowed < n) n = allowed < 1 ? 1 : (int)allowed;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t seq = sent + (uint64_t)i;
      memcpy(frames[i] + seq_off, &seq, sizeof seq);
    }
    int r = sendmmsg(fd, msgs, (unsigned)n, 0);
    if (r < 0) {
      if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
        t = now_s();
        continue;
      }
      fprintf(stderr, "packet_sender: sendmmsg: %s\n", strerror(errno));
      return 1;
    }
    sent += (uint64_t)r;
    t = now_s();
  }
  double took = now_s() - start;
  printf("sent=%llu seconds=%.3f pps=%.0f\n", (unsigned long long)sent, took, (double)sent / took);
  return 0;
}
