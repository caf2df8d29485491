/*
 * pcap_inject_probe.c — injects test frames on a device through libpcap's
 * pcap_inject(), the way a sending program does: pcap_create, pcap_activate,
 * then one pcap_inject per frame. Built against Debian's <pcap.h>, run
 * through mydev-run so it loads the module-enabled libpcap.
 *
 *   mydev-run pcap_inject_probe mydev1 20 INJCT 02:00:00:00:00:02
 *
 * Sends COUNT IPv4/UDP frames from SRC_MAC to 02:00:5e:10:00:01, each
 * carrying "MYDEVE2E", the 5-byte TAG and a 4-byte big-endian sequence
 * number (the layout e2e.frames.marker_of reads), sizes 60..1514. Prints
 * "injected N" and exits 0 when every pcap_inject returned the frame's
 * length; on the first error prints "pcap_inject: MESSAGE" and exits 1
 * (2 when the device cannot be opened).
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint16_t ip_checksum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static size_t build_frame(uint8_t* f, size_t size, const uint8_t src[6], const char* tag,
                          uint32_t seq) {
  static const uint8_t dst[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
  uint8_t mark[17];
  memcpy(mark, "MYDEVE2E", 8);
  memcpy(mark + 8, tag, 5);
  mark[13] = (uint8_t)(seq >> 24), mark[14] = (uint8_t)(seq >> 16);
  mark[15] = (uint8_t)(seq >> 8), mark[16] = (uint8_t)seq;
  memcpy(f, dst, 6);
  memcpy(f + 6, src, 6);
  f[12] = 0x08, f[13] = 0x00;
  uint8_t* ip = f + 14;
  size_t ip_len = size - 14, udp_len = ip_len - 20;
  memset(ip, 0, 20);
  ip[0] = 0x45, ip[2] = (uint8_t)(ip_len >> 8), ip[3] = (uint8_t)ip_len;
  ip[4] = (uint8_t)(seq >> 8), ip[5] = (uint8_t)seq, ip[8] = 64, ip[9] = 17;
  ip[12] = 192, ip[13] = 0, ip[14] = 2, ip[15] = 1;
  ip[16] = 192, ip[17] = 0, ip[18] = 2, ip[19] = 2;
  uint16_t c = ip_checksum(ip, 20);
  ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
  uint8_t* udp = ip + 20;
  udp[0] = 0x9c, udp[1] = 0x40, udp[2] = 0, udp[3] = 9;
  udp[4] = (uint8_t)(udp_len >> 8), udp[5] = (uint8_t)udp_len, udp[6] = udp[7] = 0;
  for (size_t i = 8; i < udp_len; i++) udp[i] = mark[(i - 8) % sizeof mark];
  return size;
}

int main(int argc, char** argv) {
  unsigned mac[6];
  if (argc != 5 || strlen(argv[3]) != 5 ||
      sscanf(argv[4], "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) !=
          6) {
    fprintf(stderr, "usage: pcap_inject_probe DEVICE COUNT TAG(5 chars) SRC_MAC\n");
    return 2;
  }
  uint8_t src[6];
  for (int i = 0; i < 6; i++) src[i] = (uint8_t)mac[i];
  int count = atoi(argv[2]);
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_create(argv[1], err);
  if (p == NULL) {
    fprintf(stderr, "pcap_create: %s\n", err);
    return 2;
  }
  int rc = pcap_activate(p);
  if (rc < 0) {
    fprintf(stderr, "pcap_activate: %s (%d)\n", pcap_geterr(p), rc);
    return 2;
  }
  uint8_t frame[1514];
  for (int i = 0; i < count; i++) {
    size_t size = 60 + (size_t)(i * 997) % (1514 - 60 + 1);
    build_frame(frame, size, src, argv[3], (uint32_t)i);
    int n = pcap_inject(p, frame, size);
    if (n != (int)size) {
      printf("pcap_inject: %s (rc %d, frame %d of %zu bytes)\n", pcap_geterr(p), n, i, size);
      pcap_close(p);
      return 1;
    }
    if (i % 16 == 15) nanosleep(&(struct timespec){0, 2000000}, NULL);
  }
  printf("injected %d\n", count);
  pcap_close(p);
  return 0;
}
