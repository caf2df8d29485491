/* latency_probe.c — how late a libpcap program sees a packet: opens an
 * interface in immediate mode (pcap_set_immediate_mode(1), nanosecond
 * timestamps) and, for each packet, takes the callback time (CLOCK_REALTIME)
 * minus the packet's timestamp; prints the percentiles over the packets seen.
 * Linked against the system's libpcap: run it as is for a direct capture, or
 * through mydev-run (the module-enabled libpcap) on a mydev device.
 *
 *   latency_probe --interface veth0 --count 3000 --seconds 10 [--filter 'udp port 9']
 *   mydev-run latency_probe --interface mydev1 --count 3000 --seconds 10
 *   n=3000 p50_us=17.2 p99_us=117.0 max_us=301.5 mean_us=21.0
 *
 * It stops after --count packets or --seconds, whichever comes first, and
 * fails (exit 1) when it saw no packet. --skip N leaves out the first N
 * packets (the first ones pay for page faults and cold caches).
 */
#include <pcap/pcap.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct probe {
  pcap_t* p;
  long skip;  /* packets still to leave out */
  long count; /* packets wanted */
  long n;     /* latencies recorded */
  int64_t* lat_ns;
};

static pcap_t* probe_pcap; /* for the alarm handler */

static void on_alarm(int sig) {
  (void)sig;
  if (probe_pcap != NULL) pcap_breakloop(probe_pcap);
}

static int64_t realtime_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_packet(u_char* user, const struct pcap_pkthdr* h, const u_char* bytes) {
  struct probe* pr = (struct probe*)user;
  int64_t now = realtime_ns();
  /* With PCAP_TSTAMP_PRECISION_NANO, tv_usec holds nanoseconds. */
  int64_t ts = (int64_t)h->ts.tv_sec * 1000000000 + h->ts.tv_usec;

  (void)bytes;
  if (pr->skip > 0) {
    pr->skip--;
    return;
  }
  if (pr->n < pr->count) pr->lat_ns[pr->n++] = now - ts;
  if (pr->n >= pr->count) pcap_breakloop(pr->p);
}

static int cmp_i64(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;

  return x < y ? -1 : x > y;
}

static double pct_us(const int64_t* sorted, long n, double q) {
  long i = (long)(q * (double)(n - 1) + 0.5);

  return (double)sorted[i] / 1000.0;
}

static void usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s --interface IF [--count N] [--seconds S] [--skip N] "
          "[--filter EXPR]\n",
          argv0);
  exit(2);
}

int main(int argc, char** argv) {
  const char *ifname = NULL, *filter = NULL;
  long count = 1000, skip = 10;
  int seconds = 10, i, rc;
  char errbuf[PCAP_ERRBUF_SIZE];
  struct probe pr;
  struct bpf_program prog;
  double sum = 0;

  for (i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage(argv[0]);
    if (strcmp(argv[i], "--interface") == 0)
      ifname = argv[++i];
    else if (strcmp(argv[i], "--count") == 0)
      count = atol(argv[++i]);
    else if (strcmp(argv[i], "--seconds") == 0)
      seconds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--skip") == 0)
      skip = atol(argv[++i]);
    else if (strcmp(argv[i], "--filter") == 0)
      filter = argv[++i];
    else
      usage(argv[0]);
  }
  if (ifname == NULL || count <= 0 || seconds <= 0 || skip < 0) usage(argv[0]);

  memset(&pr, 0, sizeof(pr));
  pr.count = count;
  pr.skip = skip;
  pr.lat_ns = calloc((size_t)count, sizeof(*pr.lat_ns));
  if (pr.lat_ns == NULL) {
    perror("calloc");
    return 1;
  }
  pr.p = pcap_create(ifname, errbuf);
  if (pr.p == NULL) {
    fprintf(stderr, "latency_probe: %s\n", errbuf);
    return 1;
  }
  pcap_set_snaplen(pr.p, 262144);
  pcap_set_immediate_mode(pr.p, 1);
  pcap_set_timeout(pr.p, 1000);
  pcap_set_tstamp_precision(pr.p, PCAP_TSTAMP_PRECISION_NANO);
  rc = pcap_activate(pr.p);
  if (rc < 0) {
    fprintf(stderr, "latency_probe: %s: %s\n", ifname, pcap_geterr(pr.p));
    return 1;
  }
  if (pcap_get_tstamp_precision(pr.p) != PCAP_TSTAMP_PRECISION_NANO) {
    fprintf(stderr, "latency_probe: %s gives no nanosecond timestamps\n", ifname);
    return 1;
  }
  if (filter != NULL) {
    if (pcap_compile(pr.p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
        pcap_setfilter(pr.p, &prog) != 0) {
      fprintf(stderr, "latency_probe: filter '%s': %s\n", filter, pcap_geterr(pr.p));
      return 1;
    }
    pcap_freecode(&prog);
  }
  fprintf(stderr, "latency_probe: listening on %s\n", ifname);
  probe_pcap = pr.p;
  signal(SIGALRM, on_alarm);
  alarm((unsigned)seconds);
  rc = pcap_loop(pr.p, -1, on_packet, (u_char*)&pr);
  alarm(0);
  if (rc == PCAP_ERROR) {
    fprintf(stderr, "latency_probe: %s: %s\n", ifname, pcap_geterr(pr.p));
    return 1;
  }
  pcap_close(pr.p);
  if (pr.n == 0) {
    fprintf(stderr, "latency_probe: no packet on %s in %d s\n", ifname, seconds);
    return 1;
  }
  qsort(pr.lat_ns, (size_t)pr.n, sizeof(*pr.lat_ns), cmp_i64);
  for (i = 0; i < pr.n; i++) sum += (double)pr.lat_ns[i];
  printf("n=%ld p50_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f\n", pr.n,
         pct_us(pr.lat_ns, pr.n, 0.50), pct_us(pr.lat_ns, pr.n, 0.99),
         (double)pr.lat_ns[pr.n - 1] / 1000.0, sum / (double)pr.n / 1000.0);
  free(pr.lat_ns);
  return 0;
}
