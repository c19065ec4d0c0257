// Names of the input functions, as the configuration file and the events spell them.
#include "inputs/input.h"

#include <utility>

namespace patrolrec::inputs {
namespace {

constexpr std::pair<InputFunction, const char*> kNames[] = {
    {InputFunction::kLightBar, "light-bar"},
    {InputFunction::kSiren, "siren"},
    {InputFunction::kDoor, "door"},
    {InputFunction::kRearDoorLock, "rear-door-lock"},
    {InputFunction::kRecordButton, "record-button"},
    {InputFunction::kCrash, "crash"}};

}  // namespace

const char* InputFunctionName(InputFunction function) {
  for (const auto& [value, name] : kNames) {
    if (value == function) return name;
  }
  return "?";
}

bool ParseInputFunction(const std::string& name, InputFunction* function) {
  for (const auto& [value, text] : kNames) {
    if (name == text) {
      *function = value;
      return true;
    }
  }
  return false;
}

std::string InputFunctionNames() {
  std::string out;
  constexpr size_t kCount = sizeof kNames / sizeof kNames[0];
  for (size_t i = 0; i < kCount; ++i) {
    out += (i == 0 ? "" : i + 1 == kCount ? " or " : ", ") + std::string(kNames[i].second);
  }
  return out;
}

}  // namespace patrolrec::inputs
