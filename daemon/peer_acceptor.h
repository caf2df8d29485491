// peer_acceptor.h — serves gRPC on a Unix socket that mydevd accepts on
// itself, so every call knows its caller's uid/gid/pid.
//
// gRPC's AuthContext carries no Unix credentials, so the acceptor reads
// SO_PEERCRED on each accepted connection, records it under the fd number,
// and hands the fd to gRPC (grpc::AddInsecureChannelFromFd). gRPC names such
// a peer "fd:N"; handlers look the credentials up by that. gRPC closes the fd
// when the connection ends and the number may be reused: every accept
// overwrites the entry, so a lookup always sees the connection that owns N now.
//
//   PeerCredentialsTable peers;
//   std::unique_ptr<grpc::Server> server = builder.BuildAndStart();  // no ports
//   auto acceptor = GrpcUnixAcceptor::Start("/run/mydevd/mydevd.sock", 0666,
//                                           server.get(), &peers);
//   // in a handler:
//   absl::StatusOr<Credentials> who = peers.ForPeer(context->peer());
//   ...
//   (*acceptor)->Stop();   // before server->Shutdown()
#ifndef MYDEV_DAEMON_PEER_ACCEPTOR_H_
#define MYDEV_DAEMON_PEER_ACCEPTOR_H_

#include <grpcpp/server.h>

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "daemon/session.h"
#include "shm/unique_fd.h"

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

class GrpcUnixAcceptor {
 public:
  // Listens on path (mode, e.g. 0666; a stale socket file is replaced, a live
  // one is ALREADY_EXISTS) and starts the accept thread.
  static absl::StatusOr<std::unique_ptr<GrpcUnixAcceptor>> Start(const std::string& path,
                                                                 int mode, grpc::Server* server,
                                                                 PeerCredentialsTable* peers);
  ~GrpcUnixAcceptor();

  // Stops accepting, joins the thread and removes the socket file. Idempotent.
  void Stop();

 private:
  GrpcUnixAcceptor(std::string path, shm::UniqueFd listen_fd, shm::UniqueFd stop_fd,
                   grpc::Server* server, PeerCredentialsTable* peers);
  void Run();

  const std::string path_;
  shm::UniqueFd listen_fd_;
  shm::UniqueFd stop_fd_;  // eventfd: written by Stop()
  grpc::Server* const server_;
  PeerCredentialsTable* const peers_;
  std::thread thread_;
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_PEER_ACCEPTOR_H_
