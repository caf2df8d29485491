// grpc_unix_acceptor.h — serves gRPC on a Unix socket that mydevd accepts on
// itself, so every call knows its caller's uid/gid/pid, and so no one local
// user can take all of mydevd's connections or descriptors.
//
// gRPC's AuthContext carries no Unix credentials, so the acceptor reads
// SO_PEERCRED on each accepted connection, records it under the fd number,
// and hands the fd to gRPC (grpc::AddInsecureChannelFromFd). gRPC names such
// a peer "fd:N"; handlers look the credentials up by that. gRPC closes the fd
// when the connection ends and the number may be reused: every accept
// overwrites the entry, so a lookup always sees the connection that owns N now.
//
// Connection limits: the acceptor keeps a dup() of every fd it gives gRPC and
// watches it for POLLHUP. gRPC (1.51, iomgr) calls shutdown(SHUT_RDWR) on a
// connection's fd before it closes it, and a peer's close() also hangs the
// socket up, so the dup sees the end of every connection (and closes itself:
// it never keeps a connection alive). A uid over max_per_uid open connections,
// or a connection that would leave fewer than fd_headroom descriptors under
// RLIMIT_NOFILE, is closed at accept (logged once per burst).
//
//   PeerCredentialsTable peers;
//   std::unique_ptr<grpc::Server> server = builder.BuildAndStart();  // no ports
//   ConnectionLimits limits;
//   limits.max_per_uid = 128;
//   auto acceptor = GrpcUnixAcceptor::Start("/run/mydevd/mydevd.sock", 0666,
//                                           server.get(), &peers, limits);
//   // in a handler:
//   absl::StatusOr<Credentials> who = peers.ForPeer(context->peer());
//   ...
//   (*acceptor)->Stop();   // before server->Shutdown()
#ifndef MYDEV_DAEMON_RPC_GRPC_UNIX_ACCEPTOR_H_
#define MYDEV_DAEMON_RPC_GRPC_UNIX_ACCEPTOR_H_

#include <grpcpp/server.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "daemon/datapath/session.h"

namespace mydev::daemon {

// SO_PEERCRED of a connected Unix socket.
absl::StatusOr<Credentials> PeerCredentialsOf(int fd);

class PeerCredentialsTable {
 public:
  void Set(int fd, const Credentials& creds);
  // peer is ServerContext::peer(), "fd:N". UNAUTHENTICATED if unknown.
  absl::StatusOr<Credentials> ForPeer(absl::string_view peer) const;

 private:
  mutable absl::Mutex mu_;
  std::map<int, Credentials> by_fd_ ABSL_GUARDED_BY(mu_);
};

struct ConnectionLimits {
  uint32_t max_per_uid = 128;  // open gRPC connections of one uid
  bool root_exempt = true;     // uid 0 is not counted against max_per_uid
  // A connection is refused when fewer descriptors than this would remain
  // free under the soft RLIMIT_NOFILE. -1 = min(256, soft limit / 4).
  int fd_headroom = -1;
};

class GrpcUnixAcceptor {
 public:
  // Listens on path (mode, e.g. 0666; a stale socket file is replaced, a live
  // one is ALREADY_EXISTS) and starts the accept thread.
  static absl::StatusOr<std::unique_ptr<GrpcUnixAcceptor>> Start(
      const std::string& path, int mode, grpc::Server* server, PeerCredentialsTable* peers,
      const ConnectionLimits& limits = {});
  ~GrpcUnixAcceptor();

  // Stops accepting, joins the thread, forgets (closes the dups of) every
  // connection and removes the socket file. Idempotent.
  void Stop();

  // Connections handed to gRPC and not yet ended (all, or of one uid).
  size_t open_connections() const;
  size_t ConnectionsOf(uid_t uid) const;
  // Connections closed at accept so far (over max_per_uid, or no fd headroom).
  uint64_t refused_connections() const;

 private:
  // Refusals of one kind (one uid, or the fd headroom) since the last log line.
  struct RefusalBurst {
    uint64_t count = 0;
    absl::Time logged;
  };

  GrpcUnixAcceptor(std::string path, UniqueFd listen_fd, UniqueFd stop_fd, UniqueFd epoll_fd,
                   grpc::Server* server, PeerCredentialsTable* peers,
                   const ConnectionLimits& limits);
  void Run();
  void AcceptOne();
  // The connection (its dup) ended: stop watching it.
  void Release(int dup_fd);
  // Logs the first refusal of a burst, then a count at most every 10 s.
  void NoteRefusal(RefusalBurst* burst, const std::string& what);
  void EndBurst(RefusalBurst* burst, const std::string& what);

  const std::string path_;
  UniqueFd listen_fd_;
  UniqueFd stop_fd_;   // eventfd: written by Stop()
  UniqueFd epoll_fd_;  // listen_fd_, stop_fd_ and every connection's dup
  grpc::Server* const server_;
  PeerCredentialsTable* const peers_;
  const ConnectionLimits limits_;
  int fd_limit_ = 0;  // soft RLIMIT_NOFILE at Start
  int fd_headroom_ = 0;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::map<int, uid_t> uid_by_dup_ ABSL_GUARDED_BY(mu_);  // dup fd -> its peer's uid
  std::map<uid_t, uint32_t> open_by_uid_ ABSL_GUARDED_BY(mu_);
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  // Touched by the accept thread only.
  std::map<uid_t, RefusalBurst> uid_bursts_;
  RefusalBurst fd_burst_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_RPC_GRPC_UNIX_ACCEPTOR_H_
