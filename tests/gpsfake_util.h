// A real gpsd for tests, fed by gpsfake from a log the test writes. gpsfake (python) spawns
// /usr/sbin/gpsd on a loopback port with a pseudo-terminal as its GPS and writes the log into it;
// this helper starts gpsfake in its own process group and can kill gpsd alone (SIGKILL), freeze
// it (SIGSTOP/SIGCONT), kill everything, and start again on the same port. The destructor kills
// the whole group and removes gpsd's shared-memory segment, so a failing test leaves nothing
// behind (the gpsfake process also dies with the test process, through PR_SET_PDEATHSIG).
//
// How the log is replayed: the file starts with gpsfake's "#Delay-Cookie: | 0" header, so
// gpsfake writes each chunk (one receiver cycle, several sentences) verbatim, one every
// `cycle_s` seconds. Verbatim matters: without the cookie gpsfake splits the log with gpsd's
// own packet sniffer when it loads it and silently drops garbage and sentences with a bad
// checksum, so they would never reach gpsd. gpsd runs with -n (it opens the pty at once rather
// than when the first client watches), so the log plays in real time whether or not a client is
// connected.
//
// Other gpsfake/gpsd quirks met on the way (gpsd 3.22):
//  - gpsd needs 0.5-1 s after gpsfake starts before it accepts connections; Start() polls.
//  - gpsfake handles SIGTERM in a Python signal handler that can hang (seen: gpsfake alive
//    minutes after `timeout` sent SIGTERM, its gpsd a zombie); so this helper only uses SIGKILL
//    on the whole process group.
//  - gpsd leaves its shared-memory export (key 0x4770<port>, 24 KB) behind when it dies, even
//    on SIGTERM; KillAll() removes it.
//  - When gpsd dies, gpsfake ends ("daemon died"): restarting gpsd means restarting gpsfake,
//    which replays the log from its start.
//  - Replaying 10 cycles a second while the NMEA time advances a second per cycle is fine:
//    gpsd does not compare the receiver's pace with the real one.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace patrolrec::testing {

class GpsFake {
 public:
  GpsFake();   // picks a free loopback port; starts nothing
  ~GpsFake();  // kills gpsfake and gpsd
  GpsFake(const GpsFake&) = delete;
  GpsFake& operator=(const GpsFake&) = delete;

  // Writes the log (one chunk per receiver cycle) and starts gpsfake; returns once gpsd accepts
  // TCP connections (false, with error(), if it does not within 10 s). `singleshot`: play the log
  // once and then stay silent (gpsd stays up, sending nothing) rather than looping it.
  bool Start(const std::vector<std::string>& chunks, double cycle_s, bool singleshot = true);
  // Kills whatever runs and starts the same log again on the same port.
  bool Restart();

  // gpsd dies as by a crash (SIGKILL); gpsfake notices and exits. Waits for both.
  void KillGpsd();
  // gpsd stops answering without closing its sockets (SIGSTOP), then resumes (SIGCONT).
  bool PauseGpsd();
  bool ResumeGpsd();
  // Kills gpsfake and gpsd (SIGKILL to the process group) and waits for gpsfake.
  void KillAll();

  int port() const { return port_; }
  std::string port_text() const { return std::to_string(port_); }
  pid_t gpsd_pid() const;  // the gpsd child of the running gpsfake, or -1
  const std::string& error() const { return error_; }
  std::string output() const;  // what gpsfake and gpsd printed (for failure messages)

 private:
  bool WaitUntilListening(int timeout_ms);
  void RemoveSharedMemory() const;

  TempDir dir_;
  std::string log_path_;
  std::string output_path_;
  int port_ = 0;
  pid_t gpsfake_pid_ = -1;  // also the process group id
  double cycle_s_ = 0;
  bool singleshot_ = true;
  std::string error_;
};

// Runs the thread-default GLib main context until `done()` or `timeout_ms` pass; returns done().
bool RunLoopUntilMs(const std::function<bool()>& done, int timeout_ms);

}  // namespace patrolrec::testing
