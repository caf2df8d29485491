/*
 * mydev_list.c — see mydev_list.h. A client of exactly one gRPC call on a
 * fresh connection (RFC 9113 HTTP/2, gRPC's PROTOCOL-HTTP2):
 *
 *   -> connection preface, SETTINGS (no push, 1 MiB stream window),
 *      WINDOW_UPDATE (1 MiB connection window), HEADERS for
 *      POST /mydev.v1.Capture/ListDevices (HPACK literals, no Huffman, no
 *      dynamic table), DATA: the empty ListDevicesRequest, END_STREAM
 *   <- SETTINGS (acknowledged), response HEADERS, DATA: the message,
 *      trailing HEADERS with END_STREAM
 *
 * Header blocks from the server are not decoded: a gRPC server sends a
 * response message only with an OK status (an error is a trailers-only
 * response, with no DATA), so "one complete message, then the stream ended
 * by HEADERS" is an OK call. No message, RST_STREAM, GOAWAY before our
 * stream, the connection closing and the deadline are errors (the gRPC
 * library would fail as well); an answer that does not parse as the above
 * is MYDEV_LIST_NOT_UNDERSTOOD, and the caller asks again through gRPC.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "mydev_list.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define H2_DATA 0x0
#define H2_HEADERS 0x1
#define H2_RST_STREAM 0x3
#define H2_SETTINGS 0x4
#define H2_PING 0x6
#define H2_GOAWAY 0x7
#define H2_WINDOW_UPDATE 0x8

#define H2_FLAG_END_STREAM 0x1
#define H2_FLAG_ACK 0x1
#define H2_FLAG_END_HEADERS 0x4
#define H2_FLAG_PADDED 0x8

#define H2_FRAME_HEADER 9
#define H2_DEFAULT_MAX_FRAME 16384 /* SETTINGS_MAX_FRAME_SIZE: we keep the default */
#define H2_WINDOW (1u << 20)
#define H2_DEFAULT_WINDOW 65535u

#define LIST_PATH "/mydev.v1.Capture/ListDevices"
#define STREAM_ID 1u

struct conn {
  int fd;
  int64_t deadline_ms;
  char* errbuf;
  int not_understood; /* the failure is ours: MYDEV_LIST_NOT_UNDERSTOOD */
};

static int64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(struct conn* c, const char* what) {
  snprintf(c->errbuf, MYDEV_ERRBUF_SIZE, "listing mydevd's devices: %s", what);
  return -1;
}

/* An answer this client does not understand (gRPC itself may). */
static int not_understood(struct conn* c, const char* what) {
  c->not_understood = 1;
  return fail(c, what);
}

/* Waits for events on the socket until the deadline. 0 ready, -1 error set. */
static int wait_for(struct conn* c, short events) {
  struct pollfd pfd = {.fd = c->fd, .events = events};
  int64_t left;
  int r;

  for (;;) {
    left = c->deadline_ms - now_ms();
    if (left <= 0) return fail(c, "mydevd did not answer in time (MYDEV_CALL_TIMEOUT_MS)");
    r = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
    if (r > 0) return 0;
    if (r < 0 && errno != EINTR) return fail(c, strerror(errno));
  }
}

static int send_all(struct conn* c, const uint8_t* p, size_t len) {
  while (len > 0) {
    ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (w > 0) {
      p += w;
      len -= (size_t)w;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_for(c, POLLOUT) != 0) return -1;
    } else if (w < 0 && errno != EINTR) {
      return fail(c, strerror(errno));
    }
  }
  return 0;
}

static int recv_all(struct conn* c, uint8_t* p, size_t len) {
  while (len > 0) {
    ssize_t r = recv(c->fd, p, len, MSG_DONTWAIT);

    if (r > 0) {
      p += r;
      len -= (size_t)r;
    } else if (r == 0) {
      return fail(c, "mydevd closed the connection before answering");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (wait_for(c, POLLIN) != 0) return -1;
    } else if (errno != EINTR) {
      return fail(c, strerror(errno));
    }
  }
  return 0;
}

