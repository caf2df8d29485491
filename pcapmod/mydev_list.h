/*
 * mydev_list.h — mydevd's device list for pcap_findalldevs() without loading
 * gRPC: one unary gRPC call, mydev.v1.Capture/ListDevices, spoken directly
 * (HTTP/2 on the daemon's Unix socket, the request and the answer as gRPC
 * messages in protobuf encoding; proto/mydev.proto). Plain C on two small
 * Debian libraries, libnghttp2 (HTTP/2) and libprotobuf-c (the messages,
 * from protoc-c's mydev.pb-c.c), compiled into libpcap beside pcap-mydev.c.
 *
 *   struct mydev_device_desc devs[64];
 *   size_t n;
 *   char err[MYDEV_ERRBUF_SIZE];
 *   switch (mydev_list_devices_lite("/run/mydevd/mydevd.sock", 5000, devs, 64, &n, err)) {
 *   case 0: ...devs[0..n)...; break;
 *   case MYDEV_LIST_NO_DAEMON: ...nothing accepts on the socket...; break;
 *   case MYDEV_LIST_NOT_UNDERSTOOD: ...libmydev-client.so's list_devices...; break;
 *   default: ...err says why (timeout, error status, connection closed)...
 *   }
 *
 * Why: `tcpdump -D` with mydevd up spent ~30 ms loading libmydev-client.so
 * (gRPC, protobuf, ~60 Abseil/OpenSSL/... libraries: relocation and
 * mapping) and starting a gRPC channel, against ~5 ms for the whole of
 * `tcpdump -D` on Debian's libpcap (docs/BENCHMARKS.md §9). Opening a
 * device still goes through libmydev-client.so and gRPC.
 */
#ifndef MYDEV_PCAPMOD_MYDEV_LIST_H_
#define MYDEV_PCAPMOD_MYDEV_LIST_H_

#include <stddef.h>

#include "mydev_client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Nothing accepts connections on the socket (mydevd is not running). */
#define MYDEV_LIST_NO_DAEMON 1

/* mydevd answered in a way this client does not understand (a frame or
 * encoding it does not handle): ask again through libmydev-client.so. */
#define MYDEV_LIST_NOT_UNDERSTOOD 2

/* The largest answer read (the full gRPC message), far above 64 devices. */
#define MYDEV_LIST_MAX_RESPONSE (1u << 20)

/*
 * Calls ListDevices on the daemon at socket_path, within timeout_ms, and
 * writes the first max devices into out (name and description NUL-terminated,
 * truncated to fit; pcap_flags as sent). *n = number written.
 * Returns 0 on an OK answer; MYDEV_LIST_NO_DAEMON (with *n = 0) when the
 * socket does not exist or refuses the connection; with errbuf
 * (MYDEV_ERRBUF_SIZE bytes) set, MYDEV_LIST_NOT_UNDERSTOOD when the answer is
 * not a well-formed gRPC answer as this client reads it (an HTTP/2 error
 * nghttp2 finds, :status other than 200, no application/grpc content-type,
 * no grpc-status, a compressed or over-1-MiB message, one protobuf-c does
 * not unpack as a ListDevicesResponse), else -1: timeout, the connection
 * closed or reset, an error grpc-status (errbuf has its grpc-message).
 * Never raises SIGPIPE; leaves no fd open.
 */
int mydev_list_devices_lite(const char* socket_path, int timeout_ms, struct mydev_device_desc* out,
                            size_t max, size_t* n, char* errbuf);

/* The same call on a connected stream socket fd, which stays open (the
 * tests feed it arbitrary answers through a socketpair). Returns 0, -1 or
 * MYDEV_LIST_NOT_UNDERSTOOD as above. */
int mydev_list_devices_on(int fd, int timeout_ms, struct mydev_device_desc* out, size_t max,
                          size_t* n, char* errbuf);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MYDEV_PCAPMOD_MYDEV_LIST_H_ */
