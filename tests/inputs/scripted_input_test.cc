// The scripted input: levels injected by calls, debounced and reported the way a GPIO line's
// edges are (it shares DebouncedLevel with the GPIO input), on a real GLib main context.
#include "inputs/scripted_input.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/inputs/input_test_util.h"

namespace patrolrec::inputs {
namespace {

constexpr int64_t kMs = 1'000'000;

TEST(ScriptedInputTest, APressHeldForTheDebounceTimeIsOneEventDatedAtThePress) {
  TestLoop loop;
  ScriptedInput button("record-button", InputFunction::kRecordButton, 30, base::Clock::System());
  Recorded recorded;
  button.Start(recorded.OnEvent(), recorded.OnProblem());
  EXPECT_TRUE(recorded.events.empty());  // inactive at start: no event
  int64_t pressed_ns = base::Clock::System()->MonotonicNs();
  button.Press();
  loop.RunFor(15);
  EXPECT_TRUE(recorded.events.empty());  // not yet stable
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 1; }, 1000));
  const InputEvent& event = recorded.events[0];
  EXPECT_EQ(event.input, "record-button");
  EXPECT_EQ(event.function, InputFunction::kRecordButton);
  EXPECT_TRUE(event.active);
  EXPECT_EQ(event.detail, "scripted press of record-button");
  EXPECT_GE(event.monotonic_ns, pressed_ns);
  EXPECT_LT(event.monotonic_ns, pressed_ns + 10 * kMs);
  EXPECT_GE(base::Clock::System()->MonotonicNs() - event.monotonic_ns, 30 * kMs);

  button.Release();
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 2; }, 1000));
  EXPECT_FALSE(recorded.events[1].active);
  loop.RunFor(60);
  EXPECT_EQ(recorded.events.size(), 2u);
}

TEST(ScriptedInputTest, ABounceTrainShorterThanTheDebounceIsSwallowed) {
  TestLoop loop;
  ScriptedInput siren("siren", InputFunction::kSiren, 50, base::Clock::System());
  Recorded recorded;
  siren.Start(recorded.OnEvent(), recorded.OnProblem());
  for (int i = 0; i < 5; ++i) {
    siren.Set(true);
    loop.RunFor(3);
    siren.Set(false);
    loop.RunFor(3);
  }
  loop.RunFor(150);
  EXPECT_TRUE(recorded.events.empty());
}

TEST(ScriptedInputTest, AnInputActiveAtStartIsReported) {
  TestLoop loop;
  ScriptedInput lights("light-bar", InputFunction::kLightBar, 50, base::Clock::System());
  lights.Set(true);  // on before the recorder starts
  Recorded recorded;
  lights.Start(recorded.OnEvent(), recorded.OnProblem());
  ASSERT_EQ(recorded.events.size(), 1u);
  EXPECT_TRUE(recorded.events[0].active);
  EXPECT_THAT(recorded.events[0].detail, ::testing::HasSubstr("(level when opened)"));
}

TEST(ScriptedInputTest, AProblemIsReportedAndItsEndReopensAtTheCurrentLevel) {
  TestLoop loop;
  ScriptedInput door("door", InputFunction::kDoor, 0, base::Clock::System());
  Recorded recorded;
  door.Start(recorded.OnEvent(), recorded.OnProblem());
  door.InjectProblem("input \"door\": gpiochip0 line 4: No such device (ENODEV)");
  EXPECT_EQ(door.problem(), "input \"door\": gpiochip0 line 4: No such device (ENODEV)");
  door.Press();  // while the device is away: not seen
  loop.RunFor(10);
  EXPECT_TRUE(recorded.events.empty());
  door.InjectProblem("");
  ASSERT_EQ(recorded.problems.size(), 2u);
  EXPECT_EQ(recorded.problems[1], "");
  ASSERT_EQ(recorded.events.size(), 1u);  // reopened while the door is open
  EXPECT_TRUE(recorded.events[0].active);
  EXPECT_EQ(door.Describe(), "scripted door: debounce 0 ms, door");
}

TEST(ScriptedInputTest, StopFromACallbackEndsDelivery) {
  TestLoop loop;
  ScriptedInput button("record-button", InputFunction::kRecordButton, 10, base::Clock::System());
  int events = 0;
  button.Start(
      [&](const InputEvent&) {
        ++events;
        button.Stop();
      },
      nullptr);
  button.Press();
  loop.RunFor(50);
  button.Release();
  loop.RunFor(50);
  EXPECT_EQ(events, 1);
}

}  // namespace
}  // namespace patrolrec::inputs
