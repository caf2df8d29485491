// hostile_client.cc — a mydevd client that misbehaves on purpose, for
// tests/faults_e2e_test.py. Each invocation performs one named attack (or one
// well-behaved role: a reference reader, an idle reader, a session owner) and
// prints what happened as "key=value" lines; the test asserts on them.
//
//   hostile_client --socket S --attack reader --seconds 3
//     ready=1 session=7
//     received=5999 first_seq=1200 last_seq=7198 gaps=0 missing=0 noseq=0 ring_dropped=0 ...
//   hostile_client --socket S --attack bpf-div-zero
//     attack=bpf-div-zero code=INVALID_ARGUMENT message="..." after=OK
//
// Attacks: reader idle owner intruder bpf-* open-* set-datalink-unknown
// oversized-message token-forged token-stale token-reused ring-scribble
// fd-no-token fd-wrong-token fd-flood fd-silent churn session-limit
// conn-flood watch-flood open-timed
// (see Run() below for what each one does).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "proto/mydev.grpc.pb.h"
#include "base/unix_socket.h"
#include "shm/fd_passing.h"
#include "shm/ring_consumer.h"

namespace {

using mydev::v1::Capture;
namespace shm = mydev::shm;
using mydev::ConnectUnix;
using mydev::UniqueFd;

std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop.store(true); }

// Command line: --socket, --attack, and any --key value / --key=value.
std::map<std::string, std::string> g_flags;

std::string Flag(const std::string& k, const std::string& dflt = "") {
  auto it = g_flags.find(k);
  return it == g_flags.end() ? dflt : it->second;
}
long long IntFlag(const std::string& k, long long dflt) {
  auto it = g_flags.find(k);
  return it == g_flags.end() ? dflt : std::stoll(it->second, nullptr, 0);
}

const char* CodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "CODE_UNKNOWN";
  }
}

// Quotes a message for a key="value" field (no newlines, no double quotes).
std::string Quote(std::string s) {
  for (char& ch : s)
    if (ch == '"' || ch == '\n') ch = '\'';
  return "\"" + s + "\"";
}

void Print(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string Hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : bytes) {
    out += d[ch >> 4];
    out += d[ch & 15];
  }
  return out;
}

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::string RandomBytes(size_t n) {
  static std::mt19937_64 rng(std::random_device{}());
  std::string s(n, '\0');
  for (char& ch : s) ch = static_cast<char>(rng());
  return s;
}

std::string Socket() { return Flag("socket", "/run/mydevd/mydevd.sock"); }

std::unique_ptr<Capture::Stub> NewStub() {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  return Capture::NewStub(
      grpc::CreateCustomChannel("unix:" + Socket(), grpc::InsecureChannelCredentials(), args));
}

template <typename Req, typename Resp>
grpc::Status Call(grpc::Status (Capture::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  Capture::Stub* stub, const Req& req, Resp* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return (stub->*method)(&ctx, req, resp);
}

mydev::v1::OpenSessionRequest DefaultOpen() {
  mydev::v1::OpenSessionRequest r;
  r.set_device(Flag("device", "mydev0"));
  r.set_buffer_size(IntFlag("buffer", 0));
  r.set_timeout_ms(static_cast<uint32_t>(IntFlag("timeout", 20)));
  r.set_snaplen(static_cast<uint32_t>(IntFlag("snaplen", 0)));
  return r;
}

grpc::Status Open(Capture::Stub* stub, const mydev::v1::OpenSessionRequest& req,
                  mydev::v1::OpenSessionResponse* resp) {
  return Call(&Capture::Stub::OpenSession, stub, req, resp);
}

mydev::v1::SessionRef Ref(uint64_t id, const std::string& token) {
  mydev::v1::SessionRef r;
  r.set_session_id(id);
  r.set_token(token);
  return r;
}

mydev::v1::SessionRef Ref(const mydev::v1::OpenSessionResponse& o) {
  return Ref(o.session_id(), o.token());
}

grpc::Status GetStats(Capture::Stub* stub, const mydev::v1::SessionRef& ref,
                      mydev::v1::SessionStats* out) {
  mydev::v1::GetSessionStatsRequest req;
  *req.mutable_session() = ref;
  return Call(&Capture::Stub::GetSessionStats, stub, req, out);
}

grpc::Status CloseSession(Capture::Stub* stub, const mydev::v1::SessionRef& ref) {
  mydev::v1::CloseSessionRequest req;
  *req.mutable_session() = ref;
  mydev::v1::CloseSessionResponse resp;
  return Call(&Capture::Stub::CloseSession, stub, req, &resp);
}

grpc::Status ListDevices(Capture::Stub* stub) {
  mydev::v1::ListDevicesRequest req;
  mydev::v1::ListDevicesResponse resp;
  return Call(&Capture::Stub::ListDevices, stub, req, &resp);
}

// An attached session: its fd socket (kept open = session alive) and ring.
struct Attached {
  UniqueFd sock;
  UniqueFd event;
  UniqueFd ring_fd;
  shm::MappedRing ring;
};

std::optional<Attached> Attach(const mydev::v1::OpenSessionResponse& o, std::string* error) {
  absl::StatusOr<UniqueFd> sock = ConnectUnix(o.fd_socket());
  if (!sock.ok()) {
    *error = sock.status().ToString();
    return std::nullopt;
  }
  shm::HandoffRequest req;
  req.session_id = o.session_id();
  std::memcpy(req.token.data(), o.token().data(), std::min(o.token().size(), req.token.size()));
  absl::StatusOr<shm::ReceivedFds> fds = shm::RequestFds(sock->get(), req, 5000);
  if (!fds.ok()) {
    *error = fds.status().ToString();
    return std::nullopt;
  }
  absl::StatusOr<shm::MappedRing> ring = shm::MapRingForReading(fds->ring.get(), fds->ctl.get());
  if (!ring.ok()) {
    *error = ring.status().ToString();
    return std::nullopt;
  }
  Attached a;
  a.sock = std::move(*sock);
  a.event = std::move(fds->event);
  a.ring_fd = std::move(fds->ring);
  a.ring = std::move(*ring);
  return a;
}

// Waits up to timeout_ms for a readable socket; returns bytes read (0 = EOF),
// -1 on error, -2 on timeout. Any fds that come along are closed.
ssize_t RecvWithTimeout(int fd, void* buf, size_t n, int timeout_ms) {
  pollfd p = {fd, POLLIN, 0};
  int r = poll(&p, 1, timeout_ms);
  if (r == 0) return -2;
  if (r < 0) return -1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 8)];
  iovec iov = {buf, n};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  ssize_t got = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
  if (got > 0)
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int nfd = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < nfd; ++i) close(reinterpret_cast<int*>(CMSG_DATA(c))[i]);
      }
  return got;
}

