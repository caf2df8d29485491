/*
 * ring_abi.h — the shared-memory ring between mydevd (the one writer) and its
 * capture clients (the readers: one per session, up to MYDEV_RING_MAX_MEMBERS
 * sessions on one ring). Plain C so that pcap-mydev.c, compiled inside
 * libpcap, reads the ring with the very same code as the C++ tests.
 *
 * Example (reader side, as pcap-mydev.c does it):
 *
 *   struct mydev_ring_view v;
 *   if (mydev_ring_view_init(&v, ring_map, ring_map_bytes, ctl_map) != 0) fail();
 *   const struct mydev_ring_record *r;
 *   while ((r = mydev_ring_next(&v)) != NULL) {
 *     use(mydev_ring_record_data(r), r->caplen, r->len, r->ts_ns);
 *   }
 *   mydev_ring_release(&v);          // hand the slots back to the writer
 *   // ring empty: sleep until the writer wakes us (or timeout/signal/closed)
 *   int w = mydev_ring_wait(&v, event_fd, liveness_fd, timeout_ms);
 *
 * ------------------------------------------------------------------ memory
 *
 * One ring memfd per ring, one ctl memfd (and eventfd) per member session:
 *
 *   ring memfd  = [ header page (4096) | data area (data_bytes, a power of 2) ]
 *                 written only by the daemon. The daemon seals it with
 *                 F_SEAL_FUTURE_WRITE|F_SEAL_SHRINK|F_SEAL_GROW before handing
 *                 it over, so the client can only map it PROT_READ.
 *   ctl memfd   = one page the client writes: consumer_pos, reader_sleeping;
 *                 and `member`, the session's slot in the ring, written by the
 *                 daemon before the hand-over.
 *
 * A ring has one member unless the device shares rings (config
 * `share_rings`): then the sessions of one uid with the same ring size share
 * one ring, up to MYDEV_RING_MAX_MEMBERS of them. Each record says which
 * members take it (`members`, bit i = slot i); a reader skips the others
 * (mydev_ring_next). A packet that several members take, in the same form,
 * is written once. The writer overwrites a record only once every member has
 * released it: members of a shared ring wait for their slowest one.
 *
 * Positions are free-running uint64 byte counts (never wrap in practice);
 * the offset in the data area is pos & (data_bytes - 1).
 *
 * ------------------------------------------------------------------ records
 *
 * Each record starts at an 8-byte-aligned offset:
 *   struct mydev_ring_record { record_bytes, caplen, len, flags, members, ts_ns } + caplen bytes,
 *   record_bytes = MYDEV_ALIGN8(sizeof header + caplen).
 * A record never straddles the end of the data area. When the writer needs
 * more contiguous room than is left before the end:
 *   - if at least sizeof(struct mydev_ring_record) bytes are left, it writes a
 *     padding record (flags & MYDEV_REC_PAD, record_bytes = bytes to the end);
 *   - if fewer are left (8 or 16 bytes), it skips them silently; the reader
 *     applies the same rule (mydev_ring_next).
 * Then it continues at offset 0.
 *
 * ------------------------------------------------------------------ ownership
 *
 *   producer_pos    header page  written by the daemon, read by the clients
 *   counters        header page  one slot per member, written by the daemon
 *                                (relaxed), read by anyone
 *   consumer_pos    ctl page     written by the client, read by the daemon
 *   reader_sleeping ctl page     set by the client, cleared by either
 *                                (MYDEV_RING_READER_SLEEPING / _AWAKE)
 *   member          ctl page     written by the daemon before the hand-over
 *
 * The daemon trusts nothing on the ctl page: each time it needs consumer_pos
 * (room for a batch, a wake-up decision, a high-water check, the stats) it
 * loads it once and clamps it to [producer_pos - data_bytes, producer_pos].
 * A member's consumer_pos starts at the producer_pos of its joining: it reads
 * only what was published after it joined.
 *
 * ------------------------------------------------------------------ ordering
 *
 * (1) writer: fill record bytes; store-RELEASE producer_pos
 *     reader: load-ACQUIRE producer_pos; read records below it.       (1 pairs with 1)
 * (2) reader: finish reading records; store-RELEASE consumer_pos
 *     writer: load-ACQUIRE consumer_pos; overwrite only below it+size. (2 pairs with 2)
 * (3) Sleeping (a Dekker pair, both sides need the full fence):
 *     reader: store reader_sleeping=1; SEQ_CST fence; load producer_pos;
 *             if still empty, poll(eventfd) else clear the flag.
 *     writer: store-RELEASE producer_pos; SEQ_CST fence; then for each
 *             member: load its reader_sleeping; if 1 and a wake is due
 *             (immediate mode, enough bytes waiting, or the client's timeout
 *             passed), exchange it to 0 and, if it was 1, write its eventfd.
 *     Either the writer sees the flag or the reader sees the new data, never
 *     neither. The writer makes no syscall while the reader is awake.
 *     mydev_ring_wait() is the reader's whole sequence, written once for the
 *     module (pcap-mydev.c) and the C++ reader (ring_consumer.cc).
 * (4) Closing: writer: store close_reason; store-RELEASE state=CLOSED; SEQ_CST
 *     fence; for each member: clear its reader_sleeping; write its eventfd
 *     (always).
 *     reader: load-ACQUIRE state (mydev_ring_closed), then close_reason.
 */
