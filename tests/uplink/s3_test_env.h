// The S3 server the uplink tests use: scripts/s3-test-server, started once per ctest run by the
// s3_server_start fixture, which writes its env file at PATROLREC_S3_ENV_FILE.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <string>

#include "uplink/s3_client.h"

namespace patrolrec::testing {

struct S3TestEnv {
  std::map<std::string, std::string> vars;
  std::string Get(const std::string& name) const {
    auto it = vars.find(name);
    return it == vars.end() ? "" : it->second;
  }
  int Port(const std::string& endpoint_var) const {
    std::string url = Get(endpoint_var);
    return std::stoi(url.substr(url.rfind(':') + 1));
  }
  // A config for the server (or for a proxy in front of it, when port is given).
  uplink::S3Config Config(int port = 0, bool tls = false) const {
    uplink::S3Config c;
    c.endpoint = tls ? Get("S3_TLS_ENDPOINT") : Get("S3_ENDPOINT");
    if (port)
      c.endpoint = std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port);
    c.region = Get("S3_REGION");
    c.access_key = Get("S3_ACCESS_KEY");
    c.secret_key = Get("S3_SECRET_KEY");
    c.ca_file = Get("S3_CA_FILE");
    c.connect_timeout_s = 5;
    c.low_speed_time_s = 5;
    return c;
  }
};

// Reads the env file; fails the test (saying how to start the server) when it is missing.
inline S3TestEnv LoadS3TestEnv() {
  S3TestEnv env;
  std::ifstream in(PATROLREC_S3_ENV_FILE);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
    env.vars[line.substr(0, eq)] = value;
  }
  EXPECT_FALSE(env.Get("S3_ENDPOINT").empty())
      << "no S3 test server: " << PATROLREC_S3_ENV_FILE
      << " is missing; run the tests through ctest (fixture s3_server_start), or start one with "
         "scripts/s3-test-server start "
      << PATROLREC_S3_ENV_FILE << "/..";
  return env;
}

// A key prefix no other test (or earlier run) uses.
inline std::string UniquePrefix(const std::string& test) {
  std::random_device random;
  return "PR-TEST/" + test + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(random() % 1000000) + "/";
}

// `size` pseudo-random bytes (seeded, so a failure can be reproduced).
inline std::string RandomBytes(size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(generator() & 0xff);
  return bytes;
}

}  // namespace patrolrec::testing
