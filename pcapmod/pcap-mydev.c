/*
 * pcap-mydev.c — libpcap capture module for devices served by mydevd.
 *
 * pcap_create("mydev0") makes a pcap_t whose activate opens a session with
 * mydevd through libmydev-client.so (gRPC, loaded with dlopen() only when a
 * mydev device is opened; pcap_findalldevs() lists the daemon's devices with
 * one direct call, mydev_list.c) and then reads packets straight out of
 * the session's shared-memory ring (shm/ring_abi.h); selectable_fd is the
 * ring's wakeup eventfd.
 *
 *   pcap_t *p = pcap_create("mydev0", errbuf);
 *   pcap_set_snaplen(p, 100);
 *   pcap_activate(p);           // PCAP_ERROR + "cannot reach mydevd ..." if it is down
 *   pcap_loop(p, 10, handler, NULL);
 *
 * Packets are handed to the callback as pointers into the ring and given
 * back to the daemon after each batch; pcap_next()/pcap_next_ex() therefore
 * go through a copying oneshot callback.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr() */
#endif

#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pcap-int.h"
#include "pcap-mydev.h"
#include "mydev_client.h"
#include "mydev_list.h"

#define MYDEV_PREFIX "mydev"
#define MYDEV_MAX_LISTED 64

struct pcap_mydev {
	const struct mydev_client_api *api;
	struct mydev_session *session;
	struct mydev_session_info info;
	int nonblock;
	int userland_filter;	/* the daemon refused the program: filter here */
	uint64_t filter_boundary; /* records ending at or before this position
				     predate the daemon-side filter: filter here */
	int event_pending;	/* we wrote the eventfd ourselves (mydev_arm_selectable) */
};

/* ------------------------------------------------------------ client library */

static const struct mydev_client_api *mydev_api_cached;

/*
 * Loads libmydev-client.so from the directory of the libpcap that contains
 * this code (so an LD_LIBRARY_PATH'd libpcap finds its own client), falling
 * back to the plain soname. RTLD_LOCAL keeps gRPC's symbols out of the
 * program's namespace. The library is never unloaded.
 */
static const struct mydev_client_api *
mydev_load_api(char *errbuf)
{
	const struct mydev_client_api *api;
	const struct mydev_client_api *(*get_api)(void);
	Dl_info self;
	char path[4096];
	void *handle = NULL;
	const char *slash;

	api = __atomic_load_n(&mydev_api_cached, __ATOMIC_ACQUIRE);
	if (api != NULL)
		return api;
	if (dladdr((void *)mydev_load_api, &self) != 0 && self.dli_fname != NULL &&
	    (slash = strrchr(self.dli_fname, '/')) != NULL &&
	    (size_t)(slash - self.dli_fname) + sizeof("/" MYDEV_CLIENT_SONAME) <= sizeof(path)) {
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - self.dli_fname),
		    self.dli_fname, MYDEV_CLIENT_SONAME);
		handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	}
	if (handle == NULL)
		handle = dlopen(MYDEV_CLIENT_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE,
		    "mydev: cannot load %s next to libpcap or on the library path: %s",
		    MYDEV_CLIENT_SONAME, dlerror());
		return NULL;
	}
	get_api = (const struct mydev_client_api *(*)(void))dlsym(handle,
	    MYDEV_CLIENT_API_SYMBOL);
	api = get_api != NULL ? get_api() : NULL;
	if (api == NULL || api->version != MYDEV_CLIENT_API_VERSION) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE,
		    "mydev: %s has no %s() of version %d; reinstall mydev",
		    MYDEV_CLIENT_SONAME, MYDEV_CLIENT_API_SYMBOL, MYDEV_CLIENT_API_VERSION);
		return NULL;
	}
	__atomic_store_n(&mydev_api_cached, api, __ATOMIC_RELEASE);
	return api;
}

/* $MYDEV_SOCKET, else MYDEV_DEFAULT_SOCKET (as libmydev-client.so does). */
static const char *
mydev_socket_path(void)
{
	const char *path = getenv(MYDEV_SOCKET_ENV);

	return path != NULL && path[0] != '\0' ? path : MYDEV_DEFAULT_SOCKET;
}

/* The per-call deadline: $MYDEV_CALL_TIMEOUT_MS, else 5 s (as the client). */
static int
mydev_call_timeout_ms(void)
{
	const char *env = getenv("MYDEV_CALL_TIMEOUT_MS");
	long v;

	if (env == NULL || *env == '\0')
		return 5000;
	v = strtol(env, NULL, 10);
	return v > 0 && v <= 600000 ? (int)v : 5000;
}

