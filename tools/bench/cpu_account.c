/* cpu_account.c — the CPU the whole machine spent while a command ran, in
 * nanoseconds of scheduler runtime, for benchmarks that divide it by the
 * packets delivered. Runs CMD (its stdout and stderr pass through), waits for
 * it, waits --tail-ms more (for readers still draining), then prints one line
 * of key=value to --out (default stderr):
 *
 *   cpu_account --bench-cgroup /sys/fs/cgroup/cpuacct/b1 --tail-ms 300 -- CMD ARGS...
 *   wall_ns=5301000000 machine_ns=6100000000 tasks_ns=6090000000 ... status=0
 *
 * The figures (every one less this program's own CPU time, self_ns):
 *   machine_ns  delta of the root cpuacct cgroup's cpuacct.usage: the sum of
 *               every task's runtime, exited tasks included, exact (ns) — the
 *               same counter (se.sum_exec_runtime) /proc/PID/schedstat shows.
 *   tasks_ns    the same from /proc/PID/task/TID/schedstat (first
 *               field): a snapshot at the start and at the end (and every
 *               --sample-ms, 0 = never, so that a task that exits between
 *               them is counted up to its last sample); a task present in
 *               both counts its delta, one that appeared counts all of its
 *               runtime, one that disappeared its delta up to the last
 *               sample. appeared= and gone= say how many; the runtime a gone
 *               task spent after its last sample, and tasks that came and went
 *               between samples, are missing here (machine_ns has them).
 *   kthread_ns  the part of tasks_ns in kernel threads (kthreadd's children:
 *               ksoftirqd, kworkers, ...).
 *   bench_ns    --bench-cgroup's cpuacct.usage delta plus kthread_ns: the
 *               benchmark's own processes (the caller puts them, and this
 *               program, in that cgroup)
 *               and the kernel's threads, without other users' work (e.g.
 *               compilers) — the figure to trust on a busy machine.
 *   stat_busy_ns  from /proc/stat (all CPUs' user+nice+system+irq+softirq+
 *               steal, USER_HZ ticks: coarse, sampled at the tick).
 * No IRQ_TIME_ACCOUNTING on the kernels this runs on: softirq work done in a
 * task's context (veth delivery in the sender's sendmmsg) is that task's
 * runtime, and so is counted.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROOT_CPUACCT "/sys/fs/cgroup/cpuacct/cpuacct.usage"

struct task {
  int tid;
  int kthread;   /* a kernel thread */
  int64_t first; /* runtime at the first snapshot; -1 = appeared later */
  int64_t last;  /* runtime at the latest snapshot it was seen in */
  int seen;      /* seen in the current snapshot */
};

static struct task* tasks;
static size_t ntasks, cap_tasks;

static int64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Reads a small file into buf; returns its length or -1. */
static ssize_t read_small(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return n;
}

static int64_t read_counter(const char* path) {
  char buf[64];
  if (path == NULL || read_small(path, buf, sizeof buf) <= 0) return -1;
  return strtoll(buf, NULL, 10);
}

/* Non-idle time of all CPUs from /proc/stat's first line, in ns. */
static int64_t stat_busy_ns(void) {
  char buf[512];
  if (read_small("/proc/stat", buf, sizeof buf) <= 0) return -1;
  unsigned long long v[10] = {0};
  if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
             &v[5], &v[6], &v[7]) < 8)
    return -1;
  /* user nice system [idle iowait] irq softirq steal */
  unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return (int64_t)(busy * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

static struct task* find_task(int tid) {
  for (size_t i = 0; i < ntasks; ++i)
    if (tasks[i].tid == tid) return &tasks[i];
  return NULL;
}

/* A process is a kernel thread when it is kthreadd (2) or its child. */
static int is_kthread(int pid) {
  if (pid == 2) return 1;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if (read_small(path, buf, sizeof buf) <= 0) return 0;
  const char* p = strrchr(buf, ')'); /* comm may hold spaces */
  int ppid = 0;
  char state;
  if (p == NULL || sscanf(p + 1, " %c %d", &state, &ppid) != 2) return 0;
  return ppid == 2;
}

/* One pass over /proc/PID/task/TID/schedstat. first: the starting snapshot. */
static void snapshot(int first) {
  for (size_t i = 0; i < ntasks; ++i) tasks[i].seen = 0;
  DIR* proc = opendir("/proc");
  if (proc == NULL) return;
  struct dirent* pe;
  while ((pe = readdir(proc)) != NULL) {
    if (!isdigit((unsigned char)pe->d_name[0])) continue;
    int pid = atoi(pe->d_name);
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR* td = opendir(path);
    if (td == NULL) continue;
    int kthread = -1;
    struct dirent* te;
    while ((te = readdir(td)) != NULL) {
      if (!isdigit((unsigned char)te->d_name[0])) continue;
      int tid = atoi(te->d_name);
      char buf[128];
      snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", pid, tid);
      if (read_small(path, buf, sizeof buf) <= 0) continue;
      int64_t run = strtoll(buf, NULL, 10);
      struct task* t = find_task(tid);
      if (t == NULL) {
        if (ntasks == cap_tasks) {
          cap_tasks = cap_tasks ? cap_tasks * 2 : 1024;
          tasks = realloc(tasks, cap_tasks * sizeof *tasks);
          if (tasks == NULL) abort();
        }
        if (kthread < 0) kthread = is_kthread(pid);
        t = &tasks[ntasks++];
        t->tid = tid;
        t->kthread = kthread;
        t->first = first ? run : -1;
      }
      t->last = run;
      t->seen = 1;
    }
    closedir(td);
  }
  closedir(proc);
}

static void usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s [--bench-cgroup DIR] [--tail-ms N] [--sample-ms N] [--out FILE] -- CMD...\n",
          argv0);
  exit(2);
}

