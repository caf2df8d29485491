// mydev_list_fuzzer.cc — mydev_list.c's reading of mydevd's answer to the
// listing call (ListDevices): the input is written as the server's side of
// a socketpair, whose writing side is then shut down, and
// mydev_list_devices_on() reads it through nghttp2, the gRPC layer and
// protobuf-c. Any input: 0, -1 or MYDEV_LIST_NOT_UNDERSTOOD, no device on a
// failure, every string NUL-terminated, nothing left allocated.
//
// Seeds: pcapmod/testdata/fuzz/mydev_list_fuzzer/ (tools/fuzzing/make_seeds.py).
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "pcapmod/mydev_list.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Within what the socketpair buffers, so the write never blocks.
  if (size > 64 * 1024) return 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(sv[1], data + off, size - off);
    if (w <= 0) abort();
    off += static_cast<size_t>(w);
  }
  shutdown(sv[1], SHUT_WR);  // the answer ends here: no waiting on the deadline

  mydev_device_desc devs[3];
  std::memset(devs, 0x5a, sizeof(devs));
  size_t n = 99;
  char err[MYDEV_ERRBUF_SIZE];
  int rc = mydev_list_devices_on(sv[0], 1000, devs, 3, &n, err);
  close(sv[0]);
  close(sv[1]);

  if (rc != 0 && rc != -1 && rc != MYDEV_LIST_NOT_UNDERSTOOD) abort();
  if (n > 3 || (rc != 0 && n != 0)) abort();
  if (rc != 0 && std::memchr(err, '\0', sizeof(err)) == nullptr) abort();
  for (size_t i = 0; i < n; ++i) {
    if (std::memchr(devs[i].name, '\0', sizeof(devs[i].name)) == nullptr ||
        std::memchr(devs[i].description, '\0', sizeof(devs[i].description)) == nullptr)
      abort();
  }
  return 0;
}
