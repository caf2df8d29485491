// inet_address.cc — see inet_address.h.
#include "base/inet_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mydev {
namespace {

const in6_addr* V6(const sockaddr_storage& s) {
  return &reinterpret_cast<const sockaddr_in6*>(&s)->sin6_addr;
}
const in_addr* V4(const sockaddr_storage& s) {
  return &reinterpret_cast<const sockaddr_in*>(&s)->sin_addr;
}

}  // namespace

absl::StatusOr<InetAddress> InetAddress::Parse(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' ", why,
        ": write HOST:PORT with a numeric host, e.g. 0.0.0.0:9470, [::]:9470, 127.0.0.1:9470, "
        "[::1]:9470 or 192.0.2.7:9470"));
  };
  absl::string_view host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("is not [IPV6]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return bad("has no :PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) return bad("has an IPv6 host without [ ]");
  }
  uint32_t port_number = 0;
  if (port.empty() || port.size() > 5 || !absl::SimpleAtoi(port, &port_number) ||
      port_number > 65535 || port.find_first_not_of("0123456789") != absl::string_view::npos)
    return bad("has no port number in 0..65535");
  InetAddress a;
  const std::string h(host);
  if (text[0] == '[') {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (inet_pton(AF_INET6, h.c_str(), &sin6->sin6_addr) != 1)
      return bad("has no numeric IPv6 host");
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port_number));
    a.len_ = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage_);
    if (inet_pton(AF_INET, h.c_str(), &sin->sin_addr) != 1)
      return bad("has no numeric IPv4 host (host names are not accepted)");
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port_number));
    a.len_ = sizeof(sockaddr_in);
  }
  return a;
}

InetAddress InetAddress::FromSockaddr(const struct sockaddr* sa, socklen_t len) {
  InetAddress a;
  if (len > sizeof a.storage_) len = sizeof a.storage_;
  std::memcpy(&a.storage_, sa, len);
  a.len_ = len;
  return a;
}

uint16_t InetAddress::port() const {
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  return 0;
}

bool InetAddress::loopback() const {
  if (family() == AF_INET) return (ntohl(V4(storage_)->s_addr) >> 24) == 127;
  if (family() != AF_INET6) return false;
  const in6_addr* a = V6(storage_);
  if (IN6_IS_ADDR_LOOPBACK(a)) return true;
  return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

bool InetAddress::wildcard() const {
  if (family() == AF_INET) return V4(storage_)->s_addr == htonl(INADDR_ANY);
  return family() == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(V6(storage_));
}

std::string InetAddress::HostString() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (family() == AF_INET) {
    inet_ntop(AF_INET, V4(storage_), buf, sizeof buf);
  } else if (family() == AF_INET6) {
    const in6_addr* a = V6(storage_);
    if (IN6_IS_ADDR_V4MAPPED(a))
      inet_ntop(AF_INET, &a->s6_addr[12], buf, sizeof buf);
    else
      inet_ntop(AF_INET6, a, buf, sizeof buf);
  }
  return buf;
}

std::string InetAddress::ToString() const {
  if (family() == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(V6(storage_)))
    return absl::StrCat("[", HostString(), "]:", port());
  return absl::StrCat(HostString(), ":", port());
}

}  // namespace mydev
