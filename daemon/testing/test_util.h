// test_util.h — small helpers the daemon's unit tests share (testonly).
//
//   SyntheticBackend b(TestDeviceInfo(), options);          // "mydev0", EN10MB
//   std::vector<bpf_insn> insns = CompileFilter("udp");      // via pcap_compile
#ifndef MYDEV_DAEMON_TESTING_TEST_UTIL_H_
#define MYDEV_DAEMON_TESTING_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <vector>

#include "absl/cleanup/cleanup.h"
#include "daemon/backends/backend.h"

namespace mydev::daemon {

// A synthetic device named "mydev0" offering DLT_EN10MB only.
inline DeviceInfo TestDeviceInfo() {
  DeviceInfo info;
  info.name = "mydev0";
  info.backend = "synthetic";
  info.dlts = {DLT_EN10MB};
  return info;
}

// The classic BPF libpcap compiles expr to for DLT_EN10MB (a test failure,
// and no instructions, when it does not compile).
inline std::vector<bpf_insn> CompileFilter(const char* expr) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
  absl::Cleanup close_dead = [dead] { pcap_close(dead); };
  bpf_program prog;
  const int rc = pcap_compile(dead, &prog, expr, 1, PCAP_NETMASK_UNKNOWN);
  EXPECT_EQ(rc, 0) << pcap_geterr(dead);
  if (rc != 0) return {};
  absl::Cleanup free_prog = [&prog] { pcap_freecode(&prog); };
  return std::vector<bpf_insn>(prog.bf_insns, prog.bf_insns + prog.bf_len);
}

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_TESTING_TEST_UTIL_H_
