// PIN sign-in sessions with a manual clock: a PIN names its user, wrong PINs lock sign-in for a
// doubling time, sessions end when signed out, unused for the idle time or past their lifetime.
#include "daemon/sessions.h"

#include <gtest/gtest.h>

#include "storage/seal.h"

namespace patrolrec::daemon {
namespace {

constexpr int64_t kS = 1'000'000'000;
using Outcome = SignInResult::Outcome;

class SessionsTest : public ::testing::Test {
 protected:
  SessionsTest()
      : table_({UserConfig{"wang", Role::kOfficer, storage::Sha256Hex("t1"),
                           storage::Sha256Hex("1111")},
                UserConfig{"liu", Role::kTechnician, storage::Sha256Hex("t2"),
                           storage::Sha256Hex("3333")},
                UserConfig{"nopin", Role::kAuditor, storage::Sha256Hex("t3"), ""}},
               [this] { return now_; }) {}
  int64_t now_ = 1000 * kS;
  SessionTable table_;
};

TEST_F(SessionsTest, APinSignsInItsUserAndTheTokenNamesThemUntilSignedOut) {
  SignInResult result = table_.SignIn("3333");
  ASSERT_EQ(result.outcome, Outcome::kOk) << result.reason;
  EXPECT_EQ(result.user, "liu");
  EXPECT_EQ(result.role, Role::kTechnician);
  auto who = table_.Find(result.token);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->user, "liu");
  EXPECT_FALSE(table_.Find("s-" + std::string(64, '0')));
  EXPECT_TRUE(table_.SignOut(result.token));
  EXPECT_FALSE(table_.Find(result.token));
  EXPECT_FALSE(table_.SignOut(result.token));
}

TEST_F(SessionsTest, SessionsEndWhenUnusedForTheIdleTimeOrPastTheirLifetime) {
  SessionPolicy policy;
  SignInResult result = table_.SignIn("1111");
  ASSERT_EQ(result.outcome, Outcome::kOk);
  now_ += policy.idle_ns - kS;
  EXPECT_TRUE(table_.Find(result.token));  // used: the idle time starts again
  now_ += policy.idle_ns - kS;
  EXPECT_TRUE(table_.Find(result.token));
  now_ += policy.idle_ns;
  EXPECT_FALSE(table_.Find(result.token));

  SignInResult busy = table_.SignIn("1111");
  for (int64_t t = 0; t < policy.lifetime_ns; t += policy.idle_ns / 2) {
    now_ += policy.idle_ns / 2;
    if (now_ - 1000 * kS < policy.lifetime_ns) table_.Find(busy.token);
  }
  now_ += policy.idle_ns / 2;
  EXPECT_FALSE(table_.Find(busy.token)) << "a session outlived its lifetime";
}

TEST_F(SessionsTest, WrongPinsLockSignInForADoublingTimeEvenForTheRightPin) {
  SessionPolicy policy;
  for (int i = 1; i < policy.free_attempts; ++i) {
    SignInResult wrong = table_.SignIn("0000");
    EXPECT_EQ(wrong.outcome, Outcome::kWrongPin);
    EXPECT_EQ(wrong.retry_after_s, 0);
  }
  SignInResult locking = table_.SignIn("0000");
  EXPECT_EQ(locking.outcome, Outcome::kWrongPin);
  EXPECT_EQ(locking.retry_after_s, policy.first_lockout_ns / kS);
  SignInResult locked = table_.SignIn("1111");
  EXPECT_EQ(locked.outcome, Outcome::kLockedOut);
  EXPECT_NE(locked.reason.find("locked"), std::string::npos) << locked.reason;
  now_ += policy.first_lockout_ns;
  EXPECT_EQ(table_.SignIn("0000").retry_after_s, 2 * policy.first_lockout_ns / kS);
  now_ += 2 * policy.first_lockout_ns;
  EXPECT_EQ(table_.SignIn("1111").outcome, Outcome::kOk);  // and the count starts again
  EXPECT_EQ(table_.SignIn("0000").retry_after_s, 0);
}

TEST_F(SessionsTest, MalformedPinsAreRefusedWithoutCountingAndNoPinMeansNoSession) {
  for (const char* pin : {"", "12", "12a4", "1234567890123"}) {
    EXPECT_EQ(table_.SignIn(pin).outcome, Outcome::kMalformed) << pin;
  }
  EXPECT_EQ(table_.SignIn("1111").outcome, Outcome::kOk);
  SessionTable none({UserConfig{"nopin", Role::kAuditor, storage::Sha256Hex("t3"), ""}},
                    [] { return int64_t{0}; });
  EXPECT_FALSE(none.enabled());
}

}  // namespace
}  // namespace patrolrec::daemon