// Speaks the fd hand-off by hand: sends `request` raw, returns the daemon's
// status word (0 = ok and fds came), or -1 when the daemon hung up without a
// reply, -2 on timeout.
int RawHandoff(const std::string& path, const std::string& request) {
  absl::StatusOr<UniqueFd> sock = ConnectUnix(path);
  if (!sock.ok()) return -3;
  if (send(sock->get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return -1;
  uint8_t in[4];
  size_t have = 0;
  while (have < sizeof in) {
    ssize_t n = RecvWithTimeout(sock->get(), in + have, sizeof in - have, 3000);
    if (n == -2) return -2;
    if (n <= 0) return -1;
    have += n;
  }
  return static_cast<int32_t>(in[0] | in[1] << 8 | in[2] << 16 | static_cast<uint32_t>(in[3]) << 24);
}

std::string HandoffBytes(uint64_t id, const std::string& token) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(id >> (8 * i));
  std::string t = token;
  t.resize(shm::kTokenBytes, '\0');
  return out + t;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SleepUntilStopped(double seconds) {
  const int64_t end = NowMs() + static_cast<int64_t>(seconds * 1000);
  while (!g_stop.load() && NowMs() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// The sequence number the synthetic generator puts in every frame.
std::optional<uint64_t> SeqOf(const uint8_t* data, uint32_t caplen) {
  static const char kMagic[] = "MYDEVSEQ";
  const void* at = memmem(data, caplen, kMagic, 8);
  if (at == nullptr) return std::nullopt;
  size_t off = static_cast<const uint8_t*>(at) - data;
  if (off + 16 > caplen) return std::nullopt;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | data[off + 8 + i];
  return v;
}

// ------------------------------------------------------------ well-behaved roles

// Opens and attaches, printing "ready=1 session=N"; exits 1 on failure.
std::optional<std::pair<mydev::v1::OpenSessionResponse, Attached>> OpenAttached(
    Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  grpc::Status st = Open(stub, DefaultOpen(), &o);
  if (!st.ok()) {
    Print("ready=0 code=" + std::string(CodeName(st.error_code())) + " message=" +
          Quote(st.error_message()));
    return std::nullopt;
  }
  std::string err;
  std::optional<Attached> a = Attach(o, &err);
  if (!a) {
    Print("ready=0 attach_error=" + Quote(err));
    return std::nullopt;
  }
  Print("ready=1 session=" + std::to_string(o.session_id()) + " token=" + Hex(o.token()));
  return std::make_pair(std::move(o), std::move(*a));
}

void PrintFinalStats(Capture::Stub* stub, const mydev::v1::OpenSessionResponse& o,
                     const Attached& a) {
  mydev::v1::SessionStats s;
  grpc::Status st = GetStats(stub, Ref(o), &s);
  const mydev_ring_header* h = a.ring.header();
  Print("stats_code=" + std::string(CodeName(st.error_code())) +
        " stats_received=" + std::to_string(s.packets_received()) +
        " stats_dropped=" + std::to_string(s.packets_dropped()) +
        " ring_received=" + std::to_string(__atomic_load_n(&h->packets_received, __ATOMIC_RELAXED)) +
        " ring_dropped=" + std::to_string(__atomic_load_n(&h->packets_dropped, __ATOMIC_RELAXED)) +
        " ring_closed=" + std::to_string(__atomic_load_n(&h->state, __ATOMIC_ACQUIRE)) +
        " close_reason=" + std::to_string(h->close_reason));
}

// Reads every packet for --seconds (or until SIGTERM/SIGINT, or the daemon
// closes the ring) and checks the sequence numbers are consecutive.
int Reader(Capture::Stub* stub) {
  auto s = OpenAttached(stub);
  if (!s) return 1;
  auto& [o, a] = *s;
  const int64_t end = NowMs() + static_cast<int64_t>(std::stod(Flag("seconds", "3600")) * 1000);
  uint64_t received = 0, gaps = 0, missing = 0, noseq = 0, backwards = 0;
  std::optional<uint64_t> first, last;
  mydev_ring_view* v = a.ring.view();
  bool closed = false;
  auto drain = [&] {
    while (const mydev_ring_record* r = mydev_ring_next(v)) {
      ++received;
      std::optional<uint64_t> seq = SeqOf(mydev_ring_record_data(r), r->caplen);
      if (!seq) {
        ++noseq;
        continue;
      }
      if (!first) first = seq;
      if (last && *seq != *last + 1) {
        ++gaps;
        if (*seq > *last) missing += *seq - *last - 1;
        else ++backwards;
      }
      last = seq;
    }
    mydev_ring_release(v);
  };
  while (!g_stop.load() && NowMs() < end) {
    drain();
    if (v->corrupt) break;
    if (mydev_ring_closed(v)) {
      drain();
      closed = true;
      break;
    }
    absl::StatusOr<bool> w = shm::WaitForData(a.ring, a.event.get(), 50);
    if (!w.ok()) break;
  }
  drain();
  Print("received=" + std::to_string(received) + " first_seq=" +
        std::to_string(first.value_or(0)) + " last_seq=" + std::to_string(last.value_or(0)) +
        " gaps=" + std::to_string(gaps) + " missing=" + std::to_string(missing) +
        " backwards=" + std::to_string(backwards) + " noseq=" + std::to_string(noseq) +
        " corrupt=" + std::to_string(v->corrupt) + " closed=" + std::to_string(closed));
  PrintFinalStats(stub, o, a);
  return 0;
}

// Opens and attaches (printing its id and token, for an intruder), then never
// reads until stopped; at the end prints its session's stats. The roles
// `idle` (its ring fills up) and `owner` (the session must survive an
// intruder) both run this.
int HoldSession(Capture::Stub* stub) {
  auto s = OpenAttached(stub);
  if (!s) return 1;
  SleepUntilStopped(std::stod(Flag("seconds", "3600")));
  PrintFinalStats(stub, s->first, s->second);
  return 0;
}

// Another uid, given an owner's session id and token, tries everything.
int Intruder(Capture::Stub* stub) {
  const uint64_t id = IntFlag("session", 0);
  const std::string token = Unhex(Flag("token"));
  const mydev::v1::SessionRef ref = Ref(id, token);
  auto report = [](const char* call, const grpc::Status& st) {
    Print(std::string("call=") + call + " code=" + CodeName(st.error_code()) +
          " message=" + Quote(st.error_message()));
  };
  {
    mydev::v1::SessionStats out;
    report("stats", GetStats(stub, ref, &out));
  }
  {
    mydev::v1::SetFilterRequest req;
    *req.mutable_session() = ref;
    auto* insn = req.add_insns();
    insn->set_code(0x06);  // BPF_RET|BPF_K 0: drop everything
    mydev::v1::SetFilterResponse resp;
    report("filter", Call(&Capture::Stub::SetFilter, stub, req, &resp));
  }
  {
    mydev::v1::SetDirectionRequest req;
    *req.mutable_session() = ref;
    req.set_direction(mydev::v1::DIRECTION_OUT);
    mydev::v1::SetDirectionResponse resp;
    report("direction", Call(&Capture::Stub::SetDirection, stub, req, &resp));
  }
  {
    mydev::v1::SetDataLinkRequest req;
    *req.mutable_session() = ref;
    req.set_dlt(1);
    mydev::v1::SetDataLinkResponse resp;
    report("datalink", Call(&Capture::Stub::SetDataLink, stub, req, &resp));
  }
  {
    mydev::v1::InjectRequest req;
    *req.mutable_session() = ref;
    req.set_packet(std::string(60, '\xff'));
    mydev::v1::InjectResponse resp;
    report("inject", Call(&Capture::Stub::Inject, stub, req, &resp));
  }
  report("close", CloseSession(stub, ref));
  int fds = RawHandoff(Flag("socket") + ".fds", HandoffBytes(id, token));
  Print("call=fds reply=" + std::to_string(fds));
  return 0;
}

// ------------------------------------------------------------ hostile input

// Opens a session, sets a filter, reports the code, and checks the session is
// unchanged (still there, no filter).
int BadFilter(Capture::Stub* stub, const std::string& name,
              const std::vector<std::array<uint32_t, 4>>& prog) {
  mydev::v1::OpenSessionResponse o;
  grpc::Status st = Open(stub, DefaultOpen(), &o);
  if (!st.ok()) {
    Print("attack=" + name + " open_code=" + CodeName(st.error_code()));
    return 1;
  }
  mydev::v1::SetFilterRequest req;
  *req.mutable_session() = Ref(o);
  for (const auto& i : prog) {
    auto* insn = req.add_insns();
    insn->set_code(i[0]);
    insn->set_jt(i[1]);
    insn->set_jf(i[2]);
    insn->set_k(i[3]);
  }
  mydev::v1::SetFilterResponse resp;
  st = Call(&Capture::Stub::SetFilter, stub, req, &resp);
  mydev::v1::SessionStats s;
  grpc::Status after = GetStats(stub, Ref(o), &s);
  Print("attack=" + name + " insns=" + std::to_string(prog.size()) + " code=" +
        CodeName(st.error_code()) + " message=" + Quote(st.error_message()) +
        " after=" + CodeName(after.error_code()) + " filter_set=" + std::to_string(s.filter_set()));
  CloseSession(stub, Ref(o));
  return 0;
}

// Opens with one field set to an absurd value.
int BadOpen(Capture::Stub* stub, const std::string& name,
            const std::function<void(mydev::v1::OpenSessionRequest*)>& mutate) {
  mydev::v1::OpenSessionRequest req = DefaultOpen();
  mutate(&req);
  mydev::v1::OpenSessionResponse o;
  grpc::Status st = Open(stub, req, &o);
  std::string line = "attack=" + name + " code=" + CodeName(st.error_code()) +
                     " message=" + Quote(st.error_message());
  if (st.ok()) {
    line += " snaplen=" + std::to_string(o.snaplen()) + " ring_bytes=" +
            std::to_string(o.ring_bytes());
    // An accepted session must still work: attach and see packets.
    std::string err;
    std::optional<Attached> a = Attach(o, &err);
    uint64_t got = 0;
    if (a) {
      const int64_t end = NowMs() + 1000;
      while (got == 0 && NowMs() < end) {
        while (mydev_ring_next(a->ring.view()) != nullptr) ++got;
        mydev_ring_release(a->ring.view());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    line += " attached=" + std::to_string(a.has_value()) + " packets=" + std::to_string(got);
    CloseSession(stub, Ref(o));
  }
  line += std::string(" after=") + CodeName(ListDevices(stub).error_code());
  Print(line);
  return 0;
}

int SetDataLinkUnknown(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  mydev::v1::SetDataLinkRequest req;
  *req.mutable_session() = Ref(o);
  req.set_dlt(static_cast<int32_t>(IntFlag("dlt", 12345)));
  mydev::v1::SetDataLinkResponse resp;
  grpc::Status st = Call(&Capture::Stub::SetDataLink, stub, req, &resp);
  mydev::v1::SessionStats s;
  Print("attack=set-datalink-unknown code=" + std::string(CodeName(st.error_code())) +
        " message=" + Quote(st.error_message()) + " after=" +
        CodeName(GetStats(stub, Ref(o), &s).error_code()));
  CloseSession(stub, Ref(o));
  return 0;
}

// A request bigger than the daemon's max_message_bytes (--bytes).
int OversizedMessage(Capture::Stub* stub) {
  const size_t bytes = IntFlag("bytes", 8 << 20);
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  std::string err;
  std::optional<Attached> attached = Attach(o, &err);  // not reaped meanwhile
  mydev::v1::InjectRequest inj;
  *inj.mutable_session() = Ref(o);
  inj.set_packet(std::string(bytes, 'x'));
  mydev::v1::InjectResponse inj_resp;
  grpc::Status a = Call(&Capture::Stub::Inject, stub, inj, &inj_resp);
  mydev::v1::SetFilterRequest f;
  *f.mutable_session() = Ref(o);
  while (f.ByteSizeLong() <= bytes) {
    auto* insn = f.add_insns();
    insn->set_code(0x06);
    insn->set_k(0xffffffffu);
  }
  mydev::v1::SetFilterResponse f_resp;
  grpc::Status b = Call(&Capture::Stub::SetFilter, stub, f, &f_resp);
  mydev::v1::OpenSessionRequest open = DefaultOpen();
  open.set_device(std::string(bytes, 'd'));
  mydev::v1::OpenSessionResponse open_resp;
  grpc::Status c = Open(stub, open, &open_resp);
  mydev::v1::SessionStats s;
  Print("attack=oversized-message bytes=" + std::to_string(bytes) +
        " inject_code=" + CodeName(a.error_code()) + " filter_code=" + CodeName(b.error_code()) +
        " open_code=" + CodeName(c.error_code()) + " message=" + Quote(a.error_message()) +
        " after=" + CodeName(GetStats(stub, Ref(o), &s).error_code()));
  CloseSession(stub, Ref(o));
  return 0;
}

int TokenForged(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  mydev::v1::SessionStats s;
  std::string line = "attack=token-forged";
  line += std::string(" random_token=") +
          CodeName(GetStats(stub, Ref(o.session_id(), RandomBytes(32)), &s).error_code());
  std::string flipped = o.token();
  flipped[31] ^= 1;
  line += std::string(" one_bit_off=") +
          CodeName(GetStats(stub, Ref(o.session_id(), flipped), &s).error_code());
  line += std::string(" empty_token=") +
          CodeName(GetStats(stub, Ref(o.session_id(), ""), &s).error_code());
  line += std::string(" long_token=") +
          CodeName(GetStats(stub, Ref(o.session_id(), o.token() + "x"), &s).error_code());
  line += std::string(" unknown_id=") +
          CodeName(GetStats(stub, Ref(o.session_id() + 100000, o.token()), &s).error_code());
  line += std::string(" close_forged=") +
          CodeName(CloseSession(stub, Ref(o.session_id(), RandomBytes(32))).error_code());
  line += " fds_forged=" + std::to_string(RawHandoff(
                               o.fd_socket(), HandoffBytes(o.session_id(), RandomBytes(32))));
  line += std::string(" after=") + CodeName(GetStats(stub, Ref(o), &s).error_code());
  Print(line);
  CloseSession(stub, Ref(o));
  return 0;
}

int TokenStale(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  std::string err;
  std::optional<Attached> a = Attach(o, &err);
  std::string line = "attack=token-stale attached=" + std::to_string(a.has_value());
  line += std::string(" close=") + CodeName(CloseSession(stub, Ref(o)).error_code());
  const int64_t t0 = NowMs();
  mydev::v1::SessionStats s;
  line += std::string(" stats=") + CodeName(GetStats(stub, Ref(o), &s).error_code());
  mydev::v1::SetFilterRequest f;
  *f.mutable_session() = Ref(o);
  mydev::v1::SetFilterResponse fr;
  line += std::string(" filter=") +
          CodeName(Call(&Capture::Stub::SetFilter, stub, f, &fr).error_code());
  line += std::string(" close_again=") + CodeName(CloseSession(stub, Ref(o)).error_code());
  line += " fds=" + std::to_string(RawHandoff(o.fd_socket(), HandoffBytes(o.session_id(), o.token())));
  if (a) {
    char b;
    ssize_t n = RecvWithTimeout(a->sock.get(), &b, 1, 3000);
    line += " fd_socket_closed=" + std::to_string(n == 0) +
            " fd_socket_closed_ms=" + std::to_string(NowMs() - t0);
  }
  Print(line);
  return 0;
}

int TokenReused(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  std::string err;
  std::optional<Attached> a = Attach(o, &err);
  std::string line = "attack=token-reused attached=" + std::to_string(a.has_value());
  line += " second_fds=" +
          std::to_string(RawHandoff(o.fd_socket(), HandoffBytes(o.session_id(), o.token())));
  line += " third_fds=" +
          std::to_string(RawHandoff(o.fd_socket(), HandoffBytes(o.session_id(), o.token())));
  uint64_t got = 0;
  if (a) {
    const int64_t end = NowMs() + 1000;
    while (got == 0 && NowMs() < end) {
      while (mydev_ring_next(a->ring.view()) != nullptr) ++got;
      mydev_ring_release(a->ring.view());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  mydev::v1::SessionStats s;
  line += " first_still_reads=" + std::to_string(got > 0) +
          " after=" + CodeName(GetStats(stub, Ref(o), &s).error_code());
  Print(line);
  CloseSession(stub, Ref(o));
  return 0;
}

// Writes garbage into every byte of the mappings it can write (the ctl page)
// for --seconds, and tries to get write access to the ring.
int RingScribble(Capture::Stub* stub) {
  auto s = OpenAttached(stub);
  if (!s) return 1;
  auto& [o, a] = *s;
  const size_t ring_bytes = a.ring.ring_map_bytes();
  std::string line = "attack=ring-scribble";
  auto err = [](int rc) { return rc == 0 ? std::string("0") : std::string(strerrorname_np(errno)); };
  // 1. Upgrade the read-only mapping.
  line += " mprotect_write=" +
          err(mprotect(const_cast<void*>(a.ring.ring_map()), ring_bytes, PROT_READ | PROT_WRITE));
  // 2. A new writable shared mapping of the ring memfd.
  void* w = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, a.ring_fd.get(), 0);
  line += " mmap_write=" + (w == MAP_FAILED ? std::string(strerrorname_np(errno)) : "0");
  if (w != MAP_FAILED) munmap(w, ring_bytes);
  // 3. A read-only shared mapping, then mprotect it writable.
  void* r = mmap(nullptr, ring_bytes, PROT_READ, MAP_SHARED, a.ring_fd.get(), 0);
  if (r != MAP_FAILED) {
    line += " mmap_read_then_mprotect=" + err(mprotect(r, ring_bytes, PROT_READ | PROT_WRITE));
    munmap(r, ring_bytes);
  }
  // 4. write(2), ftruncate, reopen via /proc for writing, remove the seals.
  const char junk[64] = {1};
  line += " pwrite=" + std::string(pwrite(a.ring_fd.get(), junk, sizeof junk, 4096) < 0
                                       ? strerrorname_np(errno) : "0");
  line += " ftruncate_shrink=" + err(ftruncate(a.ring_fd.get(), 4096));
  line += " ftruncate_grow=" + err(ftruncate(a.ring_fd.get(), ring_bytes * 2));
  std::string proc = "/proc/self/fd/" + std::to_string(a.ring_fd.get());
  int rw = open(proc.c_str(), O_RDWR);
  line += " reopen_rdwr=" + std::string(rw < 0 ? strerrorname_np(errno) : "0");
  if (rw >= 0) {
    void* w2 = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    line += " reopen_mmap_write=" + (w2 == MAP_FAILED ? std::string(strerrorname_np(errno)) : "0");
    if (w2 != MAP_FAILED) munmap(w2, ring_bytes);
    line += " reopen_pwrite=" + std::string(pwrite(rw, junk, sizeof junk, 4096) < 0
                                                ? strerrorname_np(errno) : "0");
    close(rw);
  }
  // 5. Scribble on the ctl page.
  auto* ctl = static_cast<uint8_t*>(a.ring.ctl_map());
  auto* c = reinterpret_cast<volatile uint64_t*>(ctl);
  const mydev_ring_header* h = a.ring.header();
  std::mt19937_64 rng(std::random_device{}());
  const int64_t end = NowMs() + static_cast<int64_t>(std::stod(Flag("seconds", "2")) * 1000);
  uint64_t writes = 0;
  const uint64_t eventfd_one = 1;
  while (!g_stop.load() && NowMs() < end) {
    const uint64_t prod = __atomic_load_n(&h->producer_pos, __ATOMIC_ACQUIRE);
    const uint64_t values[] = {~0ull, 0, rng(), prod + 1, prod + (1ull << 40), prod - 1,
                               prod - h->data_bytes - 8, prod - h->data_bytes * 3, prod, 1ull << 63};
    for (uint64_t v : values) {
      c[0] = v;  // consumer_pos
      ++writes;
    }
    for (size_t i = 0; i < MYDEV_RING_CTL_BYTES / 8; ++i) {  // every byte of the page
      c[i] = rng();
      ++writes;
    }
    (void)!write(a.event.get(), &eventfd_one, sizeof eventfd_one);
    if ((writes & 0xfff) < 600) std::this_thread::yield();
  }
  mydev::v1::SessionStats st;
  grpc::Status after = GetStats(stub, Ref(o), &st);
  line += " writes=" + std::to_string(writes) + " after=" + CodeName(after.error_code()) +
          " session_received=" + std::to_string(st.packets_received()) +
          " session_dropped=" + std::to_string(st.packets_dropped());
  Print(line);
  return 0;
}

// ------------------------------------------------------------ fd socket abuse

std::string FdSocket() { return Flag("socket") + ".fds"; }

int FdNoToken() {
  const int n = static_cast<int>(IntFlag("n", 200));
  int connected = 0;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<UniqueFd> s = ConnectUnix(FdSocket());
    if (s.ok()) ++connected;
  }
  Print("attack=fd-no-token tries=" + std::to_string(n) + " connected=" + std::to_string(connected));
  return 0;
}

int FdWrongToken(Capture::Stub* stub) {
  mydev::v1::OpenSessionResponse o;
  if (!Open(stub, DefaultOpen(), &o).ok()) return 1;
  std::string line = "attack=fd-wrong-token";
  line += " wrong_token=" +
          std::to_string(RawHandoff(FdSocket(), HandoffBytes(o.session_id(), RandomBytes(32))));
  line += " unknown_session=" +
          std::to_string(RawHandoff(FdSocket(), HandoffBytes(o.session_id() + 99999, o.token())));
  line += " short_request=" + std::to_string(RawHandoff(FdSocket(), std::string(10, 'x')));
  line += " long_request=" +
          std::to_string(RawHandoff(FdSocket(), HandoffBytes(o.session_id(), o.token()) + "extra"));
  // The real owner can still attach after all that.
  std::string err;
  std::optional<Attached> a = Attach(o, &err);
  line += " owner_attach=" + std::to_string(a.has_value());
  Print(line);
  CloseSession(stub, Ref(o));
  return 0;
}

// --n connections at once, held while a real client attaches, then half send
// garbage and all close.
int FdFlood(Capture::Stub* stub) {
  const int n = static_cast<int>(IntFlag("n", 500));
  std::vector<UniqueFd> conns;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<UniqueFd> s = ConnectUnix(FdSocket());
    if (s.ok()) conns.push_back(std::move(*s));
  }
  const int64_t t0 = NowMs();
  mydev::v1::OpenSessionResponse o;
  grpc::Status st = Open(stub, DefaultOpen(), &o);
  std::string err;
  std::optional<Attached> a;
  if (st.ok()) a = Attach(o, &err);
  const int64_t attach_ms = NowMs() - t0;
  for (size_t i = 0; i < conns.size(); i += 2) {
    std::string junk = RandomBytes(40);
    (void)!send(conns[i].get(), junk.data(), junk.size(), MSG_NOSIGNAL);
  }
  conns.clear();
  Print("attack=fd-flood connected=" + std::to_string(n) +
        " attach_during_flood=" + std::to_string(a.has_value()) +
        " attach_ms=" + std::to_string(attach_ms) + " error=" + Quote(err));
  if (st.ok()) CloseSession(stub, Ref(o));
  return 0;
}

// Connects and never speaks: how long until the daemon hangs up?
int FdSilent() {
  absl::StatusOr<UniqueFd> s = ConnectUnix(FdSocket());
  if (!s.ok()) return 1;
  const int64_t t0 = NowMs();
  char b;
  ssize_t n = RecvWithTimeout(s->get(), &b, 1, static_cast<int>(IntFlag("wait_ms", 10000)));
  Print("attack=fd-silent dropped=" + std::to_string(n == 0 || n == -1) +
        " dropped_after_ms=" + std::to_string(NowMs() - t0));
  return 0;
}

// ------------------------------------------------------------ exhaustion

// --n sessions opened and closed: alternately by CloseSession (unattached)
// and by attaching and then hanging up the fd socket.
int Churn(Capture::Stub* stub) {
  const int n = static_cast<int>(IntFlag("n", 2000));
  int opened = 0, by_rpc = 0, by_hangup = 0, retries = 0, failures = 0;
  const int64_t t0 = NowMs();
  for (int i = 0; i < n && !g_stop.load(); ++i) {
    mydev::v1::OpenSessionResponse o;
    grpc::Status st;
    for (int attempt = 0; attempt < 500; ++attempt) {
      st = Open(stub, DefaultOpen(), &o);
      if (st.error_code() != grpc::RESOURCE_EXHAUSTED) break;
      ++retries;  // hung-up sessions are freed asynchronously
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!st.ok()) {
      ++failures;
      Print("churn_error=" + std::string(CodeName(st.error_code())) + " message=" +
            Quote(st.error_message()));
      continue;
    }
    ++opened;
    if (i % 2 == 0) {
      if (CloseSession(stub, Ref(o)).ok()) ++by_rpc;
      else ++failures;
    } else {
      std::string err;
      std::optional<Attached> a = Attach(o, &err);
      if (a) ++by_hangup;
      else ++failures;
    }  // a goes out of scope: fd socket closed, rings unmapped
  }
  Print("attack=churn opened=" + std::to_string(opened) + " closed_rpc=" + std::to_string(by_rpc) +
        " closed_hangup=" + std::to_string(by_hangup) + " retries=" + std::to_string(retries) +
        " failures=" + std::to_string(failures) + " elapsed_ms=" + std::to_string(NowMs() - t0));
  return 0;
}

// Opens sessions until refused; reports how many and the code; closes them;
// then one more open must work.
int SessionLimit(Capture::Stub* stub) {
  const int n = static_cast<int>(IntFlag("n", 100));
  std::vector<mydev::v1::OpenSessionResponse> open;
  grpc::Status st;
  for (int i = 0; i < n; ++i) {
    mydev::v1::OpenSessionResponse o;
    st = Open(stub, DefaultOpen(), &o);
    if (!st.ok()) break;
    open.push_back(o);
  }
  for (const auto& o : open) CloseSession(stub, Ref(o));
  mydev::v1::OpenSessionResponse again;
  grpc::Status after = Open(stub, DefaultOpen(), &again);
  if (after.ok()) CloseSession(stub, Ref(again));
  Print("attack=session-limit opened=" + std::to_string(open.size()) + " code=" +
        CodeName(st.error_code()) + " message=" + Quote(st.error_message()) +
        " after_close=" + CodeName(after.error_code()));
  return 0;
}

// ------------------------------------------------------------ gRPC socket floods

// Opens --n idle connections to the gRPC socket (no HTTP/2 preface, never
// speaks), notes how many the daemon closed at once, prints
// "ready=1 ... held=H refused=R", then holds the rest until SIGTERM or
// --seconds; before letting go, tries one OpenSession of its own.
int ConnFlood(Capture::Stub* stub) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const int n = static_cast<int>(IntFlag("n", 1100));
  std::vector<UniqueFd> conns;
  int connect_errors = 0;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<UniqueFd> s = ConnectUnix(Socket());
    if (s.ok()) conns.push_back(std::move(*s));
    else ++connect_errors;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(IntFlag("settle_ms", 500)));
  int refused = 0, held = 0;
  for (auto& c : conns) {
    pollfd p = {c.get(), POLLRDHUP, 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP))) {
      ++refused;
      c.reset();
    } else {
      ++held;
    }
  }
  Print("ready=1 attack=conn-flood tried=" + std::to_string(n) + " connect_errors=" +
        std::to_string(connect_errors) + " held=" + std::to_string(held) +
        " refused=" + std::to_string(refused));
  SleepUntilStopped(std::stod(Flag("seconds", "3600")));
  // Its own new connection is over the cap too.
  mydev::v1::ListDevicesRequest req;
  mydev::v1::ListDevicesResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  const int64_t t0 = NowMs();
  grpc::Status own = stub->ListDevices(&ctx, req, &resp);
  int still_held = 0;
  for (auto& c : conns) {
    if (!c.valid()) continue;
    pollfd p = {c.get(), POLLRDHUP, 0};
    if (poll(&p, 1, 0) == 0) ++still_held;
  }
  Print("own_call=" + std::string(CodeName(own.error_code())) +
        " own_call_ms=" + std::to_string(NowMs() - t0) +
        " still_held=" + std::to_string(still_held));
  return 0;
}

// Opens --n WatchStats streams (interval 100 ms) and never reads past the
// first snapshot; prints "ready=1 ... open=O refused=R code=... message=...",
// holds them until SIGTERM or --seconds.
int WatchFlood() {
  const int n = static_cast<int>(IntFlag("n", 50));
  auto stats = mydev::v1::Stats::NewStub(
      grpc::CreateChannel("unix:" + Socket(), grpc::InsecureChannelCredentials()));
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<mydev::v1::StatsSnapshot>>> streams;
  int open = 0, refused = 0;
  grpc::Status last_refusal;
  mydev::v1::WatchStatsRequest req;
  req.set_interval_ms(100);
  for (int i = 0; i < n; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    streams.push_back(stats->WatchStats(ctxs.back().get(), req));
    mydev::v1::StatsSnapshot snap;
    if (streams.back()->Read(&snap)) {
      ++open;
    } else {
      last_refusal = streams.back()->Finish();
      ++refused;
    }
  }
  Print("ready=1 attack=watch-flood tried=" + std::to_string(n) + " open=" +
        std::to_string(open) + " refused=" + std::to_string(refused) +
        " code=" + CodeName(last_refusal.error_code()) +
        " message=" + Quote(last_refusal.error_message()));
  SleepUntilStopped(std::stod(Flag("seconds", "3600")));
  for (auto& c : ctxs) c->TryCancel();
  Print("released=" + std::to_string(open));
  std::fflush(stdout);
  _exit(0);  // the cancelled streams are not finished one by one
}

// One OpenSession + fd hand-off, timed (a well-behaved user during a flood).
int OpenTimed(Capture::Stub* stub) {
  const int64_t t0 = NowMs();
  mydev::v1::OpenSessionResponse o;
  grpc::Status st = Open(stub, DefaultOpen(), &o);
  std::string err;
  std::optional<Attached> a;
  if (st.ok()) a = Attach(o, &err);
  const int64_t ms = NowMs() - t0;
  Print("attack=open-timed code=" + std::string(CodeName(st.error_code())) + " attached=" +
        std::to_string(a.has_value()) + " open_attach_ms=" + std::to_string(ms) +
        " message=" + Quote(st.error_message() + err));
  if (st.ok()) CloseSession(stub, Ref(o));
  return 0;
}

using Insn = std::array<uint32_t, 4>;
// BPF opcodes (linux/filter.h values, spelled out for clarity).
constexpr uint32_t kLdImm = 0x00, kLdMem = 0x60, kAluDivK = 0x34, kAluModK = 0x94,
                   kJa = 0x05, kJeqK = 0x15, kRetK = 0x06, kRetA = 0x16;

int Run(const std::string& attack) {
  std::unique_ptr<Capture::Stub> stub = NewStub();
  Capture::Stub* s = stub.get();
  if (attack == "reader") return Reader(s);
  if (attack == "idle" || attack == "owner") return HoldSession(s);
  if (attack == "intruder") return Intruder(s);
  if (attack == "bpf-jump-out-of-range")
    return BadFilter(s, attack, {{kJa, 0, 0, 5}, {kRetK, 0, 0, 65535}});
  if (attack == "bpf-cond-jump-out-of-range")
    return BadFilter(s, attack, {{kJeqK, 200, 0, 1}, {kRetK, 0, 0, 0}});
  if (attack == "bpf-div-zero")
    return BadFilter(s, attack, {{kLdImm, 0, 0, 7}, {kAluDivK, 0, 0, 0}, {kRetA, 0, 0, 0}});
  if (attack == "bpf-mod-zero")
    return BadFilter(s, attack, {{kLdImm, 0, 0, 7}, {kAluModK, 0, 0, 0}, {kRetA, 0, 0, 0}});
  if (attack == "bpf-no-return") return BadFilter(s, attack, {{kLdImm, 0, 0, 1}});
  if (attack == "bpf-bad-opcode") return BadFilter(s, attack, {{0xffff, 0, 0, 0}, {kRetK, 0, 0, 1}});
  if (attack == "bpf-bad-scratch") return BadFilter(s, attack, {{kLdMem, 0, 0, 16}, {kRetA, 0, 0, 0}});
  if (attack == "bpf-field-overflow")
    return BadFilter(s, attack, {{kJeqK, 256, 0, 1}, {kRetK, 0, 0, 0}, {kRetK, 0, 0, 1}});
  if (attack == "bpf-oversized")
    return BadFilter(s, attack,
                     std::vector<Insn>(static_cast<size_t>(IntFlag("n", 4097)), {kRetK, 0, 0, 1}));
  if (attack == "open-huge-snaplen")
    return BadOpen(s, attack, [](auto* r) { r->set_snaplen(0xffffffffu); });
  if (attack == "open-huge-buffer")
    return BadOpen(s, attack, [](auto* r) { r->set_buffer_size(1ull << 62); });
  if (attack == "open-max-buffer")
    return BadOpen(s, attack, [](auto* r) { r->set_buffer_size(~0ull); });
  if (attack == "open-huge-timeout")
    return BadOpen(s, attack, [](auto* r) { r->set_timeout_ms(0xffffffffu); });
  if (attack == "open-unknown-device")
    return BadOpen(s, attack, [](auto* r) { r->set_device("mydev99"); });
  if (attack == "open-unknown-dlt")
    return BadOpen(s, attack, [](auto* r) { r->set_dlt(12345); });
  if (attack == "open-negative-dlt") return BadOpen(s, attack, [](auto* r) { r->set_dlt(-1); });
  if (attack == "open-bad-direction")
    return BadOpen(s, attack, [](auto* r) { r->set_direction(static_cast<mydev::v1::Direction>(7)); });
  if (attack == "set-datalink-unknown") return SetDataLinkUnknown(s);
  if (attack == "oversized-message") return OversizedMessage(s);
  if (attack == "token-forged") return TokenForged(s);
  if (attack == "token-stale") return TokenStale(s);
  if (attack == "token-reused") return TokenReused(s);
  if (attack == "ring-scribble") return RingScribble(s);
  if (attack == "fd-no-token") return FdNoToken();
  if (attack == "fd-wrong-token") return FdWrongToken(s);
  if (attack == "fd-flood") return FdFlood(s);
  if (attack == "fd-silent") return FdSilent();
  if (attack == "churn") return Churn(s);
  if (attack == "session-limit") return SessionLimit(s);
  if (attack == "conn-flood") return ConnFlood(s);
  if (attack == "watch-flood") return WatchFlood();
  if (attack == "open-timed") return OpenTimed(s);
  std::fprintf(stderr, "hostile_client: unknown attack '%s'\n", attack.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      std::fprintf(stderr, "hostile_client: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
    a = a.substr(2);
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      g_flags[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (i + 1 < argc) {
      g_flags[a] = argv[++i];
    } else {
      std::fprintf(stderr, "hostile_client: --%s needs a value\n", a.c_str());
      return 2;
    }
  }
  if (Flag("attack").empty() || Flag("socket").empty()) {
    std::fprintf(stderr, "usage: hostile_client --socket PATH --attack NAME [--key value]...\n");
    return 2;
  }
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return Run(Flag("attack"));
}
