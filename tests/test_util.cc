#include "tests/test_util.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

namespace patrolrec::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/patrolrec-test-XXXXXX";
  char* made = ::mkdtemp(pattern.data());
  path_ = made ? made : "";
}

TempDir::~TempDir() {
  if (!path_.empty() && !std::getenv("PATROLREC_KEEP_TEST_DIRS")) {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
}

CommandResult RunCommand(const std::vector<std::string>& argv) {
  CommandResult result;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return result;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) result.output.append(buffer, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

int StartProcess(const std::vector<std::string>& argv, const std::string& output_path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int WaitProcess(int pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1000;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

std::string BinaryPath(const std::string& name) {
  return std::string(PATROLREC_BIN_DIR) + "/" + name;
}

void WriteTextFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

std::string MakeFragmentedClip(const std::string& dir, const std::string& name, int seconds,
                               bool with_audio) {
  std::string path = dir + "/" + name;
  std::string frames = std::to_string(seconds * 30);
  std::vector<std::string> argv = {"gst-launch-1.0",
                                   "-q",
                                   "-e",
                                   "videotestsrc",
                                   "num-buffers=" + frames,
                                   "pattern=ball",
                                   "!",
                                   "video/x-raw,width=640,height=360,framerate=30/1",
                                   "!",
                                   "videoconvert",
                                   "!",
                                   "video/x-raw,format=I420",
                                   "!",
                                   "x264enc",
                                   "speed-preset=ultrafast",
                                   "tune=zerolatency",
                                   "key-int-max=30",
                                   "!",
                                   "h264parse",
                                   "!",
                                   "queue",
                                   "!",
                                   "mux.video_0"};
  if (with_audio) {
    const std::string audio_buffers = std::to_string(seconds * 44100 / 1024);
    for (const std::string& a :
         {std::string("audiotestsrc"), "num-buffers=" + audio_buffers,
          std::string("samplesperbuffer=1024"), std::string("!"),
          std::string("audio/x-raw,rate=44100,channels=1"), std::string("!"),
          std::string("audioconvert"), std::string("!"), std::string("avenc_aac"), std::string("!"),
          std::string("queue"), std::string("!"), std::string("mux.audio_0")}) {
      argv.push_back(a);
    }
  }
  for (const char* a : {"mp4mux", "name=mux", "fragment-duration=1000", "!", "filesink"}) {
    argv.push_back(a);
  }
  argv.push_back("location=" + path);
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0 || !std::filesystem::exists(path)) return "";
  return path;
}

int CountOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

}  // namespace patrolrec::testing
