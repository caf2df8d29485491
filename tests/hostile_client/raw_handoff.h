// raw_handoff.h — the fd hand-off protocol (shm/fd_passing.h) spoken by hand,
// so the bytes can be wrong on purpose: a request built from any session id
// and token, sent raw, the daemon's status word read back; a receive with a
// timeout that closes whatever fds come along; random bytes for forged
// tokens and junk.
#ifndef MYDEV_TESTS_HOSTILE_CLIENT_RAW_HANDOFF_H_
#define MYDEV_TESTS_HOSTILE_CLIENT_RAW_HANDOFF_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace mydev::hostile {

// Waits up to timeout_ms for a readable socket; returns bytes read (0 = EOF),
// -1 on error, -2 on timeout. Any fds that come along are closed.
ssize_t RecvWithTimeout(int fd, void* buf, size_t n, int timeout_ms);

// Speaks the fd hand-off by hand: sends `request` raw, returns the daemon's
// status word (0 = ok and fds came), or -1 when the daemon hung up without a
// reply, -2 on timeout (-3: could not connect).
int RawHandoff(const std::string& path, const std::string& request);

// A well-formed hand-off request: the id (8 bytes, little-endian) and the
// token padded or cut to shm::kTokenBytes.
std::string HandoffBytes(uint64_t id, const std::string& token);

// n random bytes.
std::string RandomBytes(size_t n);

}  // namespace mydev::hostile

#endif  // MYDEV_TESTS_HOSTILE_CLIENT_RAW_HANDOFF_H_
