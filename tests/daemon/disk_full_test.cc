// A full disk, for real: the data directory is a tiny tmpfs that the cameras fill within seconds.
// The daemon must log the cause, keep running, keep the catalog consistent, and once space is
// back, recover and seal everything it could not seal while full. Needs root (mount); CI runs as
// root.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "storage/catalog.h"
#include "tests/test_util.h"

namespace patrolrec {
namespace {

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "data";
    ASSERT_EQ(::mkdir(data_.c_str(), 0755), 0);
    if (::mount("tmpfs", data_.c_str(), "tmpfs", 0, "size=1536k") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno)
                   << "): this test needs root, as in CI";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(data_.c_str(), MNT_DETACH);
  }

  testing::TempDir dir_;
  std::string data_;
  bool mounted_ = false;
};

TEST_F(DiskFullTest, FullDiskIsLoggedWithItsCauseAndEverythingIsSealedOnceSpaceIsBack) {
  const std::string config = dir_ / "car.conf";
  // Noise does not compress: two cameras write about 0.5 MB/s, so 1.5 MB is full in seconds.
  std::string text =
      "[device]\nid = PR-FULL-01\nplate = 吉E·12345\n\n[storage]\ndata_dir = " + data_ +
      "\nsegment_seconds = 2\n";
  for (const char* name : {"road", "cabin-rear"}) {
    text += std::string("\n[camera ") + name +
            "]\nsource = test\npattern = snow\nwidth = 320\nheight = 180\nbitrate_kbps = 2000\n";
  }
  testing::WriteTextFile(config, text);

  auto full = testing::RunCommand(
      {testing::BinaryPath("patrolrecd"), "--config", config, "--duration", "10", "--quiet"});
  // It ran to its end instead of crashing, and said why recording failed.
  EXPECT_TRUE(full.exit_code == 0 || full.exit_code == 1) << full.output;
  // Which writer meets the full disk first decides the words: the segment file's write (ENOSPC,
  // "No space left on device"; GStreamer's "No space left on the resource") or the catalog's
  // ("database or disk is full", e.g. a health event). Each names the cause.
  EXPECT_TRUE(full.output.find("No space left") != std::string::npos ||
              full.output.find("disk is full") != std::string::npos)
      << full.output;
  EXPECT_NE(full.output.find("camera=road"), std::string::npos) << full.output;
  EXPECT_NE(full.output.find("stopped:"), std::string::npos) << full.output;

  // Space comes back (the disk is emptied elsewhere, or grown): the next start recovers and
  // seals whatever was left unsealed, and the whole directory verifies.
  ASSERT_EQ(::mount("tmpfs", data_.c_str(), "tmpfs", MS_REMOUNT, "size=64m"), 0)
      << std::strerror(errno);
  auto recover = testing::RunCommand(
      {testing::BinaryPath("patrolrecd"), "--config", config, "--recover-only"});
  EXPECT_EQ(recover.exit_code, 0) << recover.output;
  auto verify = testing::RunCommand({testing::BinaryPath("patrolrec-verify"), data_});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;

  auto catalog = storage::Catalog::OpenReadOnly(data_ + "/catalog.sqlite");
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  auto rows = (*catalog)->Segments();
  ASSERT_TRUE(rows.ok());
  EXPECT_GE(rows->size(), 2u);
}

}  // namespace
}  // namespace patrolrec
