/* rpcap_count.c — an rpcapd client that counts packets: opens a remote
 * capture source with pcap_open (e.g. rpcap://127.0.0.1:2002/veth0), sets a
 * filter before the first read, and reads until SIGINT/SIGTERM or --seconds;
 * then prints tcpdump's closing lines on stderr so the benchmarks parse both
 * alike. Built by tools/bench/build_rpcapd.sh against a libpcap.a configured
 * with --enable-remote (Debian's libpcap.so hides pcap_open).
 *
 *   rpcap_count --source rpcap://127.0.0.1:2002/veth0 [--filter 'udp'] [--seconds 10]
 *   listening on rpcap://127.0.0.1:2002/veth0            (stderr, once open)
 *   1234 packets captured                                (stderr, at exit)
 *   1240 packets received by filter
 *   6 packets dropped by kernel
 *   0 packets dropped by interface
 *
 * The filter is set even when none is asked for (an empty expression accepts
 * everything): rpcapd 1.10.3 answers the first read with "Message payload is
 * too short" otherwise — pcap-rpcap.c starts the capture with a filter whose
 * header says 0 instructions but whose body carries one (accept all).
 */
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static pcap_t* cap; /* for the signal handler */

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
  if (cap != NULL) pcap_breakloop(cap);
}

static void on_packet(u_char* user, const struct pcap_pkthdr* h, const u_char* bytes) {
  (void)h;
  (void)bytes;
  ++*(unsigned long long*)user;
}

static void usage(const char* argv0) {
  fprintf(stderr, "usage: %s --source rpcap://HOST[:PORT]/IF [--filter EXPR] [--seconds S]\n",
          argv0);
  exit(2);
}

int main(int argc, char** argv) {
  const char* source = NULL;
  const char* filter = "";
  int seconds = 0;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 >= argc) usage(argv[0]);
    if (!strcmp(argv[i], "--source"))
      source = argv[++i];
    else if (!strcmp(argv[i], "--filter"))
      filter = argv[++i];
    else if (!strcmp(argv[i], "--seconds"))
      seconds = atoi(argv[++i]);
    else
      usage(argv[0]);
  }
  if (source == NULL) usage(argv[0]);

  char errbuf[PCAP_ERRBUF_SIZE] = "";
  /* 100 ms read timeout: a signal's breakloop is seen within it. */
  pcap_t* p = pcap_open(source, 65535, 0, 100, NULL, errbuf);
  if (p == NULL) {
    fprintf(stderr, "rpcap_count: pcap_open(%s): %s\n", source, errbuf);
    return 1;
  }
  struct bpf_program prog;
  if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
      pcap_setfilter(p, &prog) != 0) {
    fprintf(stderr, "rpcap_count: filter '%s': %s\n", filter, pcap_geterr(p));
    return 1;
  }
  pcap_freecode(&prog);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocked read returns */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  cap = p;
  if (seconds > 0) alarm((unsigned)seconds);
  fprintf(stderr, "listening on %s\n", source);

  unsigned long long captured = 0;
  while (!stop) {
    int r = pcap_dispatch(p, -1, on_packet, (u_char*)&captured);
    if (r == PCAP_ERROR) {
      fprintf(stderr, "rpcap_count: %s\n", pcap_geterr(p));
      return 1;
    }
  }
  struct pcap_stat st;
  memset(&st, 0, sizeof st);
  if (pcap_stats(p, &st) != 0) fprintf(stderr, "rpcap_count: stats: %s\n", pcap_geterr(p));
  fprintf(stderr, "%llu packets captured\n%u packets received by filter\n", captured, st.ps_recv);
  fprintf(stderr, "%u packets dropped by kernel\n%u packets dropped by interface\n", st.ps_drop,
          st.ps_ifdrop);
  pcap_close(p);
  return 0;
}