int main(int argc, char** argv) {
  const char* cgroup = NULL;
  const char* out_path = NULL;
  int tail_ms = 0, sample_ms = 0, i;
  for (i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--")) {
      ++i;
      break;
    }
    if (i + 1 >= argc) usage(argv[0]);
    if (!strcmp(argv[i], "--bench-cgroup"))
      cgroup = argv[++i];
    else if (!strcmp(argv[i], "--tail-ms"))
      tail_ms = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--sample-ms"))
      sample_ms = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--out"))
      out_path = argv[++i];
    else
      usage(argv[0]);
  }
  if (i >= argc) usage(argv[0]);
  char bench_path[512] = "";
  if (cgroup != NULL) snprintf(bench_path, sizeof bench_path, "%s/cpuacct.usage", cgroup);

  const int64_t self0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  snapshot(1);
  const int64_t wall0 = now_ns(CLOCK_MONOTONIC);
  const int64_t machine0 = read_counter(ROOT_CPUACCT);
  const int64_t bench0 = read_counter(cgroup ? bench_path : NULL);
  const int64_t stat0 = stat_busy_ns();

  pid_t child = fork();
  if (child < 0) {
    perror("cpu_account: fork");
    return 1;
  }
  if (child == 0) {
    execvp(argv[i], &argv[i]);
    fprintf(stderr, "cpu_account: %s: %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  int status = 0;
  for (;;) {
    pid_t r = waitpid(child, &status, sample_ms > 0 ? WNOHANG : 0);
    if (r == child) break;
    if (r < 0 && errno != EINTR) {
      perror("cpu_account: waitpid");
      return 1;
    }
    if (sample_ms > 0) {
      struct timespec ts = {sample_ms / 1000, (long)(sample_ms % 1000) * 1000000};
      nanosleep(&ts, NULL);
      snapshot(0);
    }
  }
  if (tail_ms > 0) {
    struct timespec ts = {tail_ms / 1000, (long)(tail_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
  }
  const int64_t wall1 = now_ns(CLOCK_MONOTONIC);
  const int64_t machine1 = read_counter(ROOT_CPUACCT);
  const int64_t bench1 = read_counter(cgroup ? bench_path : NULL);
  const int64_t stat1 = stat_busy_ns();
  snapshot(0);
  const int64_t self = now_ns(CLOCK_PROCESS_CPUTIME_ID) - self0;

  int64_t tasks_ns = 0, kthread_ns = 0;
  int appeared = 0, gone = 0;
  for (size_t k = 0; k < ntasks; ++k) {
    const struct task* t = &tasks[k];
    int64_t d = t->last - (t->first >= 0 ? t->first : 0);
    if (t->first < 0) ++appeared;
    if (!t->seen) ++gone;
    tasks_ns += d;
    if (t->kthread) kthread_ns += d;
  }
  FILE* out = out_path ? fopen(out_path, "w") : stderr;
  if (out == NULL) {
    perror("cpu_account: --out");
    return 1;
  }
  fprintf(out, "wall_ns=%lld machine_ns=%lld tasks_ns=%lld kthread_ns=%lld bench_ns=%lld",
          (long long)(wall1 - wall0),
          (long long)(machine0 >= 0 && machine1 >= 0 ? machine1 - machine0 - self : -1),
          (long long)(tasks_ns - self), (long long)kthread_ns,
          (long long)(bench0 >= 0 && bench1 >= 0 ? bench1 - bench0 + kthread_ns - self : -1));
  fprintf(out, " stat_busy_ns=%lld self_ns=%lld tasks=%zu appeared=%d gone=%d status=%d\n",
          (long long)(stat0 >= 0 && stat1 >= 0 ? stat1 - stat0 : -1), (long long)self, ntasks,
          appeared, gone, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  if (out != stderr) fclose(out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