/* ------------------------------------------------------------ reading */

static void
mydev_fill_header(pcap_t *p, const struct mydev_ring_record *r, struct pcap_pkthdr *h)
{
	uint64_t ns = r->ts_ns;

	h->ts.tv_sec = (time_t)(ns / 1000000000u);
	if (p->opt.tstamp_precision == PCAP_TSTAMP_PRECISION_NANO)
		h->ts.tv_usec = (suseconds_t)(ns % 1000000000u);
	else
		h->ts.tv_usec = (suseconds_t)((ns % 1000000000u) / 1000u);
	h->len = r->len;
	h->caplen = r->caplen < (uint32_t)p->snapshot ? r->caplen : (uint32_t)p->snapshot;
}

/* Sets errbuf to why the session ended, if it did. Returns 1 if it ended. */
static int
mydev_session_ended(pcap_t *p)
{
	struct pcap_mydev *pm = p->priv;
	struct pollfd live = { .fd = pm->info.liveness_fd, .events = POLLIN };
	const char *why;

	if (mydev_ring_closed(&pm->info.view)) {
		switch (pm->info.view.hdr->close_reason) {
		case MYDEV_RING_CLOSE_SHUTDOWN: why = "mydevd shut down"; break;
		case MYDEV_RING_CLOSE_DEVICE_GONE: why = "the device went away"; break;
		default: why = "mydevd ended the session"; break;
		}
		snprintf(p->errbuf, PCAP_ERRBUF_SIZE, "%s: %s", p->opt.device, why);
		return 1;
	}
	if (poll(&live, 1, 0) > 0) {
		snprintf(p->errbuf, PCAP_ERRBUF_SIZE,
		    "%s: mydevd went away (the session socket was closed)", p->opt.device);
		return 1;
	}
	return 0;
}

/* Sleeps on the eventfd (and the liveness socket) for up to timeout_ms
 * (-1 = forever) with mydev_ring_wait() (shm/ring_abi.h). Returns 1 if
 * woken, data arrived or a signal interrupted the sleep (so that a
 * pcap_breakloop() from a signal handler is seen at once), 0 on timeout,
 * -1 on an error (errbuf set). */
static int
mydev_wait(pcap_t *p, int timeout_ms)
{
	struct pcap_mydev *pm = p->priv;

	switch (mydev_ring_wait(&pm->info.view, pm->info.event_fd,
	    pm->info.liveness_fd, timeout_ms)) {
	case MYDEV_RING_WAIT_ERROR:
		pcap_fmt_errmsg_for_errno(p->errbuf, PCAP_ERRBUF_SIZE, errno,
		    "mydev: waiting on the ring eventfd (poll/read)");
		return -1;
	case MYDEV_RING_WAIT_TIMEOUT:
		return 0;
	case MYDEV_RING_WAIT_WOKEN:
		pm->event_pending = 0;	/* drained, our own write included */
		return 1;
	default:
		/* A hung-up liveness socket also ends the sleep; mydev_read
		 * drains what is left in the ring before it reports the end. */
		return 1;
	}
}

/* Leaves selectable_fd the way a packet socket is for programs that poll it
 * before reading (dumpcap, event loops): readable while records wait, and
 * written by the daemon when a wake is due once the ring is empty (the
 * reader stays marked sleeping between reads). Called whenever control
 * returns to the program. */
static void
mydev_arm_selectable(pcap_t *p)
{
	struct pcap_mydev *pm = p->priv;
	uint64_t one = 1;

	mydev_ring_release(&pm->info.view);
	if (mydev_ring_prepare_sleep(&pm->info.view))
		return;
	if (!pm->event_pending) {
		pm->event_pending = 1;
		(void)!write(pm->info.event_fd, &one, sizeof(one));
	}
}

