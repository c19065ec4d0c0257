// GpioInput: closed (a retry timer armed) or open (chip, requested line, event fd GSource). Any
// failure while open (the fd hangs up, an event cannot be read) closes it and starts retrying.
#include "inputs/gpio_input.h"

#include <glib-unix.h>
#include <glib.h>
#include <gpiod.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <optional>
#include <utility>

#include "base/log.h"
#include "base/status.h"
#include "inputs/debounced_level.h"

namespace patrolrec::inputs {
namespace {

constexpr char kConsumer[] = "patrolrecd";

class GpioInput final : public InputSource {
 public:
  GpioInput(GpioInputConfig config, base::Clock* clock)
      : config_(std::move(config)),
        level_(config_.name, config_.function, config_.debounce_ms, clock) {}
  ~GpioInput() override { Stop(); }

  void Start(EventCallback on_event, ProblemCallback on_problem) override {
    if (context_) return;
    context_ = g_main_context_ref_thread_default();
    on_event_ = std::move(on_event);
    on_problem_ = std::move(on_problem);
    backoff_ms_ = std::max(config_.retry_min_ms, 1);
    Open();
  }

  void Stop() override {
    if (!context_) return;
    Close();
    DestroySource(&retry_source_);
    g_main_context_unref(context_);
    context_ = nullptr;
  }

  std::string Describe() const override {
    return "gpio " + config_.name + ": " + Where() + (config_.active_low ? ", active-low" : "") +
           ", debounce " + std::to_string(config_.debounce_ms) + " ms, " +
           InputFunctionName(config_.function);
  }

  std::string problem() const override { return problem_; }

 private:
  static void DestroySource(GSource** source) {
    if (!*source) return;
    g_source_destroy(*source);
    g_source_unref(*source);
    *source = nullptr;
  }

  template <typename F>
  void Guard(F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      base::LogError("input \"" + config_.name + "\": exception in a callback: " + e.what());
    } catch (...) {
      base::LogError("input \"" + config_.name + "\": unknown exception in a callback");
    }
  }

  static int SavedErrno(int otherwise) { return errno != 0 ? errno : otherwise; }

  std::string Where() const { return config_.chip + " line " + std::to_string(config_.line); }

  // The hint that turns an errno into something a technician can act on.
  static std::string Hint(int error) {
    switch (error) {
      case ENOENT:
      case ENODEV:
        return " (is the GPIO chip present? see gpiodetect)";
      case EINVAL:
        return " (is the line offset on this chip? see gpioinfo)";
      case EBUSY:
        return " (the line is used by another consumer; see gpioinfo)";
      case ENOTTY:
        return " (not a GPIO character device; see gpiodetect)";
      case EACCES:
      case EPERM:
        return " (patrolrecd needs read-write access to /dev/gpiochip*)";
      default:
        return "";
    }
  }

  // Opens chip and line, or reports why not and schedules a retry.
  void Open() {
    // libgpiod reports failures in errno; it is saved before anything else can change it.
    errno = 0;
    // A path is opened as such, so that its own error is reported (the lookup would go on to
    // try it as a label and end with ENOENT whatever was wrong with the path).
    chip_ = config_.chip.front() == '/' ? gpiod_chip_open(config_.chip.c_str())
                                        : gpiod_chip_open_lookup(config_.chip.c_str());
    if (!chip_) {
      int error = SavedErrno(ENOENT);
      return Fail(Where(), error);
    }
    gpiod_line* line = gpiod_chip_get_line(chip_, config_.line);
    if (!line) {
      int error = SavedErrno(EINVAL);
      return Fail(Where(), error);
    }
    int flags = config_.active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (gpiod_line_request_both_edges_events_flags(line, kConsumer, flags) != 0) {
      int error = SavedErrno(EIO);
      return Fail(Where() + ": cannot request it for edge events", error);
    }
    line_ = line;
    int value = gpiod_line_get_value(line_);
    if (value < 0) {
      int error = SavedErrno(EIO);
      return Fail(Where() + ": cannot read its level", error);
    }
    int fd = gpiod_line_event_get_fd(line_);
    if (fd < 0) {
      int error = SavedErrno(EIO);
      return Fail(Where() + ": no event file descriptor", error);
    }
    fd_source_ = g_unix_fd_source_new(fd, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR));
    g_source_set_callback(fd_source_, G_SOURCE_FUNC(&GpioInput::OnFd), this, nullptr);
    g_source_attach(fd_source_, context_);

