// The audit log: entries chain, survive reopening, and every kind of tampering (an edited,
// deleted, reordered entry) and a power cut in the middle of a write are detected and named.
#include "storage/audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/env.h"
#include "storage/seal.h"
#include "tests/fault_injection_env.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using ::testing::HasSubstr;

class FixedClock final : public base::Clock {
 public:
  int64_t NowUtcNs() const override { return now_ns += 1000; }
  int64_t MonotonicNs() const override { return now_ns; }
  mutable int64_t now_ns = 1'790'000'000'000'000'000;
};

AuditEvent Event(const std::string& detail, const std::string& outcome = "ok") {
  return AuditEvent{"li-wei", "officer", "POST /v1/incidents/{id}/phase", "/v1/incidents/7/phase",
                    outcome, outcome == "ok" ? 200 : 403, detail};
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

class AuditLogTest : public ::testing::Test {
 protected:
  // Writes `count` entries and returns the file's lines.
  std::vector<std::string> WriteEntries(int count) {
    auto log = AuditLog::Open(env_, clock_, path_);
    EXPECT_TRUE(log.ok()) << log.message();
    for (int i = 0; i < count; ++i) {
      auto entry = (*log)->Append(Event("entry " + std::to_string(i + 1)));
      EXPECT_TRUE(entry.ok()) << entry.message();
    }
    return Lines(*env_.ReadFile(path_));
  }

  testing::TempDir dir_;
  std::string path_ = dir_ / "audit.log";
  base::Env& env_ = *base::Env::Default();
  FixedClock clock_;
};

TEST_F(AuditLogTest, EntriesChainAndVerify) {
  auto lines = WriteEntries(5);
  ASSERT_EQ(lines.size(), 5u);
  auto first = ParseAuditLine(lines[0]);
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_EQ(first->seq, 1);
  EXPECT_EQ(first->prev, kAuditGenesisHash);
  EXPECT_EQ(first->event, Event("entry 1"));
  auto second = ParseAuditLine(lines[1]);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->prev, Sha256Hex(lines[0]));
  auto report = VerifyAuditLog(env_, path_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problem;
  EXPECT_EQ(report->good_entries, 5);
}

TEST_F(AuditLogTest, HashIsOverSortedCompactJsonWithoutHash) {
  auto lines = WriteEntries(1);
  auto value = nlohmann::json::parse(lines[0]);
  std::string hash = value["hash"];
  value.erase("hash");
  EXPECT_EQ(Sha256Hex(value.dump()), hash);  // what `jq -cS 'del(.hash)'` prints
}

TEST_F(AuditLogTest, ReopeningContinuesTheChain) {
  WriteEntries(3);
  auto lines = WriteEntries(2);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(ParseAuditLine(lines[3])->seq, 4);
  auto report = VerifyAuditLog(env_, path_);
  EXPECT_TRUE(report->ok()) << report->problem;
  EXPECT_EQ(report->good_entries, 5);
}

TEST_F(AuditLogTest, DetectsAnEditedEntry) {
  auto lines = WriteEntries(4);
  size_t at = lines[2].find("entry 3");
  lines[2].replace(at, 7, "entry X");
  AuditVerifyReport report = VerifyAuditText(Join(lines));
  EXPECT_EQ(report.bad_line, 3);
  EXPECT_EQ(report.good_entries, 2);
  EXPECT_THAT(report.problem, HasSubstr("line 3: an entry was edited"));
}

TEST_F(AuditLogTest, DetectsAnEditedEntryWhoseHashWasRecomputed) {
  auto lines = WriteEntries(4);
  auto value = nlohmann::json::parse(lines[1]);
  value["detail"] = "nothing happened";
  value.erase("hash");
  value["hash"] = Sha256Hex(value.dump());
  lines[1] = value.dump();
  AuditVerifyReport report = VerifyAuditText(Join(lines));
  EXPECT_EQ(report.bad_line, 3);  // the next entry's prev no longer matches
  EXPECT_THAT(report.problem, HasSubstr("line 3: broken link"));
}

TEST_F(AuditLogTest, DetectsADeletedEntry) {
  auto lines = WriteEntries(5);
  lines.erase(lines.begin() + 2);
  AuditVerifyReport report = VerifyAuditText(Join(lines));
  EXPECT_EQ(report.bad_line, 3);
  EXPECT_THAT(report.problem, HasSubstr("line 3: entry 3 is missing (deleted)"));
}

TEST_F(AuditLogTest, DetectsReorderedEntries) {
  auto lines = WriteEntries(5);
  std::swap(lines[1], lines[2]);
  AuditVerifyReport report = VerifyAuditText(Join(lines));
  EXPECT_EQ(report.bad_line, 2);
  EXPECT_THAT(report.problem, HasSubstr("out of order: found seq 3 where seq 2 belongs"));
}

TEST_F(AuditLogTest, DetectsAReformattedLine) {
  auto lines = WriteEntries(2);
  lines[0] = nlohmann::json::parse(lines[0]).dump(1);
  lines[0].erase(std::remove(lines[0].begin(), lines[0].end(), '\n'), lines[0].end());
  AuditVerifyReport report = VerifyAuditText(Join(lines));
  EXPECT_EQ(report.bad_line, 1);
  EXPECT_THAT(report.problem, HasSubstr("canonical"));
}

TEST_F(AuditLogTest, GarbageIsABadLineNotACrash) {
  for (const std::string text : {"{}\n", "[1]\n", "\n", "{\"seq\":1e400}\n", "\xff\xfe\n"}) {
    AuditVerifyReport report = VerifyAuditText(text);
    EXPECT_EQ(report.bad_line, 1) << text;
  }
  EXPECT_TRUE(VerifyAuditText("").ok());
}

TEST_F(AuditLogTest, TornTailIsKeptAsideAndRecorded) {
  WriteEntries(3);
  std::string whole = *env_.ReadFile(path_);
  const std::string torn = "{\"action\":\"POST /v1/rec";
  testing::WriteTextFile(path_, whole + torn);
  AuditVerifyReport before = *VerifyAuditLog(env_, path_);
  EXPECT_TRUE(before.torn_tail);
  EXPECT_EQ(before.bad_line, 4);
  EXPECT_THAT(before.problem, HasSubstr("torn by a power cut"));

  auto log = AuditLog::Open(env_, clock_, path_);
  ASSERT_TRUE(log.ok()) << log.message();
  ASSERT_FALSE((*log)->torn_tail_path().empty());
  EXPECT_EQ(*env_.ReadFile((*log)->torn_tail_path()), torn);
  auto lines = Lines(*env_.ReadFile(path_));
  ASSERT_EQ(lines.size(), 4u);
  auto recovered = ParseAuditLine(lines[3]);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->event.action, "audit-log recover");
  EXPECT_THAT(recovered->event.detail, HasSubstr((*log)->torn_tail_path()));
  EXPECT_TRUE(VerifyAuditLog(env_, path_)->ok());
  ASSERT_TRUE((*log)->Append(Event("after")).ok());
  EXPECT_EQ(VerifyAuditLog(env_, path_)->good_entries, 5);
}

