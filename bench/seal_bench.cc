// Sealing throughput: hashes a large file with the sealer's own Sha256File (the part of sealing
// that grows with the segment) and times one Ed25519 signature. bench/seal-throughput compares
// the figure with `openssl speed -evp sha256` measured in the same run.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "base/clock.h"
#include "base/env.h"
#include "storage/device_key.h"
#include "storage/seal.h"

using namespace patrolrec;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "Usage: seal_bench FILE SIZE_MIB\n");
    return 2;
  }
  const std::string path = argv[1];
  const size_t mib = static_cast<size_t>(std::atol(argv[2]));
  base::Env* env = base::Env::Default();
  {
    auto file = env->NewWritableFile(path);
    if (!file.ok()) {
      std::fprintf(stderr, "%s\n", file.message().c_str());
      return 1;
    }
    std::mt19937_64 random(42);
    std::string chunk(1 << 20, '\0');
    for (size_t i = 0; i < mib; ++i) {
      for (size_t j = 0; j + 8 <= chunk.size(); j += 8) {
        uint64_t v = random();
        chunk.replace(j, 8, reinterpret_cast<const char*>(&v), 8);
      }
      (void)(*file)->Append(chunk);
    }
    (void)(*file)->Close();
  }
  base::Clock* clock = base::Clock::System();
  double best_mb_s = 0;
  for (int round = 0; round < 3; ++round) {  // the first round also warms the page cache
    const int64_t start = clock->MonotonicNs();
    auto digest = storage::Sha256File(*env, path);
    const int64_t elapsed = clock->MonotonicNs() - start;
    if (!digest.ok()) {
      std::fprintf(stderr, "%s\n", digest.message().c_str());
      return 1;
    }
    const double mb_s = (mib * 1048576.0 / 1e6) / (elapsed / 1e9);
    if (mb_s > best_mb_s) best_mb_s = mb_s;
  }
  auto key = storage::DeviceKey::LoadOrCreate(*env, path + ".key", path + ".pub");
  double sign_us = 0;
  if (key.ok()) {
    const std::string message(700, 'x');  // about the size of a seal
    const int64_t start = clock->MonotonicNs();
    for (int i = 0; i < 1000; ++i) (void)(*key)->Sign(message);
    sign_us = (clock->MonotonicNs() - start) / 1000 / 1e3;
  }
  std::printf("sha256_mb_per_s %.1f\nsign_us %.1f\n", best_mb_s, sign_us);
  for (const char* suffix : {"", ".key", ".pub"}) std::remove((path + suffix).c_str());
  return 0;
}
