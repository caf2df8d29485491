// report.h — what hostile_client prints: one line of key=value fields per
// result, flushed at once (the test reads them while it runs), with gRPC
// status codes by name, messages quoted, tokens in hex.
//
//   attack=bpf-div-zero code=INVALID_ARGUMENT message="..." after=OK
#ifndef MYDEV_TESTS_HOSTILE_CLIENT_REPORT_H_
#define MYDEV_TESTS_HOSTILE_CLIENT_REPORT_H_

#include <grpcpp/grpcpp.h>

#include <string>

namespace mydev::hostile {

// "INVALID_ARGUMENT" etc.
const char* CodeName(grpc::StatusCode c);

// Quotes a message for a key="value" field (no newlines, no double quotes).
std::string Quote(std::string s);

// Prints a line to stdout and flushes it.
void Print(const std::string& line);

// Bytes as lower-case hex, and back (a token passed on the command line).
std::string Hex(const std::string& bytes);
std::string Unhex(const std::string& hex);

}  // namespace mydev::hostile

#endif  // MYDEV_TESTS_HOSTILE_CLIENT_REPORT_H_