#ifndef MYDEV_SHM_RING_ABI_H_
#define MYDEV_SHM_RING_ABI_H_

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MYDEV_RING_MAGIC 0x5244594du /* "MYDR" little-endian */
#define MYDEV_RING_VERSION 2u        /* 2: shared rings (members, per-member counters) */
#define MYDEV_RING_MAX_MEMBERS 16u   /* bits of mydev_ring_record.members */
#define MYDEV_RING_HEADER_BYTES 4096u
#define MYDEV_RING_CTL_BYTES 4096u
#define MYDEV_ALIGN8(n) (((n) + 7u) & ~(uint64_t)7u)

/* record flags */
#define MYDEV_REC_PAD 0x1u     /* padding to the end of the data area */
#define MYDEV_REC_DIR_IN 0x2u  /* received by the device */
#define MYDEV_REC_DIR_OUT 0x4u /* sent by the device */

/* header.state */
#define MYDEV_RING_OPEN 0u
#define MYDEV_RING_CLOSED 1u /* the daemon ended the session; see close_reason */

/* header.close_reason, set before state becomes MYDEV_RING_CLOSED */
#define MYDEV_RING_CLOSE_NONE 0u        /* not closed */
#define MYDEV_RING_CLOSE_SHUTDOWN 1u    /* mydevd shut down */
#define MYDEV_RING_CLOSE_DEVICE_GONE 2u /* the device went away (interface removed or down) */

/* control.reader_sleeping */
#define MYDEV_RING_READER_AWAKE 0u
#define MYDEV_RING_READER_SLEEPING 1u /* asleep in poll(eventfd): write it to wake me */

/* One member's counters in the header page. */
struct mydev_ring_member_counters {
  uint64_t packets_received; /* passed the member's filter */
  uint64_t packets_dropped;  /* passed the filter, ring was full (or shed) */
  uint64_t bytes_received;
  uint64_t reserved;
};

struct mydev_ring_header {
  /* immutable after creation */
  uint32_t magic;
  uint32_t version;
  uint32_t header_bytes; /* MYDEV_RING_HEADER_BYTES */
  uint32_t dlt;          /* link type at creation (informative) */
  uint64_t data_bytes;   /* power of two */
  uint8_t pad0[64 - 24];
  /* cache line 1: the producer */
  uint64_t producer_pos;
  uint8_t pad1[64 - 8];
  /* cache line 2: the ring's state (all members are closed together) */
  uint32_t state;        /* MYDEV_RING_OPEN / MYDEV_RING_CLOSED */
  uint32_t close_reason; /* MYDEV_RING_CLOSE_* */
  uint8_t pad2[64 - 8];
  /* one slot per member: its counters, written by the daemon with relaxed
   * stores; a slot is zeroed when a new member takes it */
  struct mydev_ring_member_counters members[MYDEV_RING_MAX_MEMBERS];
};

