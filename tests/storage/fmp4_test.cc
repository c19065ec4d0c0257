// Tests of fragmented-MP4 inspection and crash recovery, on real mp4mux output (made once per
// run with gst-launch-1.0), on copies of it cut at many offsets, and on hand-built boxes.
#include "storage/fmp4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/env.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using base::Env;

constexpr int kClipSeconds = 4;
constexpr int kFramesPerSecond = 30;
constexpr int64_t kFrameNs = 1'000'000'000 / kFramesPerSecond;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string U32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string U64(uint64_t v) {
  return U32(static_cast<uint32_t>(v >> 32)) + U32(static_cast<uint32_t>(v));
}

std::string Box(const std::string& type, const std::string& body) {
  return U32(static_cast<uint32_t>(8 + body.size())) + type + body;
}

std::string FullBox(const std::string& type, uint32_t version, uint32_t flags,
                    const std::string& body) {
  return Box(type, U32(version << 24 | flags) + body);
}

struct TopLevelBox {
  std::string type;
  uint64_t offset = 0;
  uint64_t end = 0;
};

// The clip's own layout, read naively: the clip comes from mp4mux and is trusted here.
std::vector<TopLevelBox> ListTopLevelBoxes(const std::string& bytes) {
  std::vector<TopLevelBox> boxes;
  uint64_t offset = 0;
  while (offset + 8 <= bytes.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + offset);
    const uint64_t size = uint64_t{p[0]} << 24 | uint64_t{p[1]} << 16 | uint64_t{p[2]} << 8 | p[3];
    if (size < 8) break;
    boxes.push_back({bytes.substr(offset + 4, 4), offset, offset + size});
    offset += size;
  }
  return boxes;
}

// Frames ffprobe decodes from the first stream of the kind ("v" or "a"); -1 if it cannot open
// the file or count any (it prints N/A for a stream without samples).
int64_t FfprobeFrames(const std::string& path, const std::string& kind) {
  testing::CommandResult r = testing::RunCommand(
      {"ffprobe", "-v", "error", "-select_streams", kind + ":0", "-count_frames", "-show_entries",
       "stream=nb_read_frames", "-of", "default=nokey=1:noprint_wrappers=1", path});
  if (r.exit_code != 0) return -1;
  try {
    return std::stoll(r.output);
  } catch (...) {
    return -1;
  }
}

// An Env that counts the bytes read through RandomAccessFile, to show that inspection reads
// headers and metadata only.
class CountingEnv final : public Env {
 public:
  uint64_t bytes_read() const { return *bytes_read_; }

  base::Result<std::unique_ptr<base::WritableFile>> NewWritableFile(const std::string& path,
                                                                    mode_t mode) override {
    return real_->NewWritableFile(path, mode);
  }
  base::Result<std::unique_ptr<base::SequentialFile>> NewSequentialFile(
      const std::string& path) override {
    return real_->NewSequentialFile(path);
  }
  base::Result<std::unique_ptr<base::RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    auto file = real_->NewRandomAccessFile(path);
    if (!file.ok()) return file.status();
    return std::unique_ptr<base::RandomAccessFile>(
        new CountingFile(std::move(file).value(), bytes_read_));
  }
  base::Status SyncFile(const std::string& path) override { return real_->SyncFile(path); }
  base::Status SyncDir(const std::string& dir) override { return real_->SyncDir(dir); }
  base::Status CreateDirs(const std::string& path, mode_t mode) override {
    return real_->CreateDirs(path, mode);
  }
  base::Status Truncate(const std::string& path, uint64_t size) override {
    return real_->Truncate(path, size);
  }
  base::Status Rename(const std::string& from, const std::string& to) override {
    return real_->Rename(from, to);
  }
  base::Status RemoveFile(const std::string& path) override { return real_->RemoveFile(path); }
  bool Exists(const std::string& path) override { return real_->Exists(path); }
  base::Result<uint64_t> FileSize(const std::string& path) override {
    return real_->FileSize(path);
  }
  base::Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return real_->ListDir(dir);
  }

 private:
  class CountingFile final : public base::RandomAccessFile {
   public:
    CountingFile(std::unique_ptr<base::RandomAccessFile> file, std::shared_ptr<uint64_t> counter)
        : file_(std::move(file)), counter_(std::move(counter)) {}
    base::Result<std::string> ReadAt(uint64_t offset, size_t n) const override {
      *counter_ += n;
      return file_->ReadAt(offset, n);
    }
    base::Result<uint64_t> Size() const override { return file_->Size(); }

   private:
    std::unique_ptr<base::RandomAccessFile> file_;
    std::shared_ptr<uint64_t> counter_;
  };

  Env* real_ = Env::Default();
  std::shared_ptr<uint64_t> bytes_read_ = std::make_shared<uint64_t>(0);
};