static int64_t
mydev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
mydev_read_ring(pcap_t *p, int cnt, pcap_handler callback, u_char *user)
{
	struct pcap_mydev *pm = p->priv;
	struct mydev_ring_view *v = &pm->info.view;
	const struct mydev_ring_record *r;
	struct pcap_pkthdr h;
	int n = 0, timed_out = 0, w, wait_ms = -1;
	int64_t deadline = -1;	/* of the buffer timeout, for this call */

	mydev_ring_woke(v);	/* awake: the daemon need not write the eventfd */
	for (;;) {
		if (p->break_loop) {
			p->break_loop = 0;
			return PCAP_ERROR_BREAK;
		}
		while ((PACKET_COUNT_IS_UNLIMITED(cnt) || n < cnt) &&
		    (r = mydev_ring_next(v)) != NULL) {
			const u_char *data = mydev_ring_record_data(r);

			/* Records queued before a pcap_setdirection() change. */
			if ((p->direction == PCAP_D_IN && (r->flags & MYDEV_REC_DIR_OUT)) ||
			    (p->direction == PCAP_D_OUT && (r->flags & MYDEV_REC_DIR_IN)))
				continue;
			mydev_fill_header(p, r, &h);
			if ((pm->userland_filter || v->consumer_pos <= pm->filter_boundary) &&
			    p->fcode.bf_insns != NULL &&
			    !pcap_filter(p->fcode.bf_insns, data, h.len, h.caplen))
				continue;
			callback(user, &h, data);
			n++;
			if (p->break_loop) {
				mydev_ring_release(v);
				p->break_loop = 0;
				return PCAP_ERROR_BREAK;
			}
		}
		mydev_ring_release(v);
		if (v->corrupt) {
			snprintf(p->errbuf, PCAP_ERRBUF_SIZE,
			    "%s: the ring holds a malformed record; reopen the device",
			    p->opt.device);
			return PCAP_ERROR;
		}
		if (n > 0)
			return n;
		if (mydev_session_ended(p))
			return PCAP_ERROR;
		if (pm->nonblock || timed_out)
			return 0;
		/* The timeout counts from the start of this call: wakes for
		 * records that were then filtered out here do not extend it. */
		if (p->opt.timeout > 0) {
			int64_t now = mydev_now_ms();

			if (deadline < 0)
				deadline = now + p->opt.timeout;
			if (now >= deadline)
				return 0;
			wait_ms = (int)(deadline - now);
		}
		w = mydev_wait(p, wait_ms);
		if (w < 0)
			return PCAP_ERROR;
		timed_out = (w == 0);
	}
}

static int
mydev_read(pcap_t *p, int cnt, pcap_handler callback, u_char *user)
{
	int n = mydev_read_ring(p, cnt, callback, user);

	if (n >= 0 || n == PCAP_ERROR_BREAK)
		mydev_arm_selectable(p);
	return n;
}

/* pcap_next()/pcap_next_ex(): the ring slot is released when read_op
 * returns, so the packet is copied into p->buffer (snapshot bytes). */
static void
mydev_oneshot(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct oneshot_userdata *sp = (struct oneshot_userdata *)user;
	pcap_t *p = sp->pd;

	*sp->hdr = *h;
	memcpy(p->buffer, bytes, h->caplen);
	*sp->pkt = p->buffer;
}

static void
mydev_breakloop(pcap_t *p)
{
	struct pcap_mydev *pm = p->priv;
	uint64_t one = 1;

	pcap_breakloop_common(p);
	/* Wake a reader asleep in poll(); it drains the eventfd itself. */
	(void)!write(pm->info.event_fd, &one, sizeof(one));
}

/* ------------------------------------------------------------ other ops */

static int
mydev_inject(pcap_t *p, const void *buf, int size)
{
	struct pcap_mydev *pm = p->priv;

	if (size < 0)
		return PCAP_ERROR;
	return pm->api->inject(pm->session, buf, (size_t)size, p->errbuf);
}

static int
mydev_setfilter(pcap_t *p, struct bpf_program *fp)
{
	struct pcap_mydev *pm = p->priv;
	int rc;

	/* Keep a validated copy in any case: it filters the fallback, and the
	 * records already in the ring, which the daemon passed unfiltered. */
	if (install_bpf_program(p, fp) < 0)
		return PCAP_ERROR;
	rc = pm->api->set_filter(pm->session, fp->bf_insns, fp->bf_len, p->errbuf);
	if (rc < 0)
		return rc;
	pm->userland_filter = (rc == 1);
	pm->filter_boundary = __atomic_load_n(&pm->info.view.hdr->producer_pos,
	    __ATOMIC_ACQUIRE);
	return 0;
}

static int
mydev_setdirection(pcap_t *p, pcap_direction_t d)
{
	struct pcap_mydev *pm = p->priv;
	int rc = pm->api->set_direction(pm->session, (int)d, p->errbuf);

	if (rc == 0)
		p->direction = d;
	return rc;
}

