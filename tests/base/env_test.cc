#include "base/env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/test_util.h"

namespace patrolrec::base {
namespace {

TEST(Env, WriteFileDurablyReplacesContentsAndLeavesNoTemporary) {
  testing::TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir / "a.txt";
  ASSERT_TRUE(env->WriteFileDurably(path, "one").ok());
  ASSERT_TRUE(env->WriteFileDurably(path, "two", 0600).ok());
  EXPECT_EQ(*env->ReadFile(path), "two");
  EXPECT_FALSE(env->Exists(path + ".tmp"));
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Env, ErrorsNamePathAndErrno) {
  Env* env = Env::Default();
  auto missing = env->ReadFile("/nonexistent/patrolrec/file");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("/nonexistent/patrolrec/file"), std::string::npos);
  EXPECT_NE(missing.message().find("ENOENT"), std::string::npos);
  EXPECT_FALSE(env->SyncFile("/nonexistent/x").ok());
}

TEST(Env, CreateDirsMakesParentsAndRefusesAFile) {
  testing::TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(env->CreateDirs(dir / "a/b/c").ok());
  EXPECT_TRUE(env->Exists(dir / "a/b/c"));
  ASSERT_TRUE(env->WriteFileDurably(dir / "f", "x").ok());
  Status s = env->CreateDirs(dir / "f");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a directory"), std::string::npos);
}

TEST(Env, ListDirIsSortedAndTruncateCuts) {
  testing::TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(env->WriteFileDurably(dir / "b", "12345").ok());
  ASSERT_TRUE(env->WriteFileDurably(dir / "a", "").ok());
  auto names = env->ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(env->Truncate(dir / "b", 2).ok());
  EXPECT_EQ(*env->FileSize(dir / "b"), 2u);
}

TEST(Env, FreeSpaceMeasuresTheFileSystemAndNamesAPathItCannot) {
  testing::TempDir dir;
  Env* env = Env::Default();
  auto space = env->FreeSpace(dir.path());
  ASSERT_TRUE(space.ok()) << space.message();
  EXPECT_GT(space->total_bytes, 0u);
  EXPECT_LE(space->free_bytes, space->total_bytes);
  EXPECT_GE(space->free_percent(), 0.0);
  EXPECT_LE(space->free_percent(), 100.0);
  EXPECT_EQ(DiskSpace{}.free_percent(), 0.0);
  auto missing = env->FreeSpace("/nonexistent/patrolrec");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("/nonexistent/patrolrec"), std::string::npos);
  EXPECT_NE(missing.message().find("ENOENT"), std::string::npos);
}

TEST(Path, JoinDirAndBase) {
  EXPECT_EQ(JoinPath("/a", "b"), "/a/b");
  EXPECT_EQ(JoinPath("/a/", "b"), "/a/b");
  EXPECT_EQ(DirName("/a/b/c.mp4"), "/a/b");
  EXPECT_EQ(DirName("c.mp4"), ".");
  EXPECT_EQ(BaseName("/a/b/c.mp4"), "c.mp4");
}

}  // namespace
}  // namespace patrolrec::base
