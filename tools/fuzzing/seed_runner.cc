// seed_runner.cc — a main() for fuzz targets outside libFuzzer: feeds every
// file of the given corpus directories (and files) to LLVMFuzzerTestOneInput
// once, so each fuzzer's seeds and past crashes run as an ordinary cc_test
// (with the normal toolchain, or under --config=asan-ubsan).
//
//   bazel-bin/daemon/bpf_program_fuzzer_seeds_test daemon/testdata/fuzz/bpf_program_fuzzer
//   -> "bpf_program_fuzzer_seeds_test: ran 12 inputs from 1 paths"
//
// Fails (exit 1) when a path is missing or holds no input, so a test whose
// corpus went missing cannot pass by running nothing.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Regular files directly inside dir, sorted (runs are reproducible).
std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string path = dir + "/" + name;
      if (!IsDirectory(path)) out.push_back(path);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  const char* self = argc > 0 ? argv[0] : "seed_runner";
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", self);
    return 1;
  }
  size_t ran = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string path = argv[i];
    std::vector<std::string> files =
        IsDirectory(path) ? FilesIn(path) : std::vector<std::string>{path};
    for (const std::string& f : files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "%s: cannot read %s\n", self, f.c_str());
        return 1;
      }
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
      std::fprintf(stderr, "running %s (%zu bytes)\n", f.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++ran;
    }
  }
  std::fprintf(stderr, "%s: ran %zu inputs from %d paths\n", self, ran, argc - 1);
  return ran == 0 ? 1 : 0;
}
