// test_util.h — small helpers the daemon's unit tests share (testonly).
//
//   SyntheticBackend b(TestDeviceInfo(), options);          // "mydev0", EN10MB
//   std::vector<bpf_insn> insns = CompileFilter("udp");      // via pcap_compile
#ifndef MYDEV_DAEMON_TESTING_TEST_UTIL_H_
#define MYDEV_DAEMON_TESTING_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <vector>

#include "daemon/backends/backend.h"

namespace mydev::daemon {

// A synthetic device named "mydev0" offering DLT_EN10MB only.
inline DeviceInfo TestDeviceInfo() {
  DeviceInfo info;
  info.name = "mydev0";
  info.backend = "synthetic";
  info.dlts = {kDltEn10mb};
  return info;
}

// The classic BPF libpcap compiles expr to for DLT_EN10MB (a test failure
// when it does not compile).
inline std::vector<bpf_insn> CompileFilter(const char* expr) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
  bpf_program prog;
  EXPECT_EQ(pcap_compile(dead, &prog, expr, 1, PCAP_NETMASK_UNKNOWN), 0) << pcap_geterr(dead);
  std::vector<bpf_insn> v(prog.bf_insns, prog.bf_insns + prog.bf_len);
  pcap_freecode(&prog);
  pcap_close(dead);
  return v;
}

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_TESTING_TEST_UTIL_H_