struct mydev_ring_control {
  uint64_t consumer_pos;
  uint8_t pad0[64 - 8];
  uint32_t reader_sleeping; /* MYDEV_RING_READER_AWAKE / _SLEEPING */
  uint32_t member;          /* this session's slot, < MYDEV_RING_MAX_MEMBERS */
};

struct mydev_ring_record {
  uint32_t record_bytes; /* whole record, header included, multiple of 8 */
  uint32_t caplen;       /* bytes that follow the header */
  uint32_t len;          /* length on the wire */
  uint16_t flags;        /* MYDEV_REC_* */
  uint16_t members;      /* bit i: member slot i takes this record */
  uint64_t ts_ns;        /* CLOCK_REALTIME nanoseconds */
};

/* The reader's view of one ring. */
struct mydev_ring_view {
  const struct mydev_ring_header* hdr;
  const uint8_t* data;
  uint64_t data_bytes;
  struct mydev_ring_control* ctl;
  uint64_t consumer_pos; /* local; published by mydev_ring_release */
  uint64_t producer_pos; /* last acquired producer_pos */
  uint32_t member;       /* this reader's slot (from the ctl page, validated) */
  int corrupt;           /* set when a record fails validation */
};

static inline const uint8_t* mydev_ring_record_data(const struct mydev_ring_record* r) {
  return (const uint8_t*)(r + 1);
}

/* Validates the header of a mapped ring. Returns 0, or -1 if the mapping is
 * not a ring of this version, its size does not match ring_map_bytes or the
 * ctl page names no valid member slot. */
static inline int mydev_ring_view_init(struct mydev_ring_view* v, const void* ring_map,
                                       size_t ring_map_bytes, void* ctl_map) {
  const struct mydev_ring_header* h = (const struct mydev_ring_header*)ring_map;
  if (ring_map_bytes < MYDEV_RING_HEADER_BYTES) return -1;
  if (h->magic != MYDEV_RING_MAGIC || h->version != MYDEV_RING_VERSION ||
      h->header_bytes != MYDEV_RING_HEADER_BYTES)
    return -1;
  if (h->data_bytes == 0 || (h->data_bytes & (h->data_bytes - 1)) != 0 ||
      h->data_bytes != ring_map_bytes - MYDEV_RING_HEADER_BYTES)
    return -1;
  v->hdr = h;
  v->data = (const uint8_t*)ring_map + MYDEV_RING_HEADER_BYTES;
  v->data_bytes = h->data_bytes;
  v->ctl = (struct mydev_ring_control*)ctl_map;
  v->member = __atomic_load_n(&v->ctl->member, __ATOMIC_RELAXED);
  if (v->member >= MYDEV_RING_MAX_MEMBERS) return -1;
  v->consumer_pos = __atomic_load_n(&v->ctl->consumer_pos, __ATOMIC_RELAXED);
  v->producer_pos = __atomic_load_n(&h->producer_pos, __ATOMIC_ACQUIRE);
  v->corrupt = 0;
  return 0;
}

/* This reader's counters (its slot in the header page). */
static inline const struct mydev_ring_member_counters* mydev_ring_counters(
    const struct mydev_ring_view* v) {
  return &v->hdr->members[v->member];
}

/* Returns the next packet record for this reader (records of other members
 * of a shared ring are passed over), or NULL when the ring is empty (or
 * corrupt: check v->corrupt). The record stays valid until
 * mydev_ring_release(). */
