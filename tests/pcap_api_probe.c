/*
 * pcap_api_probe.c — exercises the libpcap API on a mydev device the way
 * capture programs use it (pcap_next_ex, non-blocking dispatch, breakloop
 * from a callback and from another thread, counts, filters, stats, data
 * links, selectable fd, injection). Built against Debian's <pcap.h>, run
 * through mydev-run so it loads the module-enabled libpcap.
 *
 *   mydev-run pcap_api_probe mydev0
 *
 * Prints one line per check, "check NAME ok DETAIL" or "check NAME FAIL DETAIL",
 * and exits 1 if any check failed. Expects a synthetic device (sequence
 * numbers in the payload) at >= 1000 packets per second.
 */
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void report(const char* name, int ok, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void report(const char* name, int ok, const char* fmt, ...) {
  va_list ap;
  printf("check %s %s ", name, ok ? "ok" : "FAIL");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  if (!ok) failures++;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t seq_of(const u_char* data, uint32_t caplen) {
  static const char magic[] = "MYDEVSEQ";
  for (uint32_t i = 0; i + 16 <= caplen; i++) {
    if (memcmp(data + i, magic, 8) == 0) {
      uint64_t v = 0;
      for (int j = 0; j < 8; j++) v = (v << 8) | data[i + 8 + j];
      return (int64_t)v;
    }
  }
  return -1;
}

static pcap_t* open_dev(const char* dev, int timeout_ms, int snaplen) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_create(dev, err);
  if (!p) {
    fprintf(stderr, "pcap_create: %s\n", err);
    exit(2);
  }
  pcap_set_snaplen(p, snaplen);
  pcap_set_timeout(p, timeout_ms);
  int rc = pcap_activate(p);
  if (rc < 0) {
    fprintf(stderr, "pcap_activate: %s (%d)\n", pcap_geterr(p), rc);
    exit(2);
  }
  return p;
}

struct counter {
  int n;
  int break_at;
  pcap_t* p;
  int all_udp;
};

static void count_cb(u_char* user, const struct pcap_pkthdr* h, const u_char* data) {
  struct counter* c = (struct counter*)user;
  c->n++;
  /* Ethernet + IPv4 proto 17, or IPv6 next header 17 */
  if (h->caplen >= 24) {
    uint16_t et = (uint16_t)(data[12] << 8 | data[13]);
    int udp =
        (et == 0x0800 && data[23] == 17) || (et == 0x86dd && h->caplen >= 21 && data[20] == 17);
    if (!udp) c->all_udp = 0;
  }
  if (c->break_at && c->n == c->break_at) pcap_breakloop(c->p);
}

static void* break_later(void* arg) {
  usleep(300 * 1000);
  pcap_breakloop((pcap_t*)arg);
  return NULL;
}

int main(int argc, char** argv) {
  const char* dev = argc > 1 ? argv[1] : "mydev0";
  char err[PCAP_ERRBUF_SIZE];

  /* pcap_next_ex: packets arrive in order, data valid, caplen <= len. */
  {
    pcap_t* p = open_dev(dev, 100, 0);
    struct pcap_pkthdr* h;
    const u_char* data;
    int64_t last = -1;
    int got = 0, ordered = 1, sane = 1;
    while (got < 50) {
      int rc = pcap_next_ex(p, &h, &data);
      if (rc < 0) break;
      if (rc == 0) continue;
      int64_t s = seq_of(data, h->caplen);
      if (s < 0 || s <= last) ordered = 0;
      if (h->caplen > h->len || h->caplen == 0) sane = 0;
      last = s;
      got++;
    }
    report("next_ex", got == 50 && ordered && sane, "got=%d ordered=%d sane=%d", got, ordered,
           sane);

    int snap = pcap_snapshot(p);
    report("snaplen_zero_is_max", snap == 262144, "snapshot=%d", snap);

    report("datalink", pcap_datalink(p) == DLT_EN10MB, "dlt=%d", pcap_datalink(p));
    int* dlts = NULL;
    int n = pcap_list_datalinks(p, &dlts);
    int has_en10mb = 0;
    for (int i = 0; i < n; i++) has_en10mb |= dlts[i] == DLT_EN10MB;
    report("list_datalinks", n >= 1 && has_en10mb, "n=%d", n);
    pcap_free_datalinks(dlts);
    report("set_datalink_same", pcap_set_datalink(p, DLT_EN10MB) == 0, "%s", pcap_geterr(p));
    int bad = pcap_set_datalink(p, 9999);
    report("set_datalink_unknown_refused", bad < 0, "rc=%d msg=%s", bad, pcap_geterr(p));

    int fd = pcap_get_selectable_fd(p);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    report("selectable_fd", fd >= 0 && poll(&pfd, 1, 0) >= 0, "fd=%d", fd);

    struct pcap_stat st;
    int rc = pcap_stats(p, &st);
    report("stats", rc == 0 && st.ps_recv >= (u_int)got, "rc=%d recv=%u drop=%u ifdrop=%u", rc,
           st.ps_recv, st.ps_drop, st.ps_ifdrop);

    report("setdirection_in", pcap_setdirection(p, PCAP_D_IN) == 0, "%s", pcap_geterr(p));
    report("setdirection_inout", pcap_setdirection(p, PCAP_D_INOUT) == 0, "%s", pcap_geterr(p));

    u_char frame[60] = {0};
    int inj = pcap_inject(p, frame, sizeof frame);
    report("inject_synthetic_refused_cleanly", inj < 0 && strlen(pcap_geterr(p)) > 0,
           "rc=%d msg=%s", inj, pcap_geterr(p));
    pcap_close(p);
  }

  /* Filter: only UDP comes back. */
  {
    pcap_t* p = open_dev(dev, 100, 0);
    struct bpf_program prog;
    int ok = pcap_compile(p, &prog, "udp", 1, PCAP_NETMASK_UNKNOWN) == 0 &&
             pcap_setfilter(p, &prog) == 0;
    struct counter c = {.p = p, .all_udp = 1};
    double end = now_s() + 1.0;
    while (now_s() < end && c.n < 100) pcap_dispatch(p, -1, count_cb, (u_char*)&c);
    report("filter_udp", ok && c.n > 0 && c.all_udp, "n=%d all_udp=%d", c.n, c.all_udp);
    pcap_freecode(&prog);
    pcap_close(p);
  }

  /* cnt: pcap_dispatch never delivers more than asked. */
  {
    pcap_t* p = open_dev(dev, 100, 0);
    struct counter c = {.p = p};
    int worst = 0;
    for (int i = 0; i < 20; i++) {
      int rc = pcap_dispatch(p, 3, count_cb, (u_char*)&c);
      if (rc > worst) worst = rc;
    }
    report("dispatch_cnt", worst <= 3 && c.n > 0, "max_per_call=%d total=%d", worst, c.n);
    pcap_close(p);
  }

  /* Non-blocking: calls return at once with 0 when nothing matches, and
   * packets still come when they do. */
  {
    pcap_t* p = open_dev(dev, 1000, 0);
    int set = pcap_setnonblock(p, 1, err);
    int get = pcap_getnonblock(p, err);
    struct counter c = {.p = p};
    double slowest = 0, end = now_s() + 0.5;
    while (now_s() < end) {
      double t0 = now_s();
      pcap_dispatch(p, -1, count_cb, (u_char*)&c);
      double dt = now_s() - t0;
      if (dt > slowest) slowest = dt;
      usleep(1000);
    }
    struct bpf_program none;
    int compiled =
        pcap_compile(p, &none, "ether host 11:22:33:44:55:66", 1, PCAP_NETMASK_UNKNOWN) == 0 &&
        pcap_setfilter(p, &none) == 0; /* no synthetic frame has this MAC */
    pcap_freecode(&none);
    int nonzero = 0, calls = 0;
    double slowest_empty = 0;
    end = now_s() + 0.3;
    while (now_s() < end) {
      double t0 = now_s();
      int rc = pcap_dispatch(p, -1, count_cb, (u_char*)&c);
      double dt = now_s() - t0;
      if (dt > slowest_empty) slowest_empty = dt;
      if (rc != 0 && calls > 2) nonzero++; /* the first calls may drain packets queued earlier */
      calls++;
      usleep(1000);
    }
    report("nonblock",
           compiled && set == 0 && get == 1 && c.n > 0 && slowest < 0.05 && slowest_empty < 0.05 &&
               nonzero == 0,
           "set=%d get=%d n=%d slowest=%.3fs slowest_empty=%.3fs nonzero_when_empty=%d", set, get,
           c.n, slowest, slowest_empty, nonzero);
    pcap_close(p);
  }

  /* breakloop from the callback: pcap_loop returns PCAP_ERROR_BREAK at once. */
  {
    pcap_t* p = open_dev(dev, 1000, 0);
    struct counter c = {.p = p, .break_at = 10};
    int rc = pcap_loop(p, -1, count_cb, (u_char*)&c);
    report("breakloop_in_callback", rc == PCAP_ERROR_BREAK && c.n == 10, "rc=%d n=%d", rc, c.n);
    pcap_close(p);
  }

  /* breakloop from another thread while pcap_loop waits. */
  {
    pcap_t* p = open_dev(dev, 200, 0);
    struct counter c = {.p = p};
    pthread_t t;
    pthread_create(&t, NULL, break_later, p);
    double t0 = now_s();
    int rc = pcap_loop(p, -1, count_cb, (u_char*)&c);
    double dt = now_s() - t0;
    pthread_join(t, NULL);
    report("breakloop_other_thread", rc == PCAP_ERROR_BREAK && dt < 2.0, "rc=%d after=%.2fs", rc,
           dt);
    pcap_close(p);
  }

  /* pcap_loop with a count returns 0 after exactly that many. */
  {
    pcap_t* p = open_dev(dev, 100, 0);
    struct counter c = {.p = p};
    int rc = pcap_loop(p, 25, count_cb, (u_char*)&c);
    report("loop_count", rc == 0 && c.n == 25, "rc=%d n=%d", rc, c.n);
    pcap_close(p);
  }

  /* An unknown mydev device is refused with NO_SUCH_DEVICE. */
  {
    pcap_t* p = pcap_create("mydev97", err);
    int rc = p ? pcap_activate(p) : -100;
    report("unknown_device", rc == PCAP_ERROR_NO_SUCH_DEVICE, "rc=%d msg=%s", rc,
           p ? pcap_geterr(p) : err);
    if (p) pcap_close(p);
  }

  printf("probe done: %d failed\n", failures);
  return failures ? 1 : 0;
}
