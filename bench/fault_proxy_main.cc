// patrolrec-fault-proxy: the tests' fault proxy (tests/fault_proxy.h) as a program, for the
// uplink benchmark: a rate-limited link to a local S3 server that a script can cut.
//
//   patrolrec-fault-proxy UPSTREAM_PORT [RATE_BYTES_PER_S]
//
// Prints "port N", then reads commands on stdin, one a line, and answers each with one line:
//   bytes          -> upstream (client to server) bytes forwarded so far
//   cut            -> cuts every connection now
//   cut-after N    -> cuts every connection after N more upstream bytes
//   rate N         -> limits upstream to N bytes/s (0: no limit)
//   quit
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "tests/fault_proxy.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: patrolrec-fault-proxy UPSTREAM_PORT [RATE_BYTES_PER_S]\n");
    return 2;
  }
  auto proxy = patrolrec::testing::FaultProxy::Start(std::atoi(argv[1]));
  if (!proxy) {
    std::fprintf(stderr, "patrolrec-fault-proxy: cannot listen on 127.0.0.1\n");
    return 1;
  }
  if (argc > 2) proxy->RateLimit(std::atoll(argv[2]));
  std::cout << "port " << proxy->port() << std::endl;
  std::string command;
  while (std::cin >> command) {
    if (command == "bytes") {
      std::cout << proxy->upstream_bytes() << std::endl;
    } else if (command == "cut") {
      proxy->CutAllNow();
      std::cout << "ok" << std::endl;
    } else if (command == "cut-after") {
      long long n = 0;
      std::cin >> n;
      proxy->CutAfterUpstreamBytes(n);
      std::cout << "ok" << std::endl;
    } else if (command == "rate") {
      long long n = 0;
      std::cin >> n;
      proxy->RateLimit(n);
      std::cout << "ok" << std::endl;
    } else if (command == "quit") {
      break;
    } else {
      std::cout << "unknown command " << command << std::endl;
    }
  }
  return 0;
}
