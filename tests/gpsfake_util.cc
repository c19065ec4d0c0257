// gpsfake in a process group of its own, watched from the test process.
#include "tests/gpsfake_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace patrolrec::testing {
namespace {

using Steady = std::chrono::steady_clock;

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return ok;
}

// The parent pid and command name of a process, from /proc/<pid>/stat.
bool ReadStat(pid_t pid, pid_t* parent, std::string* name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t open = text.find('('), close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  *name = text.substr(open + 1, close - open - 1);
  std::istringstream rest(text.substr(close + 2));
  char state = 0;
  rest >> state >> *parent;
  return static_cast<bool>(rest);
}

}  // namespace

GpsFake::GpsFake() : port_(FreeLoopbackPort()) {
  log_path_ = dir_ / "gps.log";
  output_path_ = dir_ / "gpsfake.out";
}

GpsFake::~GpsFake() { KillAll(); }

bool GpsFake::Start(const std::vector<std::string>& chunks, double cycle_s, bool singleshot) {
  std::string log = "#Delay-Cookie: | 0\n";
  for (size_t i = 0; i < chunks.size(); ++i) log += (i ? "|" : "") + chunks[i];
  WriteTextFile(log_path_, log);
  cycle_s_ = cycle_s;
  singleshot_ = singleshot;
  return Restart();
}

bool GpsFake::Restart() {
  KillAll();
  error_.clear();
  if (port_ == 0) {
    error_ = "no free loopback port";
    return false;
  }
  // Everything the child needs is built before fork: the test process has threads (GLib's), so
  // between fork and exec the child may only make async-signal-safe calls.
  char cycle[32];
  std::snprintf(cycle, sizeof cycle, "%.3f", cycle_s_);
  std::vector<std::string> args = {"/usr/bin/gpsfake",    "-q", "-n", "-c", cycle, "-P",
                                   std::to_string(port_), "-W", "600"};
  if (singleshot_) args.push_back("-1");
  args.push_back(log_path_);
  const char* path = std::getenv("PATH");
  std::vector<std::string> env = {
      // gpsfake looks for gpsd on PATH (or GPSD_HOME); it is in /usr/sbin.
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin" + std::string(path ? ":" : "") + (path ? path : ""),
      "TMPDIR=" + dir_.path(),  // gpsfake's control socket goes here, not in /tmp
      "PYTHONUNBUFFERED=1", "LANG=C.UTF-8"};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    error_ = "fork failed";
    return false;
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = open(output_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so that KillAll finds the group even if the child is slow
  gpsfake_pid_ = pid;
  if (!WaitUntilListening(10000)) {
    error_ += "; gpsfake output: " + output();
    KillAll();
    return false;
  }
  return true;
}

bool GpsFake::WaitUntilListening(int timeout_ms) {
  auto deadline = Steady::now() + std::chrono::milliseconds(timeout_ms);
  while (Steady::now() < deadline) {
    int status = 0;
    if (waitpid(gpsfake_pid_, &status, WNOHANG) == gpsfake_pid_) {
      gpsfake_pid_ = -1;
      error_ = "gpsfake exited before gpsd listened on port " + std::to_string(port_);
      return false;
    }
    if (gpsd_pid() > 0 && CanConnect(port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  error_ = "gpsd did not listen on port " + std::to_string(port_) + " within " +
           std::to_string(timeout_ms) + " ms";
  return false;
}

pid_t GpsFake::gpsd_pid() const {
  if (gpsfake_pid_ <= 0) return -1;
  DIR* proc = opendir("/proc");
  if (!proc) return -1;
  pid_t found = -1;
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    pid_t parent = 0;
    std::string name;
    if (ReadStat(static_cast<pid_t>(pid), &parent, &name) && parent == gpsfake_pid_ &&
        name == "gpsd") {
      found = static_cast<pid_t>(pid);
      break;
    }
  }
  closedir(proc);
  return found;
}

void GpsFake::KillGpsd() {
  pid_t gpsd = gpsd_pid();
  if (gpsd > 0) kill(gpsd, SIGKILL);
  // gpsfake's loop sees "daemon died" and exits; make sure of it without waiting long.
  auto deadline = Steady::now() + std::chrono::seconds(3);
  while (gpsfake_pid_ > 0 && Steady::now() < deadline) {
    int status = 0;
    if (waitpid(gpsfake_pid_, &status, WNOHANG) == gpsfake_pid_) {
      gpsfake_pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  KillAll();
}

bool GpsFake::PauseGpsd() {
  pid_t gpsd = gpsd_pid();
  return gpsd > 0 && kill(gpsd, SIGSTOP) == 0;
}

bool GpsFake::ResumeGpsd() {
  pid_t gpsd = gpsd_pid();
  return gpsd > 0 && kill(gpsd, SIGCONT) == 0;
}

void GpsFake::KillAll() {
  if (gpsfake_pid_ > 0) {
    pid_t gpsd = gpsd_pid();
    kill(-gpsfake_pid_, SIGCONT);  // a stopped gpsd must not linger
    kill(-gpsfake_pid_, SIGKILL);
    if (gpsd > 0) kill(gpsd, SIGKILL);  // in the group already; this is belt and braces
    int status = 0;
    waitpid(gpsfake_pid_, &status, 0);
    gpsfake_pid_ = -1;
    // gpsd is gpsfake's child, reaped by init; wait for its port to close so that a restart
    // on the same port cannot race with the dying one.
    for (int i = 0; i < 100 && gpsd > 0 && kill(gpsd, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  RemoveSharedMemory();
}

void GpsFake::RemoveSharedMemory() const {
  // gpsfake gives gpsd GPSD_SHM_KEY=0x4770<port>; a SIGKILLed gpsd cannot remove its segment.
  key_t key = static_cast<key_t>(0x47700000 + port_);
  int id = shmget(key, 0, 0);
  if (id >= 0) shmctl(id, IPC_RMID, nullptr);
}

std::string GpsFake::output() const {
  std::ifstream in(output_path_);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool RunLoopUntilMs(const std::function<bool()>& done, int timeout_ms) {
  GMainContext* context = g_main_context_get_thread_default();
  auto deadline = Steady::now() + std::chrono::milliseconds(timeout_ms);
  while (!done() && Steady::now() < deadline) {
    // Wakes at least every 20 ms so that the deadline is honoured while nothing happens.
    GSource* tick = g_timeout_source_new(20);
    g_source_set_callback(
        tick, [](gpointer) -> gboolean { return G_SOURCE_REMOVE; }, nullptr, nullptr);
    g_source_attach(tick, context);
    g_main_context_iteration(context, TRUE);
    g_source_destroy(tick);
    g_source_unref(tick);
  }
  return done();
}

}  // namespace patrolrec::testing