class Mp4Test : public ::testing::Test {
 protected:
  // gst-launch takes a while; every test works on copies of the same two clips.
  static void SetUpTestSuite() {
    clip_dir_ = new testing::TempDir();
    av_clip_ = testing::MakeFragmentedClip(clip_dir_->path(), "av.mp4", kClipSeconds, true);
    video_clip_ = testing::MakeFragmentedClip(clip_dir_->path(), "v.mp4", kClipSeconds, false);
  }
  static void TearDownTestSuite() {
    delete clip_dir_;
    clip_dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_FALSE(av_clip_.empty()) << "gst-launch-1.0 could not make the audio+video clip";
    ASSERT_FALSE(video_clip_.empty()) << "gst-launch-1.0 could not make the video clip";
  }

  Mp4Inspection InspectOk(const std::string& path) {
    base::Result<Mp4Inspection> inspection = InspectMp4(env_, path);
    EXPECT_TRUE(inspection.ok()) << inspection.message();
    return inspection.ok() ? inspection.value() : Mp4Inspection();
  }

  static testing::TempDir* clip_dir_;
  static std::string av_clip_;
  static std::string video_clip_;
  Env& env_ = *Env::Default();
  testing::TempDir dir_;
};

testing::TempDir* Mp4Test::clip_dir_ = nullptr;
std::string Mp4Test::av_clip_;
std::string Mp4Test::video_clip_;

const Mp4Track* FindTrack(const Mp4Inspection& inspection, const std::string& handler) {
  for (const Mp4Track& track : inspection.tracks) {
    if (track.handler == handler) return &track;
  }
  return nullptr;
}

