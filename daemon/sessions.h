// PIN sign-in for the in-car screen (docs/ui.md): a PIN maps to one configured [user]; signing
// in gives a random session token that the API then accepts like that user's own bearer token,
// until it is signed out or left unused for the idle time. Sessions live in memory only: a
// restart of the daemon signs everyone out, which is what a crew expects of a reboot.
//
// Invariant: a session always names the one user whose PIN opened it, and wrong PINs are slowed
// down (a lockout that doubles with each further wrong PIN), so that four digits cannot be
// guessed through the API in any useful time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/role.h"

namespace patrolrec::daemon {

struct SessionPolicy {
  int64_t idle_ns = 30LL * 60 * 1'000'000'000;         // unused this long: signed out
  int64_t lifetime_ns = 12LL * 3600 * 1'000'000'000;   // at most a shift, however busy
  int free_attempts = 5;                               // wrong PINs before the first lockout
  int64_t first_lockout_ns = 30LL * 1'000'000'000;     // then doubling with each wrong PIN
  int64_t max_lockout_ns = 5LL * 60 * 1'000'000'000;
  size_t max_sessions = 64;  // the oldest is dropped beyond this (a screen signing in forever)
};

struct SignInResult {
  enum class Outcome { kOk, kWrongPin, kLockedOut, kMalformed } outcome = Outcome::kWrongPin;
  std::string token;  // kOk: the session token, shown once
  std::string user;
  Role role = Role::kOfficer;
  int64_t expires_in_s = 0;
  int64_t retry_after_s = 0;  // kLockedOut (and a wrong PIN that started a lockout)
  std::string reason;         // for a person: what was wrong and what to do
};

class SessionTable {
 public:
  // `now_ns` is a monotonic clock (tests pass a manual one).
  SessionTable(const std::vector<UserConfig>& users, std::function<int64_t()> now_ns,
               SessionPolicy policy = {});

  bool enabled() const { return !pins_.empty(); }  // some user has a PIN
  SignInResult SignIn(const std::string& pin);
  // The user of a live session token (and renews its idle time), or nullopt.
  struct Who {
    std::string user;
    Role role;
  };
  std::optional<Who> Find(const std::string& token);
  // Ends the session of `token`; false when there was none.
  bool SignOut(const std::string& token);
  size_t size() const { return sessions_.size(); }

 private:
  struct Session {
    std::string user;
    Role role;
    int64_t created_ns;
    int64_t last_used_ns;
  };
  void Expire(int64_t now);

  std::function<int64_t()> now_ns_;
  SessionPolicy policy_;
  std::map<std::string, UserConfig> pins_;     // raw SHA-256 of the PIN -> its user
  std::map<std::string, Session> sessions_;    // raw SHA-256 of the token -> session
  int wrong_in_a_row_ = 0;
  int64_t locked_until_ns_ = 0;
};

}  // namespace patrolrec::daemon
