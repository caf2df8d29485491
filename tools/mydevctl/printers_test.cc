// printers_test.cc — the kv form keeps mydev-stats' lines byte for byte and
// appends the new fields; values with spaces are escaped; the json form is
// protobuf's mapping with only the sections asked for; the table has the
// new columns.
#include "tools/mydevctl/printers.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace mydev::ctl {
namespace {

mydev::v1::StatsSnapshot Example() {
  mydev::v1::StatsSnapshot s;
  s.set_time_ns(1700000000123456789);
  s.set_host("box");
  s.set_scope(mydev::v1::STATS_SCOPE_LOCAL);
  mydev::v1::DeviceStats* d = s.add_devices();
  d->set_name("mydev0");
  d->set_backend("synthetic");
  d->set_packets_seen(12);
  d->set_bytes_seen(3400);
  d->set_packets_ifdropped(1);
  d->set_sessions(1);
  d->set_state(mydev::v1::DEVICE_STATE_WAITING);
  d->set_state_detail("veth0 is down");
  d->set_dlt(1);
  d->set_promisc_sessions(0);
  d->set_kernel_filter(mydev::v1::KERNEL_FILTER_STATE_FALLBACK);
  d->set_kernel_filter_insns(1);
  d->set_kernel_filter_detail("too long");
  d->set_kernel_ring_bytes(33554432);
  mydev::v1::SessionStats* x = s.add_sessions();
  x->set_session_id(7);
  x->set_device("mydev0");
  x->set_uid(65534);
  x->set_pid(4242);
  x->set_packets_received(10);
  x->set_packets_dropped(2);
  x->set_packets_ifdropped(1);
  x->set_bytes_received(3000);
  x->set_ring_bytes(4194304);
  x->set_snaplen(262144);
  x->set_filter_set(true);
  x->set_comm("tcpdump");
  x->set_cmdline("tcpdump -i mydev0 udp");
  x->set_opened_time_ns(1699999999000000000);
  x->set_direction(mydev::v1::DIRECTION_IN);
  x->set_immediate(true);
  x->set_timeout_ms(1000);
  x->set_dlt(1);
  x->set_filter_insns(4);
  x->set_ring_fill_bytes(2048);
  x->set_ring_high_water_bytes(8192);
  x->set_wakeups(3);
  x->set_ring_members(2);
  return s;
}

// What mydev-stats printed for a device and a session (its printf formats).
std::string OldDeviceLine(const mydev::v1::DeviceStats& d) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "device name=%s backend=%s packets=%llu bytes=%llu ifdropped=%llu sessions=%u",
                d.name().c_str(), d.backend().c_str(), (unsigned long long)d.packets_seen(),
                (unsigned long long)d.bytes_seen(), (unsigned long long)d.packets_ifdropped(),
                d.sessions());
  return buf;
}

std::string OldSessionLine(const mydev::v1::SessionStats& x) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "session id=%llu device=%s uid=%u pid=%u received=%llu dropped=%llu "
                "ifdropped=%llu bytes=%llu ring=%llu snaplen=%u filter=%d",
                (unsigned long long)x.session_id(), x.device().c_str(), x.uid(), x.pid(),
                (unsigned long long)x.packets_received(), (unsigned long long)x.packets_dropped(),
                (unsigned long long)x.packets_ifdropped(), (unsigned long long)x.bytes_received(),
                (unsigned long long)x.ring_bytes(), x.snaplen(), x.filter_set() ? 1 : 0);
  return buf;
}

TEST(KvPrinterTest, KeepsMydevStatsLinesAndAppendsTheNewFields) {
  const mydev::v1::StatsSnapshot s = Example();
  EXPECT_EQ(
      FormatKv(s, Sections::kAll),
      OldDeviceLine(s.devices(0)) + " state=waiting dlt=1 promisc=0 detail=veth0%20is%20down" +
          " kernel_filter=fallback kernel_filter_insns=1 kernel_filter_detail=too%20long"
          " kernel_ring_bytes=33554432\n" +
          OldSessionLine(s.sessions(0)) +
          " comm=tcpdump opened_ns=1699999999000000000 direction=in immediate=1 "
          "timeout_ms=1000 dlt=1 filter_insns=4 promisc=0 ring_fill=2048 "
          "ring_high_water=8192 wakeups=3 ring_members=2 cmdline=tcpdump%20-i%20mydev0%20udp\n"
          "end time_ns=1700000000123456789 host=box scope=local\n");
}