    backoff_ms_ = std::max(config_.retry_min_ms, 1);
    base::LogInfo("input \"" + config_.name + "\": " + Where() + " open (" +
                      gpiod_chip_name(chip_) + " \"" + gpiod_chip_label(chip_) + "\"), level " +
                      (value ? "active" : "inactive"),
                  {{"INPUT", config_.name}});
    SetProblem("");
    level_.Begin(
        context_, value != 0,
        [this]() -> std::optional<bool> {
          if (!line_) return std::nullopt;
          int now = gpiod_line_get_value(line_);
          return now < 0 ? std::nullopt : std::optional<bool>(now != 0);
        },
        [this](bool active) {
          // The line's own (physical) edge: active-low inputs become active on a falling edge.
          bool rising = active != config_.active_low;
          return Where() + (rising ? " rising" : " falling") +
                 (config_.active_low ? " (active-low)" : "");
        },
        on_event_);
  }

  void Close() {
    level_.End();
    DestroySource(&fd_source_);
    if (line_) gpiod_line_release(line_);
    line_ = nullptr;
    if (chip_) gpiod_chip_close(chip_);
    chip_ = nullptr;
  }

  void Fail(const std::string& what, int error) {
    Close();
    SetProblem("input \"" + config_.name + "\": " + what + ": " + base::ErrnoText(error) +
               Hint(error));
    if (!context_) return;  // stopped from the problem callback
    DestroySource(&retry_source_);
    retry_source_ = g_timeout_source_new(static_cast<guint>(backoff_ms_));
    g_source_set_callback(retry_source_, &GpioInput::OnRetry, this, nullptr);
    g_source_attach(retry_source_, context_);
    backoff_ms_ = std::min(backoff_ms_ * 2, std::max(config_.retry_max_ms, backoff_ms_));
  }

  // Logs and reports a change of problem; the same problem again (every retry) only once.
  void SetProblem(const std::string& problem) {
    if (problem == problem_) return;
    bool was_failing = !problem_.empty();
    problem_ = problem;
    if (!problem.empty()) {
      base::LogWarning(problem + "; retrying every " + std::to_string(config_.retry_min_ms) + ".." +
                           std::to_string(config_.retry_max_ms) + " ms",
                       {{"INPUT", config_.name}});
    } else if (was_failing) {
      base::LogInfo("input \"" + config_.name + "\": " + Where() + " working again",
                    {{"INPUT", config_.name}});
    }
    if (on_problem_ && (was_failing || !problem.empty())) on_problem_(problem);
  }

  static gboolean OnRetry(gpointer self) {
    auto* input = static_cast<GpioInput*>(self);
    g_source_unref(input->retry_source_);
    input->retry_source_ = nullptr;
    input->Guard([&] { input->Open(); });
    return G_SOURCE_REMOVE;
  }

  static gboolean OnFd(gint, GIOCondition condition, gpointer self) {
    auto* input = static_cast<GpioInput*>(self);
    input->Guard([&] { input->OnEvent(condition); });
    return G_SOURCE_CONTINUE;  // Close() destroys it when it must go
  }

  void OnEvent(GIOCondition condition) {
    if (condition & G_IO_IN) {
      gpiod_line_event event{};
      if (gpiod_line_event_read(line_, &event) != 0) {
        int error = SavedErrno(EIO);
        return Fail(Where() + ": cannot read an edge event", error);
      }
      // Edges are reported by the kernel as logical levels (active-low already applied).
      level_.Observe(event.event_type == GPIOD_LINE_EVENT_RISING_EDGE);
      return;
    }
    if (condition & (G_IO_HUP | G_IO_ERR)) {
      Fail(Where() + ": the chip went away", ENODEV);
    }
  }

  GpioInputConfig config_;
  DebouncedLevel level_;
  EventCallback on_event_;
  ProblemCallback on_problem_;
  GMainContext* context_ = nullptr;  // thread-default context captured by Start()
  gpiod_chip* chip_ = nullptr;
  gpiod_line* line_ = nullptr;  // requested; owned by chip_
  GSource* fd_source_ = nullptr;
  GSource* retry_source_ = nullptr;
  int backoff_ms_ = 1000;
  std::string problem_;
};

}  // namespace

std::unique_ptr<InputSource> MakeGpioInput(GpioInputConfig config, base::Clock* clock) {
  return std::make_unique<GpioInput>(std::move(config), clock);
}

}  // namespace patrolrec::inputs
