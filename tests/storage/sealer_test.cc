// The sealer on real files: sequence numbers, empty files, torn tails.
#include "storage/sealer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/clock.h"
#include "storage/reconcile.h"
#include "storage/seal.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

class SealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = base::Env::Default();
    ASSERT_TRUE(env_->CreateDirs(dir_ / "segments/road").ok());
    auto key = DeviceKey::LoadOrCreate(*env_, dir_ / "keys/device.key", dir_ / "device.pub.pem");
    ASSERT_TRUE(key.ok()) << key.message();
    key_ = std::move(key).value();
    auto catalog = Catalog::Open(dir_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    catalog_ = std::move(catalog).value();
    sealer_ = std::make_unique<Sealer>(env_, base::Clock::System(), dir_.path(), "PR-0001",
                                       key_.get(), catalog_.get());
  }

  // A real fragmented MP4 placed as a segment of camera "road".
  std::string PlaceClip(const std::string& name) {
    std::string clip = testing::MakeFragmentedClip(dir_.path(), "clip.mp4", 2, false);
    EXPECT_FALSE(clip.empty());
    std::filesystem::rename(clip, dir_ / ("segments/road/" + name));
    return "segments/road/" + name;
  }

  testing::TempDir dir_;
  base::Env* env_ = nullptr;
  std::unique_ptr<DeviceKey> key_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Sealer> sealer_;
};

TEST_F(SealerTest, EmptyFileIsRemovedWithoutSpendingASequenceNumber) {
  // A pipeline stopping at the instant it opened a file leaves a file of zero bytes: nothing to
  // seal, and sealing it must neither fail nor leave a hole in the chain.
  const std::string empty = "segments/road/PR-0001_road_20261129T010000.000Z.mp4";
  testing::WriteTextFile(dir_ / empty, "");
  SealOutcome outcome = sealer_->SealNow({"road", empty, 0, /*recover=*/true});
  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(outcome.discarded_empty);
  EXPECT_EQ(outcome.error, "");
  EXPECT_FALSE(env_->Exists(dir_ / empty));

  const std::string real = PlaceClip("PR-0001_road_20261129T010001.000Z.mp4");
  outcome = sealer_->SealNow({"road", real, 1, /*recover=*/false});
  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.record.sequence, 1);
  EXPECT_EQ(outcome.record.prev_chain_hex, kGenesisChainHex);
  EXPECT_EQ(outcome.record.frames, 60);
  EXPECT_TRUE(env_->Exists(dir_ / (real + ".seal")));
}

TEST_F(SealerTest, ReconciliationRemovesEmptyFilesAndRecoversTheOthersInOrder) {
  const std::string first = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  const std::string empty = "segments/road/PR-0001_road_20261129T010002.000Z.mp4";
  testing::WriteTextFile(dir_ / empty, "");
  auto report = Reconcile(*env_, *base::Clock::System(), dir_.path(), *catalog_, *sealer_);
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_EQ(report->recovered, 1);
  EXPECT_EQ(report->problems, 0);
  EXPECT_FALSE(env_->Exists(dir_ / empty));
  auto rows = catalog_->Segments("road");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].file, first);
  EXPECT_EQ((*rows)[0].state, SegmentState::kRecovered);
}

TEST_F(SealerTest, SequencesFollowSealingOrderAndChainEachToThePrevious) {
  const std::string a = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  const std::string b = PlaceClip("PR-0001_road_20261129T010002.000Z.mp4");
  SealOutcome first = sealer_->SealNow({"road", a, 0, false});
  SealOutcome second = sealer_->SealNow({"road", b, 0, false});
  ASSERT_TRUE(first.ok && second.ok) << first.error << second.error;
  EXPECT_EQ(second.record.sequence, first.record.sequence + 1);
  EXPECT_EQ(second.record.prev_chain_hex, first.record.chain_hex);
  auto head = env_->ReadFile(dir_ / ChainHeadPath("road"));
  ASSERT_TRUE(head.ok());
  auto parsed = ParseChainHead(*head);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->sequence, second.record.sequence);
  EXPECT_EQ(parsed->chain_hex, second.record.chain_hex);
}

TEST_F(SealerTest, ReconciliationBringsALaggingChainHeadUpToTheNewestSeal) {
  // The head write failed after seal #2 (disk full): the head still names #1.
  const std::string a = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  SealOutcome first = sealer_->SealNow({"road", a, 0, false});
  ASSERT_TRUE(first.ok) << first.error;
  const std::string head_path = dir_ / ChainHeadPath("road");
  auto head_after_first = env_->ReadFile(head_path);
  ASSERT_TRUE(head_after_first.ok());
  const std::string b = PlaceClip("PR-0001_road_20261129T010002.000Z.mp4");
  SealOutcome second = sealer_->SealNow({"road", b, 0, false});
  ASSERT_TRUE(second.ok) << second.error;
  testing::WriteTextFile(head_path, *head_after_first);

  Sealer restarted(env_, base::Clock::System(), dir_.path(), "PR-0001", key_.get(), catalog_.get());
  auto report = Reconcile(*env_, *base::Clock::System(), dir_.path(), *catalog_, restarted);
  ASSERT_TRUE(report.ok()) << report.message();
  auto head = ParseChainHead(*env_->ReadFile(head_path));
  ASSERT_TRUE(head.ok()) << head.message();
  EXPECT_EQ(head->sequence, 2);
  EXPECT_EQ(head->chain_hex, second.record.chain_hex);
}

TEST_F(SealerTest, ReconciliationNeverRewritesAHeadThatIsAheadOfTheSeals) {
  // Newest segment and seal deleted behind our back: the head, still naming #2, is the evidence.
  const std::string a = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  const std::string b = PlaceClip("PR-0001_road_20261129T010002.000Z.mp4");
  ASSERT_TRUE(sealer_->SealNow({"road", a, 0, false}).ok);
  ASSERT_TRUE(sealer_->SealNow({"road", b, 0, false}).ok);
  const std::string head_path = dir_ / ChainHeadPath("road");
  const std::string head_before = *env_->ReadFile(head_path);
  std::filesystem::remove(dir_ / b);
  std::filesystem::remove(dir_ / (b + ".seal"));

  Sealer restarted(env_, base::Clock::System(), dir_.path(), "PR-0001", key_.get(), catalog_.get());
  ASSERT_TRUE(Reconcile(*env_, *base::Clock::System(), dir_.path(), *catalog_, restarted).ok());
  EXPECT_EQ(*env_->ReadFile(head_path), head_before);
}

}  // namespace
}  // namespace patrolrec::storage
