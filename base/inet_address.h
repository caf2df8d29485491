// inet_address.h — a numeric TCP listening address, "HOST:PORT", parsed
// once: IPv4 "192.0.2.7:9470", IPv6 in brackets "[2001:db8::7]:9470", the
// wildcards "0.0.0.0:9470" and "[::]:9470"; whether it is loopback; the
// sockaddr to bind. Host names are not accepted (nothing to resolve at start,
// nothing to be wrong about later).
//
//   absl::StatusOr<InetAddress> a = InetAddress::Parse("[::1]:9470");
//   a->loopback();          // true
//   bind(fd, a->addr(), a->addr_len());
#ifndef MYDEV_BASE_INET_ADDRESS_H_
#define MYDEV_BASE_INET_ADDRESS_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mydev {

class InetAddress {
 public:
  // INVALID_ARGUMENT saying what a valid address looks like.
  static absl::StatusOr<InetAddress> Parse(absl::string_view text);
  // The address of a bound or connected socket (getsockname/getpeername's).
  static InetAddress FromSockaddr(const sockaddr* sa, socklen_t len);

  int family() const { return storage_.ss_family; }
  uint16_t port() const;
  // 127.0.0.0/8, ::1, or ::ffff:127.x.y.z.
  bool loopback() const;
  // 0.0.0.0 or ::.
  bool wildcard() const;
  // "192.0.2.7:9470", "[2001:db8::7]:9470".
  std::string ToString() const;
  // The host part alone: "192.0.2.7", "2001:db8::7" (a v4-mapped v6 as v4).
  std::string HostString() const;

  const struct sockaddr* addr() const {
    return reinterpret_cast<const struct sockaddr*>(&storage_);
  }
  socklen_t addr_len() const { return len_; }

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

}  // namespace mydev

#endif  // MYDEV_BASE_INET_ADDRESS_H_
