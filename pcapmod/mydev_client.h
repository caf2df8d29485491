/*
 * mydev_client.h — the small C API that pcap-mydev.c (inside libpcap) uses to
 * talk to mydevd. All gRPC and C++ live behind it, in libmydev-client.so,
 * which pcap-mydev.c loads with dlopen() only when a mydev device is listed or
 * opened — programs that never touch mydev load no gRPC at all.
 *
 * pcap-mydev.c resolves one symbol, mydev_client_api_v1(), and calls through
 * the returned table:
 *
 *   const struct mydev_client_api *api = mydev_client_api_v1();
 *   struct mydev_open_params p = {.device = "mydev0", .snaplen = 262144, ...};
 *   struct mydev_session_info info;
 *   char err[MYDEV_ERRBUF_SIZE];
 *   struct mydev_session *s = api->open(&p, &info, err, &pcap_status);
 *   ... mydev_ring_next(&info.view) ...     // packets: shm/ring_abi.h
 *   api->close(s);
 *
 * Every call returns 0 on success. On failure it returns one of libpcap's
 * PCAP_ERROR* values (numerically; this header does not include pcap.h) and
 * writes a message saying what to do into errbuf (MYDEV_ERRBUF_SIZE bytes,
 * the same as PCAP_ERRBUF_SIZE).
 *
 * The daemon socket is $MYDEV_SOCKET, else MYDEV_DEFAULT_SOCKET.
 */
#ifndef MYDEV_PCAPMOD_MYDEV_CLIENT_H_
#define MYDEV_PCAPMOD_MYDEV_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#include "ring_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MYDEV_ERRBUF_SIZE 256
#define MYDEV_DEFAULT_SOCKET "/run/mydevd/mydevd.sock"
#define MYDEV_SOCKET_ENV "MYDEV_SOCKET"
#define MYDEV_CLIENT_SONAME "libmydev-client.so"
#define MYDEV_CLIENT_API_SYMBOL "mydev_client_api_v1"
#define MYDEV_CLIENT_API_VERSION 1
#define MYDEV_MAX_DLTS 16

/* libpcap's codes, repeated so this header stands alone. */
#define MYDEV_PCAP_ERROR (-1)
#define MYDEV_PCAP_ERROR_NO_SUCH_DEVICE (-5)
#define MYDEV_PCAP_ERROR_PERM_DENIED (-8)

struct mydev_device_desc {
  char name[64];
  char description[192];
  uint32_t pcap_flags; /* PCAP_IF_* */
};

struct mydev_open_params {
  const char* device;
  uint32_t snaplen;     /* 0 = maximum */
  uint64_t buffer_size; /* 0 = daemon default */
  int promisc;
  int immediate;
  uint32_t timeout_ms;
  int nanosecond;
  int direction; /* pcap_direction_t value */
};

struct mydev_session_info {
  struct mydev_ring_view view; /* ready for mydev_ring_next() */
  int event_fd;                /* readable when the reader is woken: selectable_fd */
  int liveness_fd;             /* the fd socket: POLLHUP/POLLIN = daemon gone or ended us */
  int dlt;
  int dlts[MYDEV_MAX_DLTS];
  int n_dlts;
  uint32_t snaplen; /* effective */
  uint64_t ring_bytes;
};

struct mydev_stats {
  uint64_t packets_received;
  uint64_t packets_dropped;   /* this session's ring was full */
  uint64_t packets_ifdropped; /* the device dropped */
};

struct bpf_insn;
struct mydev_session;

struct mydev_client_api {
  int version; /* MYDEV_CLIENT_API_VERSION */

  /* Lists the daemon's devices into out[0..max). *n = number written.
   * If the daemon is not running, returns 0 with *n = 0 at once. */
  int (*list_devices)(struct mydev_device_desc* out, size_t max, size_t* n, char* errbuf);

  /* Opens a session and maps its ring. NULL on failure with *status set. */
  struct mydev_session* (*open)(const struct mydev_open_params* p, struct mydev_session_info* info,
                                char* errbuf, int* status);

  /* 0 = the daemon filters; 1 = the daemon refused this program as
   * unsupported (caller filters in userland); <0 = error. n == 0 clears. */
  int (*set_filter)(struct mydev_session* s, const struct bpf_insn* insns, unsigned n,
                    char* errbuf);
  int (*set_direction)(struct mydev_session* s, int direction, char* errbuf);
  int (*set_datalink)(struct mydev_session* s, int dlt, char* errbuf);
  /* Returns bytes sent (>=0) or PCAP_ERROR. */
  int (*inject)(struct mydev_session* s, const void* buf, size_t len, char* errbuf);
  int (*stats)(struct mydev_session* s, struct mydev_stats* out, char* errbuf);
  /* Ends the session, unmaps the ring, closes its fds. Never fails. */
  void (*close)(struct mydev_session* s);
};

const struct mydev_client_api* mydev_client_api_v1(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MYDEV_PCAPMOD_MYDEV_CLIENT_H_ */
