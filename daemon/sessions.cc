#include "daemon/sessions.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>

namespace patrolrec::daemon {

namespace {

std::string Sha256Raw(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

std::string RawFromHex(const std::string& hex) {
  auto value = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string raw;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    raw.push_back(static_cast<char>(value(hex[i]) * 16 + value(hex[i + 1])));
  }
  return raw;
}

std::string RandomToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return "";
  static const char kHex[] = "0123456789abcdef";
  std::string token = "s-";  // tells a session token from a configured one in a bug report
  for (unsigned char b : bytes) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 15]);
  }
  return token;
}

}  // namespace

SessionTable::SessionTable(const std::vector<UserConfig>& users, std::function<int64_t()> now_ns,
                           SessionPolicy policy)
    : now_ns_(std::move(now_ns)), policy_(policy) {
  for (const UserConfig& user : users) {
    if (!user.pin_sha256.empty()) pins_.emplace(RawFromHex(user.pin_sha256), user);
  }
}

void SessionTable::Expire(int64_t now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const Session& s = it->second;
    if (now - s.last_used_ns >= policy_.idle_ns || now - s.created_ns >= policy_.lifetime_ns) {
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

SignInResult SessionTable::SignIn(const std::string& pin) {
  SignInResult result;
  const int64_t now = now_ns_();
  if (now < locked_until_ns_) {
    result.outcome = SignInResult::Outcome::kLockedOut;
    result.retry_after_s = (locked_until_ns_ - now + 999'999'999) / 1'000'000'000;
    result.reason = "too many wrong PINs: PIN sign-in is locked for another " +
                    std::to_string(result.retry_after_s) + " s; wait, or use your token";
    return result;
  }
  if (pin.size() < 4 || pin.size() > 12 ||
      !std::all_of(pin.begin(), pin.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    result.outcome = SignInResult::Outcome::kMalformed;
    result.reason = "a PIN is 4 to 12 digits";
    return result;
  }
  auto it = pins_.find(Sha256Raw(pin));
  if (it == pins_.end()) {
    ++wrong_in_a_row_;
    result.outcome = SignInResult::Outcome::kWrongPin;
    result.reason = "wrong PIN (no user has this PIN)";
    if (wrong_in_a_row_ >= policy_.free_attempts) {
      int doublings = std::min(wrong_in_a_row_ - policy_.free_attempts, 20);
      int64_t lockout = std::min(policy_.first_lockout_ns << doublings, policy_.max_lockout_ns);
      locked_until_ns_ = now + lockout;
      result.retry_after_s = lockout / 1'000'000'000;
      result.reason += "; " + std::to_string(wrong_in_a_row_) +
                       " wrong PINs in a row: PIN sign-in is locked for " +
                       std::to_string(result.retry_after_s) + " s";
    } else {
      result.reason += "; " + std::to_string(policy_.free_attempts - wrong_in_a_row_) +
                       " more before PIN sign-in is locked for a while";
    }
    return result;
  }
  wrong_in_a_row_ = 0;
  Expire(now);
  while (sessions_.size() >= policy_.max_sessions) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.created_ns < b.second.created_ns;
    });
    sessions_.erase(oldest);
  }
  std::string token = RandomToken();
  if (token.empty()) {
    result.outcome = SignInResult::Outcome::kMalformed;
    result.reason = "no random bytes for a session token (OpenSSL RAND_bytes failed); try again";
    return result;
  }
  sessions_[Sha256Raw(token)] = Session{it->second.name, it->second.role, now, now};
  result.outcome = SignInResult::Outcome::kOk;
  result.token = std::move(token);
  result.user = it->second.name;
  result.role = it->second.role;
  result.expires_in_s = policy_.idle_ns / 1'000'000'000;
  return result;
}

std::optional<SessionTable::Who> SessionTable::Find(const std::string& token) {
  if (sessions_.empty()) return std::nullopt;
  const int64_t now = now_ns_();
  Expire(now);
  auto it = sessions_.find(Sha256Raw(token));
  if (it == sessions_.end()) return std::nullopt;
  it->second.last_used_ns = now;
  return Who{it->second.user, it->second.role};
}

bool SessionTable::SignOut(const std::string& token) {
  return sessions_.erase(Sha256Raw(token)) > 0;
}

}  // namespace patrolrec::daemon
