// patrolrec-upload: uploads files to an S3-compatible server the way patrolrecd's uplink does
// (resumable multipart, per-part digests, read-back, object-lock retention), with its state in a
// catalog so that an interrupted run resumes. For technicians checking a depot server, and for
// the uplink benchmark and tests.
//
//   patrolrec-upload --catalog DB --bucket B [options] FILE KEY [FILE KEY ...]
//
// The server comes from the environment, as scripts/s3-test-server's env file writes it:
// S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY, S3_CA_FILE (optional); --endpoint
// overrides S3_ENDPOINT. Keys are not taken on the command line, where `ps` would show them.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "storage/catalog.h"
#include "storage/seal.h"
#include "uplink/multipart_upload.h"
#include "uplink/s3_client.h"

namespace {

using namespace patrolrec;

int Usage() {
  std::fprintf(stderr,
               "usage: patrolrec-upload --catalog DB --bucket BUCKET [--endpoint URL]\n"
               "         [--part-size-bytes N] [--retention ordinary|permanent]\n"
               "         [--max-send-bytes-per-s N] [--low-speed-time-s N] [--progress]\n"
               "         [--jobs N]   (files uploaded at once, each on its own connection)\n"
               "         FILE KEY [FILE KEY ...]\n"
               "environment: S3_ENDPOINT S3_REGION S3_ACCESS_KEY S3_SECRET_KEY [S3_CA_FILE]\n");
  return 2;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

int main(int argc, char** argv) {
  uplink::S3Config config;
  config.endpoint = Env("S3_ENDPOINT");
  config.region = Env("S3_REGION").empty() ? "us-east-1" : Env("S3_REGION");
  config.access_key = Env("S3_ACCESS_KEY");
  config.secret_key = Env("S3_SECRET_KEY");
  config.ca_file = Env("S3_CA_FILE");
  uplink::UploadOptions options;
  std::string catalog_path, bucket;
  storage::RetentionClass retention = storage::RetentionClass::kOrdinary;
  bool progress = false;
  int jobs = 1;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--catalog") {
      catalog_path = value();
    } else if (arg == "--bucket") {
      bucket = value();
    } else if (arg == "--endpoint") {
      config.endpoint = value();
    } else if (arg == "--part-size-bytes") {
      options.part_size_bytes = std::atoll(value().c_str());
    } else if (arg == "--retention") {
      if (!storage::ParseRetentionClass(value(), &retention)) return Usage();
    } else if (arg == "--max-send-bytes-per-s") {
      config.max_send_bytes_per_s = std::atoll(value().c_str());
    } else if (arg == "--low-speed-time-s") {
      config.low_speed_time_s = std::atoi(value().c_str());
    } else if (arg == "--jobs") {
      jobs = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--progress") {
      progress = true;
    } else if (arg.rfind("--", 0) == 0) {
      return Usage();
    } else {
      positional.push_back(arg);
    }
  }
  if (catalog_path.empty() || bucket.empty() || positional.empty() || positional.size() % 2 != 0) {
    return Usage();
  }
  {
    // Create (and upgrade) the catalog once, before the workers open their own connections.
    auto catalog = storage::Catalog::Open(catalog_path);
    if (!catalog.ok()) {
      std::fprintf(stderr, "patrolrec-upload: %s\n", catalog.message().c_str());
      return 1;
    }
  }
  // Each worker has its own S3 client (one connection) and its own catalog connection, as the
  // daemon's upload workers would; SQLite's WAL lets them write the catalog in turn.
  std::atomic<size_t> next{0};
  std::atomic<int> failures{0};
  std::mutex output;
  auto worker = [&] {
    auto client = uplink::S3Client::Create(config);
    auto catalog = storage::Catalog::Open(catalog_path);
    if (!client.ok() || !catalog.ok()) {
      std::lock_guard<std::mutex> lock(output);
      std::fprintf(stderr, "patrolrec-upload: %s%s\n", client.message().c_str(),
                   catalog.message().c_str());
      ++failures;
      return;
    }
    uplink::CatalogUploadStateStore store(**catalog);
    uplink::MultipartUpload upload(**client, store, options);
    if (progress) {
      upload.set_progress([](int64_t done, int64_t total) {
        std::fprintf(stderr, "\rprogress %lld / %lld bytes", static_cast<long long>(done),
                     static_cast<long long>(total));
      });
    }
    for (size_t i = next.fetch_add(2); i < positional.size(); i = next.fetch_add(2)) {
      const std::string& path = positional[i];
      const std::string& key = positional[i + 1];
      // A file not sealed by patrolrecd: its SHA-256 now stands in for the seal's.
      auto sha256 = storage::Sha256File(*base::Env::Default(), path);
      if (!sha256.ok()) {
        std::lock_guard<std::mutex> lock(output);
        std::fprintf(stderr, "patrolrec-upload: %s\n", sha256.message().c_str());
        ++failures;
        continue;
      }
      const int64_t start_ns = base::Clock::System()->MonotonicNs();
      auto outcome = upload.Run({path, path, bucket, key, *sha256, retention});
      const double seconds =
          static_cast<double>(base::Clock::System()->MonotonicNs() - start_ns) / 1e9;
      std::lock_guard<std::mutex> lock(output);
      if (progress) std::fprintf(stderr, "\n");
      if (!outcome.ok()) {
        std::fprintf(stderr, "patrolrec-upload: FAILED: %s\n", outcome.message().c_str());
        ++failures;
        continue;
      }
      std::printf(
          "verified %s -> %s/%s parts=%d sent=%d skipped=%d part_bytes_sent=%lld retries=%d "
          "etag=%s retention=\"%s\" seconds=%.3f%s\n",
          path.c_str(), bucket.c_str(), key.c_str(), outcome->parts_total, outcome->parts_sent,
          outcome->parts_skipped, static_cast<long long>(outcome->part_bytes_sent),
          outcome->retries, outcome->remote_etag.c_str(), outcome->retention_result.c_str(),
          seconds, outcome->already_verified ? " (already verified)" : "");
      std::fflush(stdout);
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < jobs; ++i) workers.emplace_back(worker);
  for (std::thread& t : workers) t.join();
  return failures == 0 ? 0 : 1;
}
