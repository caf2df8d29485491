// tcp_connection_relay.h — the TCP front of the remote Stats listener: it
// accepts connections itself, caps them (in all, per client IP address, and
// by free descriptors), and relays each one's bytes, untouched, to a gRPC
// server listening on a private Unix socket. TLS, HTTP/2 and everything else
// stay gRPC's: the relay never looks at the bytes.
//
// Why not gRPC's own TCP listener: gRPC 1.51 cannot cap connections (its
// max-connections argument came later), and a flood of connections would
// take descriptors that capture sessions need. A TLS server cannot be handed
// accepted fds either (grpc_server_add_channel_from_fd is plaintext only),
// hence the relay: one thread, epoll, and per connection two buffers
// (buffer_bytes each) and three descriptors (the TCP socket, and both ends
// of the Unix socket to gRPC).
//
// A connection over a cap is reset at accept (RST, nothing read), logged once
// per burst. Both ends' half-closes are passed on; when either end hangs up
// (or gRPC closes an idle, unauthenticated or handshake-timed-out
// connection), whatever can still be written is, and both are closed.
// Accepted sockets get TCP keepalive (60 s idle, 6 probes 10 s apart) and a
// 60 s TCP_USER_TIMEOUT, so a vanished peer is dropped even with data
// pending.
//
//   absl::StatusOr<std::unique_ptr<TcpConnectionRelay>> r =
//       TcpConnectionRelay::Listen(*InetAddress::Parse("[::]:9470"), "stats");  // as root
//   ...   // gRPC: builder.AddListeningPort("unix:/run/mydevd/mydevd.sock.stats", creds)
//   RelayLimits limits;
//   limits.max_connections = 256;
//   (*r)->Start("/run/mydevd/mydevd.sock.stats", limits);
//   ...
//   (*r)->Stop();   // closes every connection
#ifndef MYDEV_DAEMON_RPC_TCP_CONNECTION_RELAY_H_
#define MYDEV_DAEMON_RPC_TCP_CONNECTION_RELAY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/inet_address.h"
#include "base/unique_fd.h"

namespace mydev::daemon {

struct RelayLimits {
  uint32_t max_connections = 256;  // open relayed connections in all
  uint32_t max_per_address = 32;   // ... from one client IP address
  // A connection is refused when fewer descriptors than this would remain
  // free under the soft RLIMIT_NOFILE. -1 = min(256, soft limit / 4).
  int fd_headroom = -1;
  size_t buffer_bytes = 16 << 10;  // per direction and connection
  // The config fields named in the refusal log lines.
  const char* total_field = "stats_listener.max_connections";
  const char* per_address_field = "stats_listener.max_connections_per_address";
};

class TcpConnectionRelay {
 public:
  // Binds and listens on address (SO_REUSEADDR; "[::]" takes IPv4 too).
  // name appears in log lines ("stats", "health").
  static absl::StatusOr<std::unique_ptr<TcpConnectionRelay>> Listen(const InetAddress& address,
                                                                    std::string name);
  ~TcpConnectionRelay();

  // Starts the thread that accepts and relays to the Unix socket at
  // backend_path (which must accept by then). Once.
  absl::Status Start(const std::string& backend_path, const RelayLimits& limits);
  // Stops accepting, closes every connection, joins the thread. Idempotent.
  void Stop();

  // The bound address (port 0 resolved).
  const InetAddress& address() const { return address_; }

  // Relayed connections open now; accepted in all; reset at accept.
  size_t open_connections() const;
  uint64_t accepted_connections() const;
  uint64_t refused_connections() const;

 private:
  struct Connection;
  // What an epoll event points at: the stop eventfd, the listening socket,
  // or one side of a connection.
  struct Endpoint {
    Connection* conn = nullptr;  // null: stop_fd_ or listen_fd_
    int side = 0;                // 0 = the TCP client, 1 = the Unix backend
  };
  // Bytes read from one side, waiting to be written to the other.
  struct Buffer {
    std::unique_ptr<char[]> bytes;
    size_t begin = 0, end = 0;
    bool eof = false;   // the reading side sent FIN
    bool shut = false;  // ... and it was passed on (shutdown SHUT_WR)
  };
  struct Connection {
    UniqueFd fd[2];
    Buffer buf[2];  // buf[i]: read from fd[i], for fd[1 - i]
    Endpoint end[2];
    uint32_t events[2] = {0, 0};  // epoll interest now
    std::string peer;             // the client's IP address
  };
  // Refusals of one kind (one address, the total, descriptors) since the
  // last log line.
  struct RefusalBurst {
    uint64_t count = 0;
    absl::Time logged;
  };

  TcpConnectionRelay(InetAddress address, std::string name, UniqueFd listen_fd);
  void Run();
  void AcceptAll();
  // Reads and writes what it can on both sides; false once the connection is over.
  bool Pump(Connection* c, bool hung_up);
  // Updates the epoll interest of both sides from the buffers.
  void Rearm(Connection* c);
  void Close(Connection* c);
  void Refuse(int fd, RefusalBurst* burst, const std::string& what);

  const InetAddress address_;
  const std::string name_;
  UniqueFd listen_fd_;
  UniqueFd stop_fd_;
  UniqueFd epoll_fd_;
  std::string backend_path_;
  RelayLimits limits_;
  int fd_limit_ = 0;
  int fd_headroom_ = 0;
  std::thread thread_;
  Endpoint listen_end_, stop_end_;

  // The relay thread's own (Stop() touches them only after joining it).
  std::map<Connection*, std::unique_ptr<Connection>> connections_;
  std::map<std::string, uint32_t> per_address_;
  std::map<std::string, RefusalBurst> bursts_;

  mutable absl::Mutex mu_;
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_TCP_CONNECTION_RELAY_H_