TEST_F(Mp4Test, CleanClipIsCompleteWithExactFramesAndDuration) {
  Mp4Inspection inspection = InspectOk(av_clip_);
  EXPECT_TRUE(inspection.has_moov);
  EXPECT_TRUE(inspection.fragmented);
  EXPECT_FALSE(inspection.truncated);
  EXPECT_EQ(inspection.complete_bytes, inspection.file_bytes);
  EXPECT_EQ(inspection.file_bytes, std::filesystem::file_size(av_clip_));
  EXPECT_GE(inspection.complete_fragments, kClipSeconds);
  EXPECT_EQ(inspection.video_frames(), kClipSeconds * kFramesPerSecond);
  EXPECT_NEAR(inspection.video_duration_ns(), kClipSeconds * int64_t{1'000'000'000}, kFrameNs);
  EXPECT_EQ(inspection.video_frames(), FfprobeFrames(av_clip_, "v"));

  const Mp4Track* audio = FindTrack(inspection, "soun");
  ASSERT_NE(audio, nullptr);
  EXPECT_EQ(audio->timescale, 44100u);
  EXPECT_EQ(static_cast<int64_t>(audio->samples), FfprobeFrames(av_clip_, "a"));
  // 1024 samples per AAC frame: the audio lasts about as long as the video.
  EXPECT_NEAR(static_cast<double>(audio->duration_ticks) / audio->timescale, kClipSeconds, 0.1);
}

TEST_F(Mp4Test, VideoOnlyClipHasOnlyAVideoTrack) {
  Mp4Inspection inspection = InspectOk(video_clip_);
  EXPECT_FALSE(inspection.truncated);
  EXPECT_EQ(inspection.complete_bytes, inspection.file_bytes);
  ASSERT_EQ(inspection.tracks.size(), 1u);
  EXPECT_EQ(inspection.tracks[0].handler, "vide");
  EXPECT_EQ(inspection.video_frames(), kClipSeconds * kFramesPerSecond);
  EXPECT_NEAR(inspection.video_duration_ns(), kClipSeconds * int64_t{1'000'000'000}, kFrameNs);
}

TEST_F(Mp4Test, InspectionReadsOnlyBoxHeadersAndMetadataThroughTheEnv) {
  CountingEnv counting_env;
  base::Result<Mp4Inspection> inspection = InspectMp4(counting_env, av_clip_);
  ASSERT_TRUE(inspection.ok()) << inspection.message();
  EXPECT_EQ(inspection->video_frames(), kClipSeconds * kFramesPerSecond);
  EXPECT_GT(counting_env.bytes_read(), 0u);
  EXPECT_LT(counting_env.bytes_read(), inspection->file_bytes / 5);
}

TEST_F(Mp4Test, CuttingAnywhereKeepsOnlyWholeFragmentsAndNeverGrows) {
  const std::string clip = ReadAll(av_clip_);
  const std::vector<TopLevelBox> boxes = ListTopLevelBoxes(clip);
  ASSERT_GT(boxes.size(), 4u);
  ASSERT_EQ(boxes.back().end, clip.size());
  std::set<uint64_t> box_ends = {0};
  for (const TopLevelBox& box : boxes) box_ends.insert(box.end);

  std::set<uint64_t> cuts;
  for (uint64_t cut = 0; cut <= clip.size(); cut += 211) cuts.insert(cut);
  for (const TopLevelBox& box : boxes) {
    for (uint64_t delta : {0, 1, 4, 7, 8, 9, 15, 16, 17, 100}) {
      cuts.insert(box.offset + delta);
      if (box.end >= delta) cuts.insert(box.end - delta);
    }
    cuts.insert(box.offset + (box.end - box.offset) / 2);
  }

  const std::string path = dir_ / "cut.mp4";
  int previous_fragments = 0;
  uint64_t previous_complete_bytes = 0;
  int64_t previous_frames = 0;
  for (uint64_t cut : cuts) {
    if (cut > clip.size()) continue;
    SCOPED_TRACE("cut at " + std::to_string(cut));
    WriteAll(path, clip.substr(0, cut));
    base::Result<Mp4Inspection> inspection = InspectMp4(env_, path);
    if (cut < 8) {
      EXPECT_FALSE(inspection.ok());  // not even the ftyp box header is there
      continue;
    }
    ASSERT_TRUE(inspection.ok()) << inspection.message();
    EXPECT_EQ(inspection->file_bytes, cut);
    EXPECT_LE(inspection->complete_bytes, cut);
    EXPECT_EQ(inspection->truncated, inspection->complete_bytes < cut);
    EXPECT_TRUE(box_ends.count(inspection->complete_bytes)) << inspection->complete_bytes;
    EXPECT_GE(inspection->complete_fragments, previous_fragments);
    EXPECT_GE(inspection->complete_bytes, previous_complete_bytes);
    EXPECT_GE(inspection->video_frames(), previous_frames);
    EXPECT_LE(inspection->video_frames(), kClipSeconds * kFramesPerSecond);
    // Cutting exactly at a box boundary after the moov loses nothing.
    if (box_ends.count(cut) && cut >= boxes[1].end && boxes[1].type == "moov") {
      const bool inside_fragment =
          std::any_of(boxes.begin(), boxes.end(), [&](const TopLevelBox& box) {
            return box.type == "moof" && box.end == cut;  // moof without its mdat
          });
      EXPECT_EQ(inspection->truncated, inside_fragment);
    }
    previous_fragments = inspection->complete_fragments;
    previous_complete_bytes = inspection->complete_bytes;
    previous_frames = inspection->video_frames();
  }
  EXPECT_EQ(previous_complete_bytes, clip.size());
  EXPECT_EQ(previous_frames, kClipSeconds * kFramesPerSecond);
}

TEST_F(Mp4Test, TruncatedCrashCopiesPlayWithExactlyTheReportedFrames) {
  const std::string clip = ReadAll(av_clip_);
  const std::vector<TopLevelBox> boxes = ListTopLevelBoxes(clip);
  std::vector<const TopLevelBox*> moofs;
  std::vector<const TopLevelBox*> mdats;
  for (const TopLevelBox& box : boxes) {
    if (box.type == "moof") moofs.push_back(&box);
    if (box.type == "mdat") mdats.push_back(&box);
  }
  ASSERT_GE(moofs.size(), 6u);
  ASSERT_EQ(moofs.size(), mdats.size());

  const std::vector<uint64_t> cuts = {
      moofs[0]->offset + 1,                    // just after the moov: no fragment at all
      (moofs[2]->offset + moofs[2]->end) / 2,  // mid-moof
      moofs[3]->end + 4,                       // inside the mdat header
      (mdats[4]->offset + mdats[4]->end) / 2,  // mid-mdat
      mdats[5]->end + 3,                       // a few bytes of the next moof header
      clip.size() - 10,                        // inside the mfra
  };
  for (uint64_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::string path = dir_ / ("crash-" + std::to_string(cut) + ".mp4");
    WriteAll(path, clip.substr(0, cut));
    base::Result<Mp4Inspection> recovered = TruncateToCompleteFragments(env_, path);
    ASSERT_TRUE(recovered.ok()) << recovered.message();
    EXPECT_FALSE(recovered->truncated);
    EXPECT_EQ(std::filesystem::file_size(path), recovered->complete_bytes);
    EXPECT_EQ(recovered->file_bytes, recovered->complete_bytes);
    const Mp4Track* audio = FindTrack(*recovered, "soun");
    ASSERT_NE(audio, nullptr);
    const int64_t audio_frames = static_cast<int64_t>(audio->samples);
    // ffprobe counts nothing (prints N/A) for a stream with no samples.
    EXPECT_EQ(FfprobeFrames(path, "v"),
              recovered->video_frames() > 0 ? recovered->video_frames() : -1);
    EXPECT_EQ(FfprobeFrames(path, "a"), audio_frames > 0 ? audio_frames : -1);
  }
}

TEST_F(Mp4Test, RandomlyCorruptedMetadataNeverCrashesOrClaimsMoreThanTheFile) {
  const std::string clip = ReadAll(av_clip_);
  const std::vector<TopLevelBox> boxes = ListTopLevelBoxes(clip);
  // Corrupt where the parser looks: box headers, the moov and the moofs.
  std::vector<std::pair<uint64_t, uint64_t>> metadata;
  for (const TopLevelBox& box : boxes) {
    const bool parsed = box.type == "moov" || box.type == "moof";
    metadata.push_back({std::max<uint64_t>(box.offset, 8), parsed ? box.end : box.offset + 16});
  }
  std::mt19937 random(20240601);  // fixed seed: failures reproduce
  const std::string path = dir_ / "corrupt.mp4";
  for (int round = 0; round < 300; ++round) {
    std::string corrupt = clip;
    for (int flip = 0; flip < 1 + round % 4; ++flip) {
      const auto& [begin, end] = metadata[random() % metadata.size()];
      corrupt[begin + random() % (end - begin)] = static_cast<char>(random());
    }
    WriteAll(path, corrupt);
    base::Result<Mp4Inspection> inspection = InspectMp4(env_, path);
    ASSERT_TRUE(inspection.ok()) << "round " << round << ": " << inspection.message();
    EXPECT_LE(inspection->complete_bytes, inspection->file_bytes) << "round " << round;
    EXPECT_EQ(inspection->truncated, inspection->complete_bytes < inspection->file_bytes);
  }
}

TEST_F(Mp4Test, TruncateLeavesACompleteFileUntouched) {
  const std::string path = dir_ / "clean.mp4";
  std::filesystem::copy_file(av_clip_, path);
  base::Result<Mp4Inspection> result = TruncateToCompleteFragments(env_, path);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_FALSE(result->truncated);
  EXPECT_EQ(ReadAll(path), ReadAll(av_clip_));
}

TEST_F(Mp4Test, TruncateLeavesAFileWithoutACompleteMoovUntouched) {
  const std::string clip = ReadAll(av_clip_);
  const std::vector<TopLevelBox> boxes = ListTopLevelBoxes(clip);
  ASSERT_EQ(boxes[1].type, "moov");
  const std::string path = dir_ / "torn-moov.mp4";
  const std::string torn = clip.substr(0, (boxes[1].offset + boxes[1].end) / 2);
  WriteAll(path, torn);
  base::Result<Mp4Inspection> result = TruncateToCompleteFragments(env_, path);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_FALSE(result->has_moov);
  EXPECT_TRUE(result->truncated);
  EXPECT_EQ(result->complete_bytes, boxes[0].end);  // the ftyp
  EXPECT_EQ(ReadAll(path), torn);
}

TEST_F(Mp4Test, GarbageAfterACompleteFileIsATornTailThatTruncateRemoves) {
  const std::string clip = ReadAll(av_clip_);
  const std::string path = dir_ / "garbage.mp4";
  WriteAll(path, clip + "this is not a box, just text written after the end of the movie");
  Mp4Inspection inspection = InspectOk(path);
  EXPECT_TRUE(inspection.truncated);
  EXPECT_EQ(inspection.complete_bytes, clip.size());
  EXPECT_EQ(inspection.video_frames(), kClipSeconds * kFramesPerSecond);

  base::Result<Mp4Inspection> recovered = TruncateToCompleteFragments(env_, path);
  ASSERT_TRUE(recovered.ok()) << recovered.message();
  EXPECT_EQ(ReadAll(path), clip);
}

TEST_F(Mp4Test, ZeroFilledTailAfterPowerCutIsATornTail) {
  // A file system may extend a file with zeros whose data never reached the disk.
  const std::string clip = ReadAll(av_clip_);
  const std::string path = dir_ / "zeros.mp4";
  WriteAll(path, clip + std::string(4096, '\0'));
  Mp4Inspection inspection = InspectOk(path);
  EXPECT_TRUE(inspection.truncated);
  EXPECT_EQ(inspection.complete_bytes, clip.size());
}

TEST_F(Mp4Test, TrailingBoxWithSizeZeroExtendsToEndOfFileAndIsKept) {
  const std::string clip = ReadAll(av_clip_);
  const std::string path = dir_ / "size0.mp4";
  WriteAll(path, clip + U32(0) + "free" + std::string(100, 'x'));
  Mp4Inspection inspection = InspectOk(path);
  EXPECT_FALSE(inspection.truncated);
  EXPECT_EQ(inspection.complete_bytes, clip.size() + 108);
}

TEST_F(Mp4Test, BoxWithHugeLargesizeIsATornTail) {
  const std::string clip = ReadAll(av_clip_);
  for (uint64_t largesize : {~uint64_t{0}, uint64_t{1} << 62, uint64_t{clip.size()}}) {
    SCOPED_TRACE(largesize);
    const std::string path = dir_ / "largesize.mp4";
    WriteAll(path, clip + U32(1) + "mdat" + U64(largesize) + "payload");
    Mp4Inspection inspection = InspectOk(path);
    EXPECT_TRUE(inspection.truncated);
    EXPECT_EQ(inspection.complete_bytes, clip.size());
  }
}

TEST_F(Mp4Test, BoxWithSizeSmallerThanItsHeaderIsATornTail) {
  const std::string clip = ReadAll(av_clip_);
  for (uint32_t size : {3u, 7u}) {
    const std::string path = dir_ / "small.mp4";
    WriteAll(path, clip + U32(size) + "free" + std::string(32, 'x'));
    Mp4Inspection inspection = InspectOk(path);
    EXPECT_TRUE(inspection.truncated);
    EXPECT_EQ(inspection.complete_bytes, clip.size());
  }
  // The same inside a moof: the fragment does not count.
  const std::vector<TopLevelBox> boxes = ListTopLevelBoxes(clip);
  auto moof = std::find_if(boxes.begin(), boxes.end(),
                           [](const TopLevelBox& box) { return box.type == "moof"; });
  ASSERT_NE(moof, boxes.end());
  std::string broken = clip;
  broken.replace(moof->offset + 8, 4, U32(3));  // the mfhd's size
  const std::string path = dir_ / "broken-moof.mp4";
  WriteAll(path, broken);
  Mp4Inspection inspection = InspectOk(path);
  EXPECT_TRUE(inspection.truncated);
  EXPECT_EQ(inspection.complete_fragments, 0);
  EXPECT_EQ(inspection.complete_bytes, moof->offset);
}

TEST_F(Mp4Test, NonMp4FileIsAnErrorNamingThePathAndTheFirstBox) {
  const std::string path = dir_ / "a.mp4";
  testing::WriteTextFile(path, std::string("\0\0\0\x10", 4) + "abcd12345678");
  base::Result<Mp4Inspection> inspection = InspectMp4(env_, path);
  ASSERT_FALSE(inspection.ok());
  EXPECT_EQ(inspection.message(),
            path + ": not an MP4 file (first box is 'abcd', expected 'ftyp')");

  testing::WriteTextFile(path, std::string("\xff\xfe\0\x01", 4) + "\x01\x02\x03\x04 and text");
  inspection = InspectMp4(env_, path);
  ASSERT_FALSE(inspection.ok());
  EXPECT_EQ(inspection.message(),
            path + ": not an MP4 file (first box is '\\x01\\x02\\x03\\x04', expected 'ftyp')");
}

TEST_F(Mp4Test, EmptyOrTinyFileIsAnError) {
  const std::string path = dir_ / "empty.mp4";
  testing::WriteTextFile(path, "");
  base::Result<Mp4Inspection> inspection = InspectMp4(env_, path);
  ASSERT_FALSE(inspection.ok());
  EXPECT_EQ(inspection.message(), path + ": not an MP4 file (it is empty)");

  testing::WriteTextFile(path, "ftyp");
  inspection = InspectMp4(env_, path);
  ASSERT_FALSE(inspection.ok());
  EXPECT_EQ(inspection.message(), path + ": not an MP4 file (4 bytes, too short for a box header)");
}

TEST_F(Mp4Test, MissingFileIsAnErrorNamingThePath) {
  const std::string path = dir_ / "missing.mp4";
  base::Result<Mp4Inspection> inspection = InspectMp4(env_, path);
  ASSERT_FALSE(inspection.ok());
  EXPECT_NE(inspection.message().find(path), std::string::npos) << inspection.message();
  EXPECT_NE(inspection.message().find("ENOENT"), std::string::npos) << inspection.message();

  base::Result<Mp4Inspection> truncated = TruncateToCompleteFragments(env_, path);
  EXPECT_FALSE(truncated.ok());
}

// Hand-built movies, for the parts of the format mp4mux does not exercise.

struct TrackSpec {
  uint32_t track_id;
  std::string handler;
  uint32_t timescale;
  uint32_t trex_default_duration;
  int version;               // of tkhd and mdhd
  std::string stts_entries;  // (count, delta) pairs, already encoded
};

std::string Trak(const TrackSpec& spec) {
  const std::string times = spec.version == 1 ? U64(1) + U64(2) : U32(1) + U32(2);
  const std::string tkhd =
      FullBox("tkhd", spec.version, 3, times + U32(spec.track_id) + std::string(60, '\0'));
  const std::string mdhd =
      FullBox("mdhd", spec.version, 0,
              times + U32(spec.timescale) + (spec.version == 1 ? U64(0) : U32(0)) + U32(0));
  const std::string hdlr = FullBox("hdlr", 0, 0, U32(0) + spec.handler + std::string(13, '\0'));
  const uint32_t entries = static_cast<uint32_t>(spec.stts_entries.size() / 8);
  const std::string stbl = Box("stbl", FullBox("stts", 0, 0, U32(entries) + spec.stts_entries));
  return Box("trak", tkhd + Box("mdia", mdhd + hdlr + Box("minf", stbl)));
}

std::string Movie(const std::vector<TrackSpec>& tracks, bool fragmented) {
  std::string moov = FullBox("mvhd", 0, 0, std::string(96, '\0'));
  std::string mvex;
  for (const TrackSpec& track : tracks) {
    moov += Trak(track);
    mvex +=
        FullBox("trex", 0, 0,
                U32(track.track_id) + U32(1) + U32(track.trex_default_duration) + U32(0) + U32(0));
  }
  if (fragmented) moov += Box("mvex", mvex);
  return Box("ftyp", "isom" + U32(0) + "isomiso6") + Box("moov", moov);
}

// One moof+mdat with one traf. `trun_body` is everything after the trun's version and flags.
std::string Fragment(uint32_t tfhd_flags, const std::string& tfhd_fields, uint32_t trun_flags,
                     const std::string& trun_body, const std::string& mdat_payload) {
  const std::string traf = Box("traf", FullBox("tfhd", 0, tfhd_flags, tfhd_fields) +
                                           FullBox("trun", 0, trun_flags, trun_body));
  return Box("moof", FullBox("mfhd", 0, 0, U32(1)) + traf) + Box("mdat", mdat_payload);
}

// The size of the moof Fragment() makes from these fields (a data-offset in them may be a
// placeholder: it has the same width as the real value).
uint32_t MoofBytes(uint32_t tfhd_flags, const std::string& tfhd_fields, uint32_t trun_flags,
                   const std::string& trun_body) {
  return static_cast<uint32_t>(Fragment(tfhd_flags, tfhd_fields, trun_flags, trun_body, "").size() -
                               8);
}

TEST_F(Mp4Test, SampleDurationComesFromTrunThenTfhdThenTrex) {
  std::string file = Movie({{1, "vide", 1000, 40, 1, ""}}, true);
  // Three samples with their own durations and sizes; data-offset relative to the moof.
  auto own_trun = [](uint32_t data_offset) {
    return U32(3) + U32(data_offset) + U32(10) + U32(5) + U32(20) + U32(5) + U32(30) + U32(5);
  };
  const uint32_t own_moof_bytes = MoofBytes(0x20000, U32(1), 0x301, own_trun(0));
  file += Fragment(0x20000, U32(1), 0x301, own_trun(own_moof_bytes + 8), std::string(15, 'v'));
  // Two samples with the tfhd's default duration (25) and size (4) and an absolute
  // base-data-offset pointing into the mdat.
  auto tfhd_fields = [](uint64_t base) { return U32(1) + U64(base) + U32(25) + U32(4); };
  const uint64_t second_moof_offset = file.size();
  const uint32_t second_moof_bytes = MoofBytes(0x19, tfhd_fields(0), 0, U32(2));
  file += Fragment(0x19, tfhd_fields(second_moof_offset + second_moof_bytes + 8), 0, U32(2),
                   std::string(8, 'v'));
  // Four samples with no duration anywhere but the trex (40), one byte each.
  auto sized_trun = [](uint32_t data_offset) {
    return U32(4) + U32(data_offset) + U32(1) + U32(1) + U32(1) + U32(1);
  };
  const uint32_t third_moof_bytes = MoofBytes(0x20000, U32(1), 0x201, sized_trun(0));
  file += Fragment(0x20000, U32(1), 0x201, sized_trun(third_moof_bytes + 8), std::string(4, 'v'));
  const std::string path = dir_ / "defaults.mp4";
  WriteAll(path, file);

  Mp4Inspection inspection = InspectOk(path);
  EXPECT_FALSE(inspection.truncated);
  EXPECT_EQ(inspection.complete_fragments, 3);
  ASSERT_EQ(inspection.tracks.size(), 1u);
  EXPECT_EQ(inspection.tracks[0].track_id, 1u);
  EXPECT_EQ(inspection.tracks[0].timescale, 1000u);
  EXPECT_EQ(inspection.video_frames(), 3 + 2 + 4);
  EXPECT_EQ(inspection.tracks[0].duration_ticks, 10u + 20 + 30 + 2 * 25 + 4 * 40);
  EXPECT_EQ(inspection.video_duration_ns(), 270'000'000);
}

TEST_F(Mp4Test, FragmentWhoseSamplesReachPastItsMdatDoesNotCount) {
  std::string file = Movie({{1, "vide", 1000, 40, 0, ""}}, true);
  const uint64_t good_end = file.size();
  // Claims 2 samples of 100 bytes, but the mdat holds 50.
  const uint32_t moof_bytes = MoofBytes(0x20010, U32(1) + U32(100), 0x1, U32(2) + U32(0));
  file +=
      Fragment(0x20010, U32(1) + U32(100), 0x1, U32(2) + U32(moof_bytes + 8), std::string(50, 'v'));
  const std::string path = dir_ / "overrun.mp4";
  WriteAll(path, file);
  Mp4Inspection inspection = InspectOk(path);
  EXPECT_TRUE(inspection.has_moov);
  EXPECT_TRUE(inspection.truncated);
  EXPECT_EQ(inspection.complete_fragments, 0);
  EXPECT_EQ(inspection.complete_bytes, good_end);
  EXPECT_EQ(inspection.video_frames(), 0);
}

TEST_F(Mp4Test, HostileSampleCountIsRejectedWithoutLooping) {
  std::string file = Movie({{1, "vide", 1000, 40, 0, ""}}, true);
  const uint64_t good_end = file.size();
  file += Fragment(0x20000, U32(1), 0x300, U32(0xffffffff) + U32(1) + U32(1), std::string(8, 'v'));
  const std::string path = dir_ / "hostile.mp4";
  WriteAll(path, file);
  const auto start = std::chrono::steady_clock::now();
  Mp4Inspection inspection = InspectOk(path);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_TRUE(inspection.truncated);
  EXPECT_EQ(inspection.complete_bytes, good_end);
}

TEST_F(Mp4Test, FragmentOfAnUnknownTrackDoesNotCount) {
  std::string file = Movie({{1, "vide", 1000, 40, 0, ""}}, true);
  const uint64_t good_end = file.size();
  file += Fragment(0x20000, U32(7), 0, U32(1), "");
  const std::string path = dir_ / "unknown-track.mp4";
  WriteAll(path, file);
  Mp4Inspection inspection = InspectOk(path);
  EXPECT_TRUE(inspection.truncated);
  EXPECT_EQ(inspection.complete_bytes, good_end);
}

TEST_F(Mp4Test, EmptyFragmentedMovieEndsAtItsMoov) {
  const std::string file = Movie({{1, "vide", 1000, 40, 0, ""}}, true);
  const std::string path = dir_ / "empty-movie.mp4";
  WriteAll(path, file + "moo");
  Mp4Inspection inspection = InspectOk(path);
  EXPECT_TRUE(inspection.has_moov);
  EXPECT_TRUE(inspection.fragmented);
  EXPECT_TRUE(inspection.truncated);
  EXPECT_EQ(inspection.complete_bytes, file.size());
  EXPECT_EQ(inspection.complete_fragments, 0);
  EXPECT_EQ(inspection.video_frames(), 0);
  EXPECT_EQ(inspection.video_duration_ns(), 0);
}

TEST_F(Mp4Test, PlainMp4IsMeasuredFromItsSampleTable) {
  // mdat first, moov last, as a non-fragmented mp4mux writes it; version 1 headers, and an
  // audio track before the video one.
  const std::string ftyp = Box("ftyp", "isom" + U32(0) + "isom");
  const std::string mdat = Box("mdat", std::string(1000, 'x'));
  const std::string movie =
      Movie({{2, "soun", 48000, 0, 1, U32(50) + U32(1024)},
             {1, "vide", 90000, 0, 1, U32(30) + U32(3000) + U32(60) + U32(1500)}},
            false);
  const std::string moov = movie.substr(Box("ftyp", "isom" + U32(0) + "isomiso6").size());
  const std::string path = dir_ / "plain.mp4";
  WriteAll(path, ftyp + mdat + moov);
  Mp4Inspection inspection = InspectOk(path);
  EXPECT_TRUE(inspection.has_moov);
  EXPECT_FALSE(inspection.fragmented);
  EXPECT_FALSE(inspection.truncated);
  EXPECT_EQ(inspection.complete_bytes, inspection.file_bytes);
  EXPECT_EQ(inspection.complete_fragments, 0);
  EXPECT_EQ(inspection.video_frames(), 90);
  EXPECT_EQ(inspection.video_duration_ns(), 2'000'000'000);  // (30*3000 + 60*1500) / 90000
  ASSERT_EQ(inspection.tracks.size(), 2u);
  EXPECT_EQ(inspection.tracks[0].handler, "soun");
  EXPECT_EQ(inspection.tracks[0].samples, 50u);
}

TEST_F(Mp4Test, VideoDurationDoesNotOverflowOnHugeTickCounts) {
  Mp4Inspection inspection;
  inspection.tracks.push_back({1, "vide", 1, ~uint64_t{0} / 2, ~uint64_t{0} / 2});
  EXPECT_EQ(inspection.video_frames(), INT64_MAX);
  EXPECT_EQ(inspection.video_duration_ns(), INT64_MAX);
  inspection.tracks[0] = {1, "vide", 90000, 1, 9'000'000'000};  // 100000 s
  EXPECT_EQ(inspection.video_duration_ns(), int64_t{100'000} * 1'000'000'000);
}


// Segments carry a third track, the position as timed text (tx3g, handler "sbtl"), written by
// mp4mux in its own moof+mdat pairs between the video's. The clip is made like the others, with
// the text from an SRT file of one cue a second.
class Mp4TextTrackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    clip_dir_ = new testing::TempDir();
    std::string srt;
    for (int i = 0; i < kClipSeconds; ++i) {
      srt += std::to_string(i + 1) + "\n00:00:0" + std::to_string(i) + ",000 --> 00:00:0" +
             std::to_string(i) + ",900\nline " + std::to_string(i + 1) + "\n\n";
    }
    const std::string cues = clip_dir_->path() + "/cues.srt";
    std::ofstream(cues) << srt;
    const std::string path = clip_dir_->path() + "/avt.mp4";
    const std::string frames = std::to_string(kClipSeconds * kFramesPerSecond);
    const std::string audio_buffers = std::to_string(kClipSeconds * 44100 / 1024);
    testing::CommandResult r = testing::RunCommand(
        {"gst-launch-1.0", "-q", "-e", "videotestsrc", "num-buffers=" + frames, "pattern=ball",
         "!", "video/x-raw,width=320,height=180,framerate=30/1", "!", "videoconvert", "!",
         "video/x-raw,format=I420", "!", "x264enc", "speed-preset=ultrafast", "tune=zerolatency",
         "key-int-max=15", "!", "h264parse", "!", "queue", "!", "mux.video_0", "audiotestsrc",
         "num-buffers=" + audio_buffers, "samplesperbuffer=1024", "!",
         "audio/x-raw,rate=44100,channels=1", "!", "audioconvert", "!", "avenc_aac", "!", "queue",
         "!", "mux.audio_0", "filesrc", "location=" + cues, "!", "subparse", "!",
         "text/x-raw,format=utf8", "!", "queue", "!", "mux.subtitle_0", "mp4mux", "name=mux",
         "fragment-duration=1000", "!", "filesink", "location=" + path});
    if (r.exit_code == 0) clip_ = path;
  }
  static void TearDownTestSuite() {
    delete clip_dir_;
    clip_dir_ = nullptr;
  }
  void SetUp() override { ASSERT_FALSE(clip_.empty()) << "gst-launch-1.0 could not make the clip"; }

  static int CuesByFfmpeg(const std::string& path) {
    testing::CommandResult r = testing::RunCommand(
        {"ffmpeg", "-v", "error", "-i", path, "-map", "0:s:0", "-f", "srt", "-"});
    if (r.exit_code != 0) return -1;
    int cues = 0;
    for (size_t pos = 0; (pos = r.output.find("line ", pos)) != std::string::npos; ++pos) ++cues;
    return cues;
  }

  static testing::TempDir* clip_dir_;
  static std::string clip_;
  Env& env_ = *Env::Default();
  testing::TempDir dir_;
};

testing::TempDir* Mp4TextTrackTest::clip_dir_ = nullptr;
std::string Mp4TextTrackTest::clip_;

TEST_F(Mp4TextTrackTest, FramesAndDurationAreTheVideoTracksWithATextTrackPresent) {
  base::Result<Mp4Inspection> inspection = InspectMp4(env_, clip_);
  ASSERT_TRUE(inspection.ok()) << inspection.message();
  EXPECT_FALSE(inspection->truncated);
  ASSERT_EQ(inspection->tracks.size(), 3u);
  EXPECT_EQ(inspection->video_frames(), kClipSeconds * kFramesPerSecond);
  EXPECT_NEAR(inspection->video_duration_ns(), kClipSeconds * int64_t{1'000'000'000}, kFrameNs);
  const Mp4Track* text = FindTrack(*inspection, "sbtl");
  ASSERT_NE(text, nullptr);
  // One cue a second and the empty samples between cues.
  EXPECT_GE(text->samples, static_cast<uint64_t>(kClipSeconds));
  EXPECT_EQ(CuesByFfmpeg(clip_), kClipSeconds);
}

TEST_F(Mp4TextTrackTest, TornTailInAnyTrackIsCutAndTheFilePlaysWithItsText) {
  const std::string clip = ReadAll(clip_);
  const std::vector<TopLevelBox> boxes = ListTopLevelBoxes(clip);
  // Cut inside the moof and inside the mdat of every fragment after the first two, whichever
  // track it belongs to: the text's small fragments and the video's large ones alike.
  std::vector<uint64_t> cuts;
  int moofs = 0;
  for (size_t i = 0; i + 1 < boxes.size(); ++i) {
    if (boxes[i].type != "moof" || ++moofs < 3) continue;
    cuts.push_back(boxes[i].offset + (boxes[i].end - boxes[i].offset) / 2);
    cuts.push_back(boxes[i + 1].offset + (boxes[i + 1].end - boxes[i + 1].offset) / 2);
  }
  ASSERT_GE(cuts.size(), 8u);
  std::set<uint64_t> box_ends;
  for (const TopLevelBox& box : boxes) box_ends.insert(box.end);
  int64_t previous_frames = 0;
  int previous_cues = 0;
  for (uint64_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::string path = dir_ / "torn.mp4";
    WriteAll(path, clip.substr(0, cut));
    base::Result<Mp4Inspection> recovered = TruncateToCompleteFragments(env_, path);
    ASSERT_TRUE(recovered.ok()) << recovered.message();
    EXPECT_FALSE(recovered->truncated);
    EXPECT_TRUE(box_ends.count(recovered->complete_bytes));
    EXPECT_EQ(std::filesystem::file_size(path), recovered->complete_bytes);
    EXPECT_GE(recovered->video_frames(), previous_frames);
    EXPECT_EQ(FfprobeFrames(path, "v"), recovered->video_frames());
    const int cues = CuesByFfmpeg(path);
    EXPECT_GE(cues, previous_cues);
    EXPECT_LE(cues, kClipSeconds);
    const Mp4Track* text = FindTrack(*recovered, "sbtl");
    ASSERT_NE(text, nullptr);
    EXPECT_LE(static_cast<uint64_t>(cues), text->samples);
    previous_frames = recovered->video_frames();
    previous_cues = cues;
  }
  EXPECT_GT(previous_cues, 0);
}

}  // namespace
}  // namespace patrolrec::storage