static uint8_t* put_frame_header(uint8_t* b, uint32_t len, uint8_t type, uint8_t flags,
                                 uint32_t stream) {
  b[0] = (uint8_t)(len >> 16);
  b[1] = (uint8_t)(len >> 8);
  b[2] = (uint8_t)len;
  b[3] = type;
  b[4] = flags;
  b[5] = (uint8_t)(stream >> 24);
  b[6] = (uint8_t)(stream >> 16);
  b[7] = (uint8_t)(stream >> 8);
  b[8] = (uint8_t)stream;
  return b + H2_FRAME_HEADER;
}

static uint8_t* put_u32(uint8_t* b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24);
  b[1] = (uint8_t)(v >> 16);
  b[2] = (uint8_t)(v >> 8);
  b[3] = (uint8_t)v;
  return b + 4;
}

static uint32_t get_u32(const uint8_t* b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* HPACK string literal, no Huffman; every string here is < 127 bytes. */
static uint8_t* put_hpack_string(uint8_t* b, const char* s) {
  size_t len = strlen(s);

  *b++ = (uint8_t)len;
  memcpy(b, s, len);
  return b + len;
}

/* The request: everything the client sends, in one write. */
static size_t build_request(uint8_t* buf, int timeout_ms) {
  static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  char timeout[16];
  uint8_t *b = buf, *hdr, *block;

  memcpy(b, preface, sizeof(preface) - 1);
  b += sizeof(preface) - 1;

  b = put_frame_header(b, 12, H2_SETTINGS, 0, 0);
  *b++ = 0;
  *b++ = 0x2; /* SETTINGS_ENABLE_PUSH = 0 */
  b = put_u32(b, 0);
  *b++ = 0;
  *b++ = 0x4; /* SETTINGS_INITIAL_WINDOW_SIZE */
  b = put_u32(b, H2_WINDOW);

  b = put_frame_header(b, 4, H2_WINDOW_UPDATE, 0, 0);
  b = put_u32(b, H2_WINDOW - H2_DEFAULT_WINDOW);

  hdr = b;
  block = b = hdr + H2_FRAME_HEADER;
  *b++ = 0x83; /* :method: POST (static table 3) */
  *b++ = 0x86; /* :scheme: http (static table 6) */
  *b++ = 0x04; /* :path, literal without indexing (name: static 4) */
  b = put_hpack_string(b, LIST_PATH);
  *b++ = 0x01; /* :authority (static 1) */
  b = put_hpack_string(b, "localhost");
  *b++ = 0x0f;
  *b++ = 0x10; /* content-type (static 31 = 15 + 16) */
  b = put_hpack_string(b, "application/grpc");
  *b++ = 0x00; /* literal without indexing, new name */
  b = put_hpack_string(b, "te");
  b = put_hpack_string(b, "trailers");
  snprintf(timeout, sizeof(timeout), "%dm", timeout_ms);
  *b++ = 0x00;
  b = put_hpack_string(b, "grpc-timeout");
  b = put_hpack_string(b, timeout);
  put_frame_header(hdr, (uint32_t)(b - block), H2_HEADERS, H2_FLAG_END_HEADERS, STREAM_ID);

  /* The request message: not compressed, 0 bytes (ListDevicesRequest {}). */
  b = put_frame_header(b, 5, H2_DATA, H2_FLAG_END_STREAM, STREAM_ID);
  memset(b, 0, 5);
  b += 5;
  return (size_t)(b - buf);
}

/* ------------------------------------------------------------ protobuf */

static int pb_varint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  unsigned shift;

  *v = 0;
  for (shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t byte = *(*p)++;

    *v |= (uint64_t)(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return 0;
  }
  return -1;
}

/* Reads a field's key and, for length-delimited fields, its bytes. */
static int pb_field(const uint8_t** p, const uint8_t* end, uint64_t* field, unsigned* wire,
                    uint64_t* value, const uint8_t** bytes) {
  uint64_t key;

  if (pb_varint(p, end, &key) != 0) return -1;
  *field = key >> 3;
  *wire = (unsigned)(key & 7);
  switch (*wire) {
    case 0:
      return pb_varint(p, end, value);
    case 1:
      if (end - *p < 8) return -1;
      *p += 8;
      return 0;
    case 2:
      if (pb_varint(p, end, value) != 0 || *value > (uint64_t)(end - *p)) return -1;
      *bytes = *p;
      *p += *value;
      return 0;
    case 5:
      if (end - *p < 4) return -1;
      *p += 4;
      return 0;
    default: /* groups: not in this message */
      return -1;
  }
}

static void copy_string(char* dst, size_t size, const uint8_t* src, uint64_t len) {
  size_t n = len < size - 1 ? (size_t)len : size - 1;

  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* message Device { string name = 1; string description = 2; ...
 * uint32 pcap_flags = 5; ... } */
static int parse_device(const uint8_t* p, const uint8_t* end, struct mydev_device_desc* d) {
  uint64_t field, value;
  unsigned wire;
  const uint8_t* bytes = NULL;

  memset(d, 0, sizeof(*d));
  while (p < end) {
    if (pb_field(&p, end, &field, &wire, &value, &bytes) != 0) return -1;
    if (field == 1 && wire == 2)
      copy_string(d->name, sizeof(d->name), bytes, value);
    else if (field == 2 && wire == 2)
      copy_string(d->description, sizeof(d->description), bytes, value);
    else if (field == 5 && wire == 0)
      d->pcap_flags = (uint32_t)value;
  }
  return 0;
}

/* message ListDevicesResponse { repeated Device devices = 1; } */
static int parse_response(const uint8_t* p, const uint8_t* end, struct mydev_device_desc* out,
                          size_t max, size_t* n) {
  uint64_t field, value;
  unsigned wire;
  const uint8_t* bytes = NULL;

  while (p < end) {
    if (pb_field(&p, end, &field, &wire, &value, &bytes) != 0) return -1;
    if (field != 1 || wire != 2 || *n == max) continue;
    if (parse_device(bytes, bytes + value, &out[*n]) != 0) return -1;
    ++*n;
  }
  return 0;
}

/* ------------------------------------------------------------ the call */

/* Reads frames until our stream ends. Collects the DATA bytes in *msg. */
/* payload: H2_DEFAULT_MAX_FRAME bytes (on the heap: libpcap may be called on
 * a small thread stack). */
static int read_response(struct conn* c, uint8_t* payload, uint8_t** msg, size_t* msg_len) {
  uint8_t head[H2_FRAME_HEADER], ack[H2_FRAME_HEADER + 8];
  size_t cap = 0;

  for (;;) {
    uint32_t len, stream;
    uint8_t type, flags;
    const uint8_t* data = payload;
    size_t data_len;

    if (recv_all(c, head, sizeof(head)) != 0) return -1;
    len = (uint32_t)head[0] << 16 | (uint32_t)head[1] << 8 | head[2];
    type = head[3];
    flags = head[4];
    stream = get_u32(head + 5) & 0x7fffffffu;
    if (len > H2_DEFAULT_MAX_FRAME)
      return not_understood(c, "mydevd sent an HTTP/2 frame larger than allowed");
    if (recv_all(c, payload, len) != 0) return -1;

    switch (type) {
      case H2_SETTINGS:
        if (stream == 0 && !(flags & H2_FLAG_ACK)) {
          put_frame_header(ack, 0, H2_SETTINGS, H2_FLAG_ACK, 0);
          if (send_all(c, ack, H2_FRAME_HEADER) != 0) return -1;
        }
        break;
      case H2_PING:
        if (stream == 0 && !(flags & H2_FLAG_ACK) && len == 8) {
          memcpy(put_frame_header(ack, 8, H2_PING, H2_FLAG_ACK, 0), payload, 8);
          if (send_all(c, ack, sizeof(ack)) != 0) return -1;
        }
        break;
      case H2_GOAWAY:
        if (len < 8 || (get_u32(payload) & 0x7fffffffu) < STREAM_ID)
          return fail(c, "mydevd refused the call (HTTP/2 GOAWAY)");
        break; /* our stream is still served */
      case H2_RST_STREAM:
        if (stream == STREAM_ID) return fail(c, "mydevd reset the call (HTTP/2 RST_STREAM)");
        break;
      case H2_HEADERS:
        if (stream != STREAM_ID) break;
        if (flags & H2_FLAG_END_STREAM) {
          /* Trailers; a trailers-only answer carries an error. */
          if (*msg_len == 0) return fail(c, "mydevd answered with an error status");
          return 0;
        }
        break;
      case H2_DATA:
        if (stream != STREAM_ID) break;
        data_len = len;
        if (flags & H2_FLAG_PADDED) {
          if (len < 1 || payload[0] >= len)
            return not_understood(c, "malformed HTTP/2 DATA padding");
          data = payload + 1;
          data_len = len - 1 - payload[0];
        }
        if (*msg_len + data_len > MYDEV_LIST_MAX_RESPONSE)
          return not_understood(c, "the answer is larger than 1 MiB");
        if (*msg_len + data_len > cap) {
          size_t want = cap == 0 ? 4096 : cap;
          uint8_t* grown;

          while (want < *msg_len + data_len) want *= 2;
          grown = realloc(*msg, want);
          if (grown == NULL) return fail(c, "out of memory");
          *msg = grown;
          cap = want;
        }
        if (data_len > 0) { /* an empty DATA frame may come before any buffer */
          memcpy(*msg + *msg_len, data, data_len);
          *msg_len += data_len;
        }
        if (flags & H2_FLAG_END_STREAM)
          return not_understood(c, "mydevd ended the call without a status");
        break;
      default: /* WINDOW_UPDATE, PRIORITY, CONTINUATION, unknown: nothing to do */
        break;
    }
  }
}

int mydev_list_devices_on(int fd, int timeout_ms, struct mydev_device_desc* out, size_t max,
                          size_t* n, char* errbuf) {
  struct conn c = {.fd = fd, .errbuf = errbuf};
  uint8_t request[256];
  uint8_t* msg = NULL;
  uint8_t* frame = NULL;
  size_t msg_len = 0, req_len;
  uint32_t body;
  int rc = -1;

  *n = 0;
  if (timeout_ms <= 0) timeout_ms = 1;
  c.deadline_ms = now_ms() + timeout_ms;
  req_len = build_request(request, timeout_ms);
  frame = malloc(H2_DEFAULT_MAX_FRAME);
  if (frame == NULL) {
    fail(&c, "out of memory");
    goto out;
  }
  if (send_all(&c, request, req_len) != 0 || read_response(&c, frame, &msg, &msg_len) != 0)
    goto out;
  /* One gRPC message: compressed flag 0 (we offered no encoding),
   * a 4-byte length, the ListDevicesResponse. */
  if (msg_len < 5 || msg[0] != 0 || (body = get_u32(msg + 1)) != msg_len - 5) {
    not_understood(&c, "the answer is not one uncompressed gRPC message");
    goto out;
  }
  if (parse_response(msg + 5, msg + msg_len, out, max, n) != 0) {
    *n = 0;
    not_understood(&c, "the answer is not a ListDevicesResponse");
    goto out;
  }
  rc = 0;
out:
  free(frame);
  free(msg);
  return rc == 0 ? 0 : c.not_understood ? MYDEV_LIST_NOT_UNDERSTOOD : -1;
}

int mydev_list_devices_lite(const char* socket_path, int timeout_ms, struct mydev_device_desc* out,
                            size_t max, size_t* n, char* errbuf) {
  struct sockaddr_un addr;
  int fd, rc;

  *n = 0;
  if (strlen(socket_path) >= sizeof(addr.sun_path)) {
    snprintf(errbuf, MYDEV_ERRBUF_SIZE, "the socket path %s is too long", socket_path);
    return -1;
  }
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, socket_path);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(errbuf, MYDEV_ERRBUF_SIZE, "listing mydevd's devices: socket: %s", strerror(errno));
    return -1;
  }
  if (connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
    int e = errno;

    close(fd);
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) return MYDEV_LIST_NO_DAEMON;
    snprintf(errbuf, MYDEV_ERRBUF_SIZE, "connecting to %s: %s", socket_path, strerror(e));
    return -1;
  }
  rc = mydev_list_devices_on(fd, timeout_ms, out, max, n, errbuf);
  close(fd);
  return rc;
}