TEST(KvPrinterTest, SectionsAndEmptyValues) {
  mydev::v1::StatsSnapshot s = Example();
  std::string devices = FormatKv(s, Sections::kDevices);
  EXPECT_EQ(devices.find("session "), std::string::npos);
  EXPECT_EQ(devices.rfind("device name=mydev0 ", 0), 0u);
  s.mutable_sessions(0)->clear_cmdline();
  std::string sessions = FormatKv(s, Sections::kSessions);
  EXPECT_EQ(sessions.rfind("session id=7 ", 0), 0u);
  EXPECT_NE(sessions.find(" cmdline=\n"), std::string::npos);
}

TEST(KvPrinterTest, EscapesWhatWouldSplitALine) {
  EXPECT_EQ(KvEscape("plain-name_0.sock"), "plain-name_0.sock");
  EXPECT_EQ(KvEscape("a b\tc%d=e"), "a%20b%09c%25d=e");
  EXPECT_EQ(KvEscape("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(KvEscape(""), "");
}

TEST(JsonPrinterTest, ProtobufMappingWithTheSectionsAsked) {
  const mydev::v1::StatsSnapshot s = Example();
  std::string all = FormatJson(s, Sections::kAll);
  EXPECT_EQ(all.back(), '\n');
  EXPECT_EQ(all.find('\n'), all.size() - 1) << "one line";
  EXPECT_NE(all.find("\"packets_seen\":\"12\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"cmdline\":\"tcpdump -i mydev0 udp\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"state\":\"DEVICE_STATE_WAITING\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"promisc_sessions\":0"), std::string::npos) << "zeros printed: " << all;
  std::string devices = FormatJson(s, Sections::kDevices);
  EXPECT_EQ(devices.find("session_id"), std::string::npos) << devices;
  std::string sessions = FormatJson(s, Sections::kSessions);
  EXPECT_EQ(sessions.find("packets_seen"), std::string::npos) << sessions;
  EXPECT_NE(sessions.find("\"session_id\":\"7\""), std::string::npos) << sessions;
}

TEST(TablePrinterTest, HasTheNewColumns) {
  std::string t = FormatTable(Example(), Sections::kAll, {"unix:/run/x.sock", false});
  EXPECT_NE(t.find("host box  target unix:/run/x.sock  scope local"), std::string::npos) << t;
  EXPECT_NE(t.find("waiting"), std::string::npos) << t;
  EXPECT_NE(t.find("veth0 is down; kernel filter: too long"), std::string::npos) << t;
  EXPECT_NE(t.find("KFILTER"), std::string::npos) << t;
  EXPECT_NE(t.find("fallback/1"), std::string::npos) << t;
  EXPECT_NE(t.find("65534"), std::string::npos) << "uids unresolved for remote: " << t;
  EXPECT_NE(t.find("16.67%"), std::string::npos) << "drop % = 2 / 12: " << t;
  EXPECT_NE(t.find("tcpdump -i mydev0 udp"), std::string::npos) << t;
  EXPECT_EQ(FormatTable(Example(), Sections::kDevices, {}).find("RECEIVED"), std::string::npos);
}

TEST(PrintersTest, ParsesFormats) {
  OutputFormat f;
  ASSERT_TRUE(ParseOutputFormat("json", &f));
  EXPECT_EQ(f, OutputFormat::kJson);
  ASSERT_TRUE(ParseOutputFormat("kv", &f));
  EXPECT_EQ(f, OutputFormat::kKv);
  EXPECT_FALSE(ParseOutputFormat("yaml", &f));
}

}  // namespace
}  // namespace mydev::ctl