static inline const struct mydev_ring_record* mydev_ring_next(struct mydev_ring_view* v) {
  const uint64_t hdr_bytes = sizeof(struct mydev_ring_record);
  for (;;) {
    if (v->consumer_pos == v->producer_pos) {
      /* (1): pairs with the store-release in RingProducer's PublishPosition:
       * the record bytes below producer_pos are written. */
      v->producer_pos = __atomic_load_n(&v->hdr->producer_pos, __ATOMIC_ACQUIRE);
      if (v->consumer_pos == v->producer_pos) return NULL;
    }
    uint64_t avail = v->producer_pos - v->consumer_pos;
    uint64_t off = v->consumer_pos & (v->data_bytes - 1);
    uint64_t to_end = v->data_bytes - off;
    if (avail > v->data_bytes || (off & 7u) != 0) { /* records start 8-byte aligned */
      v->corrupt = 1;
      return NULL;
    }
    if (to_end < hdr_bytes) { /* silent skip: the writer did the same */
      v->consumer_pos += to_end;
      continue;
    }
    const struct mydev_ring_record* r = (const struct mydev_ring_record*)(v->data + off);
    uint32_t rb = r->record_bytes;
    if (rb < hdr_bytes || (rb & 7u) != 0 || rb > to_end || rb > avail) {
      v->corrupt = 1;
      return NULL;
    }
    v->consumer_pos += rb;
    if (r->flags & MYDEV_REC_PAD) continue;
    if (!(r->members & (1u << v->member))) continue; /* another member's */
    if (r->caplen > rb - hdr_bytes) {
      v->corrupt = 1;
      return NULL;
    }
    return r;
  }
}

/* Hands every record returned so far back to the writer. */
static inline void mydev_ring_release(struct mydev_ring_view* v) {
  /* (2): pairs with the load-acquire in RingProducer's LoadConsumer: our
   * reads of the records are done before the writer reuses their room. */
  __atomic_store_n(&v->ctl->consumer_pos, v->consumer_pos, __ATOMIC_RELEASE);
}

/* True when the writer has published records not yet returned by next(). */
static inline int mydev_ring_has_data(struct mydev_ring_view* v) {
  /* (1): pairs with the store-release in RingProducer's PublishPosition. */
  v->producer_pos = __atomic_load_n(&v->hdr->producer_pos, __ATOMIC_ACQUIRE);
  return v->producer_pos != v->consumer_pos;
}

/* Announces that the reader is about to sleep on the eventfd. Returns 1 if it
 * may sleep (ring still empty after the fence), 0 if data arrived meanwhile
 * (the flag is cleared again). Call mydev_ring_release() first so the writer
 * sees all the free room. (3) */