static int
mydev_set_datalink(pcap_t *p, int dlt)
{
	struct pcap_mydev *pm = p->priv;

	return pm->api->set_datalink(pm->session, dlt, p->errbuf);
}

static int
mydev_getnonblock(pcap_t *p)
{
	return ((struct pcap_mydev *)p->priv)->nonblock;
}

static int
mydev_setnonblock(pcap_t *p, int nonblock)
{
	((struct pcap_mydev *)p->priv)->nonblock = nonblock != 0;
	return 0;
}

static int
mydev_stats(pcap_t *p, struct pcap_stat *ps)
{
	struct pcap_mydev *pm = p->priv;
	const struct mydev_ring_member_counters *mine =
	    mydev_ring_counters(&pm->info.view);
	struct mydev_stats st;
	char ignored[MYDEV_ERRBUF_SIZE];

	if (pm->api->stats(pm->session, &st, ignored) != 0) {
		/* The daemon is gone (e.g. tcpdump's summary after "mydevd went
		 * away"): the ring header still has this session's counters. */
		st.packets_received = __atomic_load_n(&mine->packets_received, __ATOMIC_RELAXED);
		st.packets_dropped = __atomic_load_n(&mine->packets_dropped, __ATOMIC_RELAXED);
		st.packets_ifdropped = 0;
	}
	ps->ps_recv = (u_int)st.packets_received;
	ps->ps_drop = (u_int)st.packets_dropped;
	ps->ps_ifdrop = (u_int)st.packets_ifdropped;
	return 0;
}

static void
mydev_cleanup(pcap_t *p)
{
	struct pcap_mydev *pm = p->priv;

	if (pm->session != NULL) {
		pm->api->close(pm->session);
		pm->session = NULL;
	}
	pcap_cleanup_live_common(p);
}

/* ------------------------------------------------------------ activate */

static int
mydev_activate(pcap_t *p)
{
	struct pcap_mydev *pm = p->priv;
	struct mydev_open_params params;
	int status = PCAP_ERROR, i;

	if (p->opt.rfmon) {
		/* Monitor mode does not apply to mydev devices. */
		mydev_cleanup(p);
		return PCAP_ERROR_RFMON_NOTSUP;
	}
	pm->api = mydev_load_api(p->errbuf);
	if (pm->api == NULL)
		goto fail;
	if (p->snapshot <= 0 || p->snapshot > MAXIMUM_SNAPLEN)
		p->snapshot = MAXIMUM_SNAPLEN;
	memset(&params, 0, sizeof(params));
	params.device = p->opt.device;
	params.snaplen = (uint32_t)p->snapshot;
	params.buffer_size = p->opt.buffer_size;
	params.promisc = p->opt.promisc;
	params.immediate = p->opt.immediate;
	params.timeout_ms = p->opt.timeout > 0 ? (uint32_t)p->opt.timeout : 0;
	params.nanosecond = p->opt.tstamp_precision == PCAP_TSTAMP_PRECISION_NANO;
	params.direction = (int)p->direction;
	pm->session = pm->api->open(&params, &pm->info, p->errbuf, &status);
	if (pm->session == NULL)
		goto fail;

	if (pm->info.snaplen > 0 && pm->info.snaplen < (uint32_t)p->snapshot)
		p->snapshot = (int)pm->info.snaplen;
	p->linktype = pm->info.dlt;
	if (pm->info.n_dlts > 0) {
		p->dlt_list = malloc(sizeof(u_int) * (size_t)pm->info.n_dlts);
		if (p->dlt_list == NULL) {
			pcap_fmt_errmsg_for_errno(p->errbuf, PCAP_ERRBUF_SIZE, errno, "malloc");
			status = PCAP_ERROR;
			goto fail;
		}
		for (i = 0; i < pm->info.n_dlts; i++)
			p->dlt_list[i] = (u_int)pm->info.dlts[i];
		p->dlt_count = pm->info.n_dlts;
	}
	/* The copy target of mydev_oneshot (pcap_next/pcap_next_ex). */
	p->bufsize = (u_int)p->snapshot;
	p->buffer = malloc(p->bufsize);
	if (p->buffer == NULL) {
		pcap_fmt_errmsg_for_errno(p->errbuf, PCAP_ERRBUF_SIZE, errno, "malloc");
		status = PCAP_ERROR;
		goto fail;
	}
	pm->nonblock = p->opt.nonblock;
	p->fd = -1;
	p->selectable_fd = pm->info.event_fd;
	mydev_arm_selectable(p);
	p->read_op = mydev_read;
	p->oneshot_callback = mydev_oneshot;
	p->breakloop_op = mydev_breakloop;
	p->inject_op = mydev_inject;
	p->setfilter_op = mydev_setfilter;
	p->setdirection_op = mydev_setdirection;
	p->set_datalink_op = mydev_set_datalink;
	p->getnonblock_op = mydev_getnonblock;
	p->setnonblock_op = mydev_setnonblock;
	p->stats_op = mydev_stats;
	p->cleanup_op = mydev_cleanup;
	return 0;

fail:
	/* libpcap does not call cleanup_op when activate fails. */
	mydev_cleanup(p);
	return status < 0 ? status : PCAP_ERROR;
}