TEST_F(AuditLogTest, RefusesToContinueABrokenChain) {
  auto lines = WriteEntries(3);
  lines.erase(lines.begin() + 1);
  testing::WriteTextFile(path_, Join(lines));
  auto log = AuditLog::Open(env_, clock_, path_);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.message(), HasSubstr("line 2: entry 2 is missing"));
}

TEST_F(AuditLogTest, AppendedEntriesSurviveAPowerCut) {
  testing::FaultInjectionEnv faulty(base::Env::Default());
  {
    auto log = AuditLog::Open(faulty, clock_, path_);
    ASSERT_TRUE(log.ok()) << log.message();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Event("x")).ok());
  }
  faulty.SimulatePowerCut(dir_.path(), "");
  EXPECT_EQ(faulty.bytes_dropped(), 0u);
  EXPECT_EQ(VerifyAuditLog(env_, path_)->good_entries, 3);
}

TEST_F(AuditLogTest, InvalidUtf8IsStoredAsReplacementCharacters) {
  auto log = AuditLog::Open(env_, clock_, path_);
  auto entry = (*log)->Append(Event(std::string("bad \xff\xfe byte\0 nul", 17)));
  ASSERT_TRUE(entry.ok()) << entry.message();
  EXPECT_THAT(entry->event.detail, HasSubstr("\xEF\xBF\xBD"));
  EXPECT_TRUE(VerifyAuditLog(env_, path_)->ok());
}

TEST_F(AuditLogTest, ReadSinceReturnsLaterEntries) {
  WriteEntries(5);
  auto log = AuditLog::Open(env_, clock_, path_);
  auto entries = (*log)->ReadSince(2, 2);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].seq, 3);
  EXPECT_EQ((*entries)[1].seq, 4);
}

}  // namespace
}  // namespace patrolrec::storage
