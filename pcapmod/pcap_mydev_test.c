/*
 * pcap_mydev_test.c — checks pcap-mydev.c through libpcap's public API, run
 * on the module-enabled libpcap (LD_LIBRARY_PATH, see pcap_mydev_test.sh).
 *
 *   pcap_mydev_test down           # MYDEV_SOCKET names no running daemon
 *   pcap_mydev_test live mydev0    # MYDEV_SOCKET names a running mydevd
 *
 * "down": findalldevs is quick, lists no mydev device and loads no gRPC;
 * activate fails naming the socket and mydevd; only mydev<N> is claimed.
 * "live": findalldevs lists the device (not as the default) without loading
 * gRPC, pcap_next_ex data stays valid while the ring moves on, snaplen,
 * nanosecond stamps, non-blocking reads, pcap_breakloop from another thread
 * waking a blocked read, a blocking read returning after its timeout, stats,
 * monitor mode refused, and mydev devices never being the default.
 * Prints "ok NAME" / "FAIL NAME: why" per check; exits 1 if any failed.
 */
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void check(int ok, const char* name, const char* why) {
  if (ok) {
    printf("ok %s\n", name);
  } else {
    printf("FAIL %s: %s\n", name, why);
    failures++;
  }
  fflush(stdout);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int maps_contain(const char* needle) {
  char line[1024];
  int found = 0;
  FILE* f = fopen("/proc/self/maps", "r");
  if (f == NULL) return -1;
  while (!found && fgets(line, sizeof line, f) != NULL) found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

static pcap_t* open_dev(const char* dev, int snaplen, int buffer_size, int nano, int timeout_ms,
                        char* err) {
  pcap_t* p = pcap_create(dev, err);
  if (p == NULL) return NULL;
  pcap_set_snaplen(p, snaplen);
  pcap_set_buffer_size(p, buffer_size);
  pcap_set_timeout(p, timeout_ms);
  if (nano) pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
  if (pcap_activate(p) < 0) {
    snprintf(err, PCAP_ERRBUF_SIZE, "%s", pcap_geterr(p));
    pcap_close(p);
    return NULL;
  }
  return p;
}

/* ------------------------------------------------------------ daemon down */

static void test_down(void) {
  char err[PCAP_ERRBUF_SIZE], why[512];
  const char* sock = getenv("MYDEV_SOCKET");
  pcap_if_t *all = NULL, *d;
  int mydev_listed = 0, n = 0, rc;
  double t0 = now_s();

  rc = pcap_findalldevs(&all, err);
  double took = now_s() - t0;
  for (d = all; d != NULL; d = d->next, n++)
    if (strncmp(d->name, "mydev", 5) == 0) mydev_listed = 1;
  snprintf(why, sizeof why, "rc %d, %d devices, %.3f s, mydev listed %d", rc, n, took,
           mydev_listed);
  check(rc == 0 && n > 0 && took < 0.5 && !mydev_listed, "findalldevs_without_daemon", why);
  if (all) pcap_freealldevs(all);
  check(maps_contain("libgrpc") == 0 && maps_contain("libmydev-client") == 0,
        "no_grpc_loaded_by_findalldevs", "libgrpc or libmydev-client is mapped");

  pcap_t* p = pcap_create("mydev0", err);
  check(p != NULL, "create_claims_mydev0", err);
  if (p != NULL) {
    check(pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == 0,
          "nanosecond_precision_offered", "pcap_set_tstamp_precision(NANO) refused");
    t0 = now_s();
    rc = pcap_activate(p);
    snprintf(why, sizeof why, "rc %d, %.3f s, \"%s\"", rc, now_s() - t0, pcap_geterr(p));
    check(rc == PCAP_ERROR && strstr(pcap_geterr(p), sock) != NULL &&
              strstr(pcap_geterr(p), "mydevd") != NULL && now_s() - t0 < 2.0,
          "activate_without_daemon_names_socket", why);
    pcap_close(p);
  }

  /* Not ours: the names fall through to the Linux module, which has no such device. */
  const char* not_ours[] = {"mydev", "mydevx", "mydev0a", "mydev-1"};
  for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
    p = pcap_create(not_ours[i], err);
    rc = p ? pcap_activate(p) : -99;
    snprintf(why, sizeof why, "%s: rc %d \"%s\"", not_ours[i], rc, p ? pcap_geterr(p) : err);
    check(rc == PCAP_ERROR_NO_SUCH_DEVICE && strstr(why, "mydevd") == NULL, "only_mydevN_claimed",
          why);
    if (p) pcap_close(p);
  }
}

/* ------------------------------------------------------------ daemon up */

struct breaker {
  pcap_t* p;
  int delay_ms;
};

static void* break_later(void* arg) {
  struct breaker* b = arg;
  usleep(b->delay_ms * 1000);
  pcap_breakloop(b->p);
  return NULL;
}

static void count_cb(u_char* user, const struct pcap_pkthdr* h, const u_char* b) {
  (void)h;
  (void)b;
  ++*(int*)user;
}

static void test_live(const char* dev) {
  char err[PCAP_ERRBUF_SIZE], why[512];
  pcap_if_t *all = NULL, *d;
  int listed = 0, rc;

  if (pcap_findalldevs(&all, err) == 0) {
    for (d = all; d != NULL; d = d->next)
      if (strcmp(d->name, dev) == 0) listed = 1;
    snprintf(why, sizeof why, "listed %d, first device %s", listed, all ? all->name : "none");
    check(listed && all != NULL && strcmp(all->name, dev) != 0, "listed_but_not_default", why);
    pcap_freealldevs(all);
  } else {
    check(0, "listed_but_not_default", err);
  }
  /* Listing is one direct call (mydev_list.c): gRPC loads only to open. */
  check(maps_contain("libmydev-client.so") == 0 && maps_contain("libgrpc") == 0,
        "no_grpc_loaded_by_findalldevs_with_daemon", "libgrpc or libmydev-client is mapped");

  /* pcap_next_ex: the returned data stays valid while the daemon keeps
   * writing: at 100000 packets/s the smallest ring (1 MiB of ~136-byte
   * records) wraps during each 150 ms sleep. */
  pcap_t* p = open_dev(dev, 100, 16384, 1, 1000, err);
  check(p != NULL, "activate", err);
  if (p == NULL) return;
  check(maps_contain("libmydev-client.so") == 1, "grpc_client_loaded_to_open",
        "libmydev-client.so is not mapped after pcap_activate");
  struct pcap_pkthdr* h;
  const u_char* data;
  unsigned char copy[100];
  int got = 0, stable = 1, nano_ok = 1, snap_ok = 1;
  for (int i = 0; i < 50; i++) {
    rc = pcap_next_ex(p, &h, &data);
    if (rc != 1) continue;
    got++;
    memcpy(copy, data, h->caplen);
    if (h->caplen > 100 || h->caplen > h->len) snap_ok = 0;
    if (h->ts.tv_usec < 0 || h->ts.tv_usec >= 1000000000) nano_ok = 0;
    if (i % 10 == 0) usleep(150 * 1000); /* let the writer reuse the ring meanwhile */
    if (memcmp(copy, data, h->caplen) != 0) stable = 0;
  }
  snprintf(why, sizeof why, "%d of 50 packets", got);
  check(got >= 45, "next_ex_returns_packets", why);
  check(stable, "next_ex_data_stays_valid", "packet bytes changed after return");
  check(snap_ok, "snaplen_100", "caplen above 100 or above len");
  check(nano_ok, "nanosecond_stamps", "tv_usec out of range for nanoseconds");
  check(pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO, "precision_reported",
        "not nano");

  /* A filter: only matching packets arrive, also those already queued in
   * the ring when it was set. The daemon runs it, or (when it refuses the
   * program, e.g. limits { max_bpf_insns: 4 }) the module does. */
  struct bpf_program udp53;
  int matched = 0, wrong = 0;
  rc = pcap_compile(p, &udp53, "udp and port 53", 1, PCAP_NETMASK_UNKNOWN);
  check(rc == 0 && pcap_setfilter(p, &udp53) == 0, "setfilter_udp53", pcap_geterr(p));
  for (int i = 0; i < 20; i++) {
    if (pcap_next_ex(p, &h, &data) != 1) continue;
    matched++;
    if (!pcap_offline_filter(&udp53, h, data)) wrong++;
  }
  pcap_freecode(&udp53);
  snprintf(why, sizeof why, "%d packets, %d not matching", matched, wrong);
  check(matched >= 10 && wrong == 0, "filter_delivers_only_matches", why);

  /* Nothing matches: non-blocking reads return 0 at once. */
  struct bpf_program prog;
  rc = pcap_compile(p, &prog, "ether proto 0x88b5", 1, PCAP_NETMASK_UNKNOWN);
  check(rc == 0 && pcap_setfilter(p, &prog) == 0, "setfilter", pcap_geterr(p));
  pcap_freecode(&prog);
  check(pcap_setnonblock(p, 1, err) == 0 && pcap_getnonblock(p, err) == 1, "setnonblock", err);
  int count = 0;
  double t0 = now_s();
  for (int i = 0; i < 100; i++) {
    rc = pcap_dispatch(p, -1, count_cb, (u_char*)&count);
    if (rc != 0) break;
  }
  snprintf(why, sizeof why, "rc %d, count %d, %.3f s", rc, count, now_s() - t0);
  check(rc == 0 && count == 0 && now_s() - t0 < 0.5, "nonblocking_empty_returns_0", why);

  /* Blocking with no timeout: pcap_breakloop from another thread wakes the read. */
  pcap_setnonblock(p, 0, err);
  struct breaker b = {p, 300};
  pthread_t th;
  pthread_create(&th, NULL, break_later, &b);
  t0 = now_s();
  rc = pcap_loop(p, -1, count_cb, (u_char*)&count);
  double took = now_s() - t0;
  pthread_join(th, NULL);
  snprintf(why, sizeof why, "rc %d after %.3f s", rc, took);
  check(rc == PCAP_ERROR_BREAK && took >= 0.25 && took < 0.6, "breakloop_wakes_blocked_read", why);

  /* Blocking, 1 s timeout, nothing matches: pcap_dispatch returns 0 once the
   * timeout has passed, also while non-matching packets keep waking the
   * reader (5 instructions: the module filters when the daemon refuses it). */
  rc = pcap_compile(p, &prog, "ether proto 0x88b5 or ether proto 0x88b6", 1, PCAP_NETMASK_UNKNOWN);
  check(rc == 0 && pcap_setfilter(p, &prog) == 0, "setfilter_nothing", pcap_geterr(p));
  pcap_freecode(&prog);
  t0 = now_s();
  rc = pcap_dispatch(p, -1, count_cb, (u_char*)&count);
  took = now_s() - t0;
  snprintf(why, sizeof why, "rc %d, count %d, after %.3f s", rc, count, took);
  check(rc == 0 && count == 0 && took >= 0.9 && took < 1.8, "blocking_read_returns_after_timeout",
        why);

  /* A filter after one the daemon refused (or ran): the daemon's earlier
   * program must not linger under the new one. */
  rc = pcap_compile(p, &prog, "udp or tcp", 1, PCAP_NETMASK_UNKNOWN);
  check(rc == 0 && pcap_setfilter(p, &prog) == 0, "setfilter_udp_or_tcp", pcap_geterr(p));
  matched = wrong = 0;
  for (int i = 0; i < 20; i++) {
    if (pcap_next_ex(p, &h, &data) != 1) continue;
    matched++;
    if (!pcap_offline_filter(&prog, h, data)) wrong++;
  }
  pcap_freecode(&prog);
  snprintf(why, sizeof why, "%d packets, %d not matching", matched, wrong);
  check(matched >= 10 && wrong == 0, "filter_replaces_earlier_filter", why);

  struct pcap_stat st;
  rc = pcap_stats(p, &st);
  snprintf(why, sizeof why, "rc %d recv %u drop %u", rc, st.ps_recv, st.ps_drop);
  check(rc == 0 && st.ps_recv >= (u_int)got, "stats", why);
  pcap_close(p);
  check(maps_contain("libmydev-client") == 1, "client_loaded_on_open", "not mapped");

  /* Monitor mode does not apply to mydev devices. */
  p = pcap_create(dev, err);
  if (p != NULL) {
    pcap_set_rfmon(p, 1);
    rc = pcap_activate(p);
    snprintf(why, sizeof why, "rc %d \"%s\"", rc, pcap_geterr(p));
    check(rc == PCAP_ERROR_RFMON_NOTSUP, "rfmon_not_supported", why);
    pcap_close(p);
  } else {
    check(0, "rfmon_not_supported", err);
  }
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "down") == 0) {
    test_down();
  } else if (argc >= 3 && strcmp(argv[1], "live") == 0) {
    test_live(argv[2]);
  } else {
    fprintf(stderr, "usage: %s down | live DEVICE\n", argv[0]);
    return 2;
  }
  printf("%d failed\n", failures);
  return failures ? 1 : 0;
}