/* ------------------------------------------------------------ registration */

/* "mydev" followed by one or more digits, nothing else. */
static int
mydev_is_our_name(const char *name)
{
	const char *s;

	if (strncmp(name, MYDEV_PREFIX, sizeof(MYDEV_PREFIX) - 1) != 0)
		return 0;
	s = name + sizeof(MYDEV_PREFIX) - 1;
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

pcap_t *
mydev_create(const char *device, char *errbuf, int *is_ours)
{
	pcap_t *p;

	*is_ours = mydev_is_our_name(device);
	if (!*is_ours)
		return NULL;
	p = PCAP_CREATE_COMMON(errbuf, struct pcap_mydev);
	if (p == NULL)
		return NULL;
	p->activate_op = mydev_activate;
	p->bpf_codegen_flags = 0;	/* the daemon filters in userland: VLAN tags stay */
	/* The ring carries nanoseconds: offer both precisions. */
	p->tstamp_precision_list = malloc(2 * sizeof(u_int));
	if (p->tstamp_precision_list == NULL) {
		pcap_fmt_errmsg_for_errno(errbuf, PCAP_ERRBUF_SIZE, errno, "malloc");
		pcap_close(p);
		return NULL;
	}
	p->tstamp_precision_list[0] = PCAP_TSTAMP_PRECISION_MICRO;
	p->tstamp_precision_list[1] = PCAP_TSTAMP_PRECISION_NANO;
	p->tstamp_precision_count = 2;
	return p;
}

int
mydev_findalldevs(pcap_if_list_t *devlistp, char *errbuf)
{
	struct mydev_device_desc devs[MYDEV_MAX_LISTED];
	const struct mydev_client_api *api;
	char ignored[PCAP_ERRBUF_SIZE];
	size_t n = 0, i;

	/*
	 * ListDevices without loading gRPC (mydev_list.c): `tcpdump -D` costs
	 * a connection and one small exchange, not ~60 shared libraries. No
	 * daemon, or an error: list nothing, never fail `tcpdump -D`. An answer
	 * the direct call does not understand: ask again through gRPC.
	 */
	switch (mydev_list_devices_lite(mydev_socket_path(), mydev_call_timeout_ms(),
	    devs, MYDEV_MAX_LISTED, &n, ignored)) {
	case 0:
		break;
	case MYDEV_LIST_NOT_UNDERSTOOD:
		api = mydev_load_api(ignored);
		if (api == NULL ||
		    api->list_devices(devs, MYDEV_MAX_LISTED, &n, ignored) != 0)
			return 0;
		break;
	default:
		return 0;
	}
	for (i = 0; i < n && i < MYDEV_MAX_LISTED; i++) {
		bpf_u_int32 flags = devs[i].pcap_flags;

		devs[i].name[sizeof(devs[i].name) - 1] = '\0';
		devs[i].description[sizeof(devs[i].description) - 1] = '\0';
		if (!mydev_is_our_name(devs[i].name))
			continue;
		/*
		 * Without PCAP_IF_RUNNING the figure of merit in pcap.c sorts
		 * these after every real interface, "any" and loopback, so
		 * tcpdump without -i never picks a mydev device by default.
		 */
		flags &= ~(bpf_u_int32)PCAP_IF_RUNNING;
		flags |= PCAP_IF_UP;
		if ((flags & PCAP_IF_CONNECTION_STATUS) == 0)
			flags |= PCAP_IF_CONNECTION_STATUS_NOT_APPLICABLE;
		if (add_dev(devlistp, devs[i].name, flags,
		    devs[i].description[0] != '\0' ? devs[i].description : NULL,
		    errbuf) == NULL)
			return PCAP_ERROR;
	}
	return 0;
}