static inline int mydev_ring_prepare_sleep(struct mydev_ring_view* v) {
  /* The fence orders the store before the load; a SEQ_CST store would add a
   * second full barrier (xchg) for nothing. */
  __atomic_store_n(&v->ctl->reader_sleeping, MYDEV_RING_READER_SLEEPING, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with RingProducer::Publish's fence (3) */
  if (mydev_ring_has_data(v)) {
    __atomic_store_n(&v->ctl->reader_sleeping, MYDEV_RING_READER_AWAKE, __ATOMIC_RELAXED);
    return 0;
  }
  return 1;
}

/* Called after the sleep ended (woken or timed out). */
static inline void mydev_ring_woke(struct mydev_ring_view* v) {
  __atomic_store_n(&v->ctl->reader_sleeping, MYDEV_RING_READER_AWAKE, __ATOMIC_RELAXED);
}

/* 1 if the daemon closed the session (see hdr->close_reason). */
static inline int mydev_ring_closed(const struct mydev_ring_view* v) {
  /* (4): pairs with the store-release in RingProducer::Close: close_reason
   * and the last records are visible once state reads CLOSED. */
  return __atomic_load_n(&v->hdr->state, __ATOMIC_ACQUIRE) == MYDEV_RING_CLOSED;
}

/* mydev_ring_wait() results. */
#define MYDEV_RING_WAIT_ERROR (-1) /* poll() or the eventfd read() failed: see errno */
#define MYDEV_RING_WAIT_TIMEOUT 0  /* timeout_ms passed without a wake-up */
#define MYDEV_RING_WAIT_READY 1    /* records or the close were already there: no sleep */
#define MYDEV_RING_WAIT_WOKEN                                                            \
  2                                /* event_fd was readable (the writer's wake, a close, \
                                      or the reader's own write): drained */
#define MYDEV_RING_WAIT_LIVENESS 3 /* liveness_fd is readable or hung up */
#define MYDEV_RING_WAIT_SIGNAL 4   /* a signal interrupted poll() (EINTR) */

/*
 * The reader's way to sleep, (3) above, for both readers (pcap-mydev.c and
 * ring_consumer.cc's WaitForData): hands the records read so far back,
 * announces the sleep, sleeps in poll() on event_fd (the session's eventfd,
 * non-blocking) and, if liveness_fd >= 0, on liveness_fd too, for up to
 * timeout_ms (< 0: no limit), then marks the reader awake and drains
 * event_fd. Returns one of MYDEV_RING_WAIT_*; any result but ERROR and
 * TIMEOUT means "look at the ring again" (it may still be empty).
 *
 * Signals: a signal that interrupts poll() (EINTR) ends the wait early, like
 * a wake-up (MYDEV_RING_WAIT_SIGNAL); it is not retried. The caller then sees
 * flags its signal handler set — pcap_breakloop()'s break_loop, a program's
 * stop flag — and keeps its own deadline if it waits again. event_fd is not
 * drained in that case: a wake that raced with the signal stays pending and
 * ends the next wait at once.
 *
 * Errors are the caller's to report (errno is kept from the failing call).
 * A non-blocking eventfd read fails only with EAGAIN (another thread drained
 * it first), which is not an error.
 */
static inline int mydev_ring_wait(struct mydev_ring_view* v, int event_fd, int liveness_fd,
                                  int timeout_ms) {
  struct pollfd fds[2];
  uint64_t count;
  int n;

  /* Store-release of consumer_pos: pairs with the writer's load-acquire of
   * consumer_pos (RingProducer's LoadConsumer, (2)); it sees all the room we
   * freed before deciding the ring is full. */
  mydev_ring_release(v);
  /* Load-acquire of state: pairs with the store-release of state in
   * RingProducer::Close (4). A closed ring is not slept on: its one eventfd
   * write may have been drained by an earlier wait. */
  if (mydev_ring_closed(v)) return MYDEV_RING_WAIT_READY;
  /* Store reader_sleeping; SEQ_CST fence; load-acquire producer_pos: the
   * fence pairs with the SEQ_CST fence in RingProducer::Publish between its
   * store-release of producer_pos and its load of reader_sleeping (3); the
   * load pairs with that store-release (1). */
  if (!mydev_ring_prepare_sleep(v)) return MYDEV_RING_WAIT_READY;

  fds[0].fd = event_fd;
  fds[0].events = POLLIN;
  fds[0].revents = 0;
  fds[1].fd = liveness_fd;
  fds[1].events = POLLIN;
  fds[1].revents = 0;
  n = poll(fds, liveness_fd >= 0 ? 2 : 1, timeout_ms);
  /* Relaxed: no ordering needed. The writer may clear the flag at the same
   * time (its exchange in WakeReader); both store AWAKE. */
  mydev_ring_woke(v);
  if (n < 0) return errno == EINTR ? MYDEV_RING_WAIT_SIGNAL : MYDEV_RING_WAIT_ERROR;
  if (n == 0) return MYDEV_RING_WAIT_TIMEOUT;
  if (fds[0].revents & POLLNVAL) {
    errno = EBADF; /* event_fd is not open: the caller's bug, not a wake-up */
    return MYDEV_RING_WAIT_ERROR;
  }
  if (fds[0].revents & POLLIN) {
    /* The eventfd carries no data, only the wake: the records are read with
     * mydev_ring_next()'s load-acquire of producer_pos (1). */
    if (read(event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN) return MYDEV_RING_WAIT_ERROR;
    return MYDEV_RING_WAIT_WOKEN;
  }
  return MYDEV_RING_WAIT_LIVENESS; /* readable, hung up or in error */
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MYDEV_SHM_RING_ABI_H_ */
