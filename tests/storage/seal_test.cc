// Seals and chain heads: the exact text of version 2, that `chain` and `signature` cover exactly
// the documented lines, that parsing accepts only that text and says which line is wrong
// otherwise, and that file hashing agrees with known vectors and with sha256sum.
#include "storage/seal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using testing::RunCommand;
using testing::TempDir;
using testing::WriteTextFile;

base::Env& TheEnv() { return *base::Env::Default(); }

SegmentRecord ExampleRecord() {
  SegmentRecord r;
  r.device_id = "PR-0001";
  r.camera = "cabin-rear";
  r.sequence = 17;
  r.file = "segments/cabin-rear/PR-0001_cabin-rear_20261129T011630.250Z.mp4";
  r.bytes = 1234567;
  r.sha256_hex = std::string(64, 'a');
  EXPECT_TRUE(base::ParseUtcNs("2026-11-29T01:16:30.250000000Z", &r.start_utc_ns));
  EXPECT_TRUE(base::ParseUtcNs("2026-11-29T01:17:30.250000000Z", &r.end_utc_ns));
  r.duration_ns = 60'000'000'000;
  r.frames = 1800;
  r.state = SegmentState::kSealed;
  r.time_source = "gps";
  r.clock_offset_ns = -1'200'000;
  r.track_file = r.file + ".gpx";
  r.track_points = 60;
  r.track_sha256_hex = std::string(64, 'd');
  EXPECT_TRUE(base::ParseUtcNs("2026-11-29T01:17:31.002000000Z", &r.sealed_utc_ns));
  r.prev_chain_hex = std::string(64, 'b');
  return r;
}

class SealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = DeviceKey::LoadOrCreate(TheEnv(), dir_ / "keys/device.key", dir_ / "device.pub.pem");
    ASSERT_TRUE(key.ok()) << key.message();
    key_ = std::move(*key);
  }
  SegmentRecord Sealed(SegmentRecord r = ExampleRecord()) {
    base::Status s = SealRecord(&r, *key_);
    EXPECT_TRUE(s.ok()) << s.message();
    return r;
  }
  // The sealed example's text with line `line` (1-based) replaced.
  std::string WithLine(int line, const std::string& replacement) {
    std::string text = FormatSealFile(Sealed());
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      lines.push_back(text.substr(pos, end - pos));
      pos = end + 1;
    }
    lines[line - 1] = replacement;
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }

  TempDir dir_;
  std::unique_ptr<DeviceKey> key_;
};

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, FileHashEqualsMemoryHashAcrossChunkBoundariesAndSha256sum) {
  TempDir dir;
  for (size_t size : {size_t{0}, size_t{3}, size_t{1} << 20, (size_t{3} << 20) + 7}) {
    std::string data(size, '\0');
    for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 7919) >> 3);
    const std::string path = dir / ("f" + std::to_string(size));
    WriteTextFile(path, data);
    auto hash = Sha256File(TheEnv(), path);
    ASSERT_TRUE(hash.ok()) << hash.message();
    EXPECT_EQ(*hash, Sha256Hex(data)) << size;
    auto sum = RunCommand({"sha256sum", path});
    EXPECT_EQ(sum.output.substr(0, 64), *hash) << size;
  }
}

TEST(Sha256Test, MissingFileErrorNamesThePath) {
  TempDir dir;
  auto hash = Sha256File(TheEnv(), dir / "nope.mp4");
  ASSERT_FALSE(hash.ok());
  EXPECT_NE(hash.message().find(dir / "nope.mp4"), std::string::npos) << hash.message();
  EXPECT_NE(hash.message().find("ENOENT"), std::string::npos) << hash.message();
}

TEST(Sha256Test, IsSha256HexAcceptsOnly64LowerHexDigits) {
  EXPECT_TRUE(IsSha256Hex(std::string(64, '0')));
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("x")));
  EXPECT_FALSE(IsSha256Hex(std::string(63, '0')));
  EXPECT_FALSE(IsSha256Hex(std::string(65, '0')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'g')));
}

TEST(Base64Test, Rfc4648VectorsRoundTrip) {
  // clang-format off
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  // clang-format on
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded << ": " << decoded.message();
    EXPECT_EQ(*decoded, plain);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(*Base64Decode(Base64Encode(all)), all);
  auto cli = RunCommand(
      {"bash", "-c",
       "printf '%s' '" + Base64Encode(all.substr(32, 90)) + "' | base64 -d | base64 -w0"});
  EXPECT_EQ(cli.output, Base64Encode(all.substr(32, 90)));
}

TEST(Base64Test, DecodeRejectsAnythingButCanonicalPaddedBase64) {
  for (const char* bad : {"Zg=", "Zg", "Z===", "====", "Zm9v\n", "Zm 9",
                          "Zm9v-_==", "Zh==", "Zm9=", "Zg==Zg==", "Z=g="}) {
    EXPECT_FALSE(Base64Decode(bad).ok()) << bad;
  }
}

TEST_F(SealTest, FormatIsExactlyVersionTwo) {
  SegmentRecord r = Sealed();
  // clang-format off
  const std::string body =
      "patrolrec-seal 2\n"
      "device=PR-0001\n"
      "camera=cabin-rear\n"
      "sequence=17\n"
      "file=segments/cabin-rear/PR-0001_cabin-rear_20261129T011630.250Z.mp4\n"
      "bytes=1234567\n"
      "sha256=" + std::string(64, 'a') + "\n"
      "start_utc=2026-11-29T01:16:30.250000000Z\n"
      "end_utc=2026-11-29T01:17:30.250000000Z\n"
      "duration_ns=60000000000\n"
      "frames=1800\n"
      "state=sealed\n"
      "time_source=gps\n"
      "clock_offset_ns=-1200000\n"
      "track_file=segments/cabin-rear/PR-0001_cabin-rear_20261129T011630.250Z.mp4.gpx\n"
      "track_points=60\n"
      "track_sha256=" + std::string(64, 'd') + "\n"
      "sealed_utc=2026-11-29T01:17:31.002000000Z\n"
      "prev_chain=" + std::string(64, 'b') + "\n";
  // clang-format on
  EXPECT_EQ(FormatSealBody(r), body);
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), kSealBodyLines);
  const std::string file = FormatSealFile(r);
  EXPECT_EQ(std::count(file.begin(), file.end(), '\n'), kSealLines);
  EXPECT_EQ(r.chain_hex, Sha256Hex(body));
  EXPECT_EQ(FormatSealSignedText(r), body + "chain=" + r.chain_hex + "\n");
  EXPECT_EQ(FormatSealFile(r),
            body + "chain=" + r.chain_hex + "\nsignature=" + r.signature_b64 + "\n");
  EXPECT_EQ(r.signature_b64.size(), 88u);  // 64 bytes in base64
}

TEST_F(SealTest, SignatureCoversBodyAndChainLine) {
  SegmentRecord r = Sealed();
  auto signature = Base64Decode(r.signature_b64);
  ASSERT_TRUE(signature.ok());
  EXPECT_TRUE(*VerifyEd25519(key_->public_key_pem(), FormatSealSignedText(r), *signature));
  EXPECT_FALSE(*VerifyEd25519(key_->public_key_pem(), FormatSealBody(r), *signature));
  SegmentRecord forged = r;
  forged.frames = 1799;
  forged.chain_hex = Sha256Hex(FormatSealBody(forged));
  EXPECT_FALSE(*VerifyEd25519(key_->public_key_pem(), FormatSealSignedText(forged), *signature));
}

TEST_F(SealTest, RecoveredStateAndGenesisChainSeal) {
  SegmentRecord r = ExampleRecord();
  r.state = SegmentState::kRecovered;
  r.sequence = 1;
  r.prev_chain_hex = kGenesisChainHex;
  r = Sealed(r);
  auto parsed = ParseSealFile(FormatSealFile(r));
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->state, SegmentState::kRecovered);
  EXPECT_EQ(parsed->prev_chain_hex, std::string(64, '0'));
}

TEST_F(SealTest, ParseRoundTripsEveryField) {
  SegmentRecord r = Sealed();
  auto parsed = ParseSealFile(FormatSealFile(r));
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->device_id, r.device_id);
  EXPECT_EQ(parsed->camera, r.camera);
  EXPECT_EQ(parsed->sequence, r.sequence);
  EXPECT_EQ(parsed->file, r.file);
  EXPECT_EQ(parsed->bytes, r.bytes);
  EXPECT_EQ(parsed->sha256_hex, r.sha256_hex);
  EXPECT_EQ(parsed->start_utc_ns, r.start_utc_ns);
  EXPECT_EQ(parsed->end_utc_ns, r.end_utc_ns);
  EXPECT_EQ(parsed->duration_ns, r.duration_ns);
  EXPECT_EQ(parsed->frames, r.frames);
  EXPECT_EQ(parsed->state, r.state);
  EXPECT_EQ(parsed->time_source, r.time_source);
  EXPECT_EQ(parsed->clock_offset_ns, r.clock_offset_ns);
  EXPECT_EQ(parsed->track_file, r.track_file);
  EXPECT_EQ(parsed->track_points, r.track_points);
  EXPECT_EQ(parsed->track_sha256_hex, r.track_sha256_hex);
  EXPECT_EQ(parsed->sealed_utc_ns, r.sealed_utc_ns);
  EXPECT_TRUE(CompareSegmentRecords(*parsed, r).empty());
  EXPECT_EQ(parsed->prev_chain_hex, r.prev_chain_hex);
  EXPECT_EQ(parsed->chain_hex, r.chain_hex);
  EXPECT_EQ(parsed->signature_b64, r.signature_b64);
}

TEST_F(SealTest, ParseRejectsEachMalformedLineNamingLineAndKey) {
  struct Case {
    int line;
    std::string text;
    std::string expected;  // in the message
  };
  const std::vector<Case> cases = {
      {1, "patrolrec-seal 3", "line 1 (header): unsupported version \"3\""},
      {1, "PATROLREC-SEAL 1", "line 1 (header)"},
      {2, "device=PR 0001", "line 2 (device)"},
      {2, "camera=cabin-rear", "line 2 (device): expected \"device=...\""},
      {3, "camera=Cabin", "line 3 (camera)"},
      {4, "sequence=0", "line 4 (sequence): must be at least 1"},
      {4, "sequence=017", "line 4 (sequence): expected a decimal integer"},
      {4, "sequence=-1", "line 4 (sequence)"},
      {4, "sequence=99999999999999999999", "line 4 (sequence)"},
      {5, "file=segments/road/x.mp4", "line 5 (file)"},
      {5, "file=segments/cabin-rear/../x.mp4", "line 5 (file)"},
      {5, "file=segments/cabin-rear/x.mkv", "line 5 (file)"},
      {6, "bytes=12a", "line 6 (bytes)"},
      {6, "bytes =1", "line 6 (bytes)"},
      {7, "sha256=" + std::string(64, 'A'), "line 7 (sha256): expected 64 lower-case hex"},
      {7, "sha256=abc", "line 7 (sha256)"},
      {8, "start_utc=2026-11-29T01:16:30.25Z", "line 8 (start_utc)"},
      {9, "end_utc=2026-13-29T01:16:30.250000000Z", "line 9 (end_utc)"},
      {10, "duration_ns=", "line 10 (duration_ns)"},
      {11, "frames=1.5", "line 11 (frames)"},
      {12, "state=missing", "line 12 (state): expected \"sealed\" or \"recovered\""},
      {12, "color=red", "line 12 (state): expected \"state=...\", found \"color=red\""},
      {13, "time_source=GPS", "line 13 (time_source): expected \"gps\", \"ntp\", \"none\" or"},
      {13, "time_source=", "line 13 (time_source)"},
      {13, "clock_offset_ns=-1200000", "line 13 (time_source): expected \"time_source=...\""},
      {14, "clock_offset_ns=+1200000", "line 14 (clock_offset_ns): expected a decimal integer"},
      {14, "clock_offset_ns=-0", "line 14 (clock_offset_ns)"},
      {14, "clock_offset_ns=-01", "line 14 (clock_offset_ns)"},
      {14, "clock_offset_ns=", "line 14 (clock_offset_ns)"},
      {14, "clock_offset_ns=Unknown", "line 14 (clock_offset_ns)"},
      {14, "clock_offset_ns=1.5", "line 14 (clock_offset_ns)"},
      {15, "track_file=segments/cabin-rear/other.mp4.gpx", "line 15 (track_file): expected"},
      {15, "track_file=", "line 15 (track_file)"},
      {16, "track_points=-1", "line 16 (track_points)"},
      {16, "track_points=x", "line 16 (track_points)"},
      {17, "track_sha256=" + std::string(63, 'd'), "line 17 (track_sha256): expected 64"},
      {17, "sha256=" + std::string(64, 'd'), "line 17 (track_sha256)"},
      {18, "sealed_utc=yesterday", "line 18 (sealed_utc)"},
      {19, "prev_chain=" + std::string(63, '0'), "line 19 (prev_chain)"},
      {20, "chain=" + std::string(64, 'g'), "line 20 (chain)"},
      {21, "signature=AAAA", "line 21 (signature): an Ed25519 signature has 64 bytes"},
      {21, "signature=!!!!", "line 21 (signature): base64"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseSealFile(WithLine(c.line, c.text));
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_NE(parsed.message().find(c.expected), std::string::npos)
        << "for \"" << c.text << "\": " << parsed.message();
  }
}

TEST_F(SealTest, ParseRejectsWrongShapeOfTheWholeFile) {
  const std::string good = FormatSealFile(Sealed());
  ASSERT_TRUE(ParseSealFile(good).ok());

  auto cut = ParseSealFile(good.substr(0, good.size() - 1));
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.message().find("line 21 (signature): the last line does not end with a newline"),
            std::string::npos)
      << cut.message();

  auto extra = ParseSealFile(good + "comment=x\n");
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.message().find("line 22: unexpected text"), std::string::npos) << extra.message();

  auto short_file = ParseSealFile(good.substr(0, good.find("frames=")));
  ASSERT_FALSE(short_file.ok());
  EXPECT_NE(short_file.message().find("line 11 (frames): missing"), std::string::npos)
      << short_file.message();

  std::string crlf;
  for (char c : good) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_FALSE(ParseSealFile(crlf).ok());

  // Two lines swapped: order is part of the format.
  std::string swapped = WithLine(10, "frames=1800");
  auto swapped_parsed = ParseSealFile(swapped);
  ASSERT_FALSE(swapped_parsed.ok());
  EXPECT_NE(swapped_parsed.message().find("line 10 (duration_ns)"), std::string::npos)
      << swapped_parsed.message();

  EXPECT_FALSE(ParseSealFile("").ok());
}

TEST_F(SealTest, ClockOffsetIsSignedOrUnknownAndRoundTrips) {
  for (std::optional<int64_t> offset :
       {std::optional<int64_t>(), std::optional<int64_t>(0), std::optional<int64_t>(-1),
        std::optional<int64_t>(1'200'000), std::optional<int64_t>(-9'000'000'000'000'000'000),
        std::optional<int64_t>(INT64_MAX)}) {
    SegmentRecord r = ExampleRecord();
    r.clock_offset_ns = offset;
    r = Sealed(r);
    const std::string text = FormatSealFile(r);
    EXPECT_NE(text.find("\nclock_offset_ns=" + FormatClockOffset(offset) + "\n"), std::string::npos)
        << text;
    auto parsed = ParseSealFile(text);
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    EXPECT_EQ(parsed->clock_offset_ns, offset);
    EXPECT_EQ(FormatSealFile(*parsed), text);
  }
  EXPECT_EQ(FormatClockOffset(std::nullopt), "unknown");
  EXPECT_EQ(FormatClockOffset(-1'200'000), "-1200000");
}

TEST_F(SealTest, EveryTimeSourceIsAcceptedAndRoundTrips) {
  for (const char* source : {"gps", "ntp", "none", "unknown"}) {
    SegmentRecord r = ExampleRecord();
    r.time_source = source;
    r = Sealed(r);
    auto parsed = ParseSealFile(FormatSealFile(r));
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    EXPECT_EQ(parsed->time_source, source);
  }
}

TEST_F(SealTest, FormatOneFromDevelopmentBuildsIsRefusedWithAnExplanation) {
  // A seal as development builds wrote it: 16 lines, no time source and no track.
  const std::string v2 = FormatSealFile(Sealed());
  std::string v1 = "patrolrec-seal 1\n" + v2.substr(v2.find('\n') + 1);
  for (const char* key :
       {"time_source=", "clock_offset_ns=", "track_file=", "track_points=", "track_sha256="}) {
    size_t at = v1.find(std::string("\n") + key) + 1;
    v1.erase(at, v1.find('\n', at) + 1 - at);
  }
  ASSERT_EQ(std::count(v1.begin(), v1.end(), '\n'), 16);
  auto parsed = ParseSealFile(v1);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.message().find("seal line 1 (header): seal format 1 was written by a "
                                  "development build before 2026-11-29 and is not supported; "),
            std::string::npos)
      << parsed.message();
}

TEST_F(SealTest, SealRecordRefusesFieldsThatCouldNotBeParsedBack) {
  SegmentRecord missing = ExampleRecord();
  missing.state = SegmentState::kMissing;
  SegmentRecord upper = ExampleRecord();
  upper.sha256_hex = std::string(64, 'A');
  SegmentRecord no_prev = ExampleRecord();
  no_prev.prev_chain_hex.clear();
  SegmentRecord zero = ExampleRecord();
  zero.sequence = 0;
  SegmentRecord elsewhere = ExampleRecord();
  elsewhere.file = "/etc/passwd.mp4";
  SegmentRecord bad_source = ExampleRecord();
  bad_source.time_source = "sundial";
  SegmentRecord no_track = ExampleRecord();
  no_track.track_sha256_hex.clear();
  SegmentRecord track_elsewhere = ExampleRecord();
  track_elsewhere.track_file = "segments/cabin-rear/x.gpx";
  for (SegmentRecord r :
       {missing, upper, no_prev, zero, elsewhere, bad_source, no_track, track_elsewhere}) {
    SegmentRecord before = r;
    base::Status s = SealRecord(&r, *key_);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("cannot seal"), std::string::npos) << s.message();
    EXPECT_TRUE(r.chain_hex.empty() && r.signature_b64.empty()) << "record changed on failure";
  }
}

TEST_F(SealTest, WriteSealWritesTheFormattedTextDurably) {
  SegmentRecord r = Sealed();
  ASSERT_TRUE(TheEnv().CreateDirs(dir_ / "segments/cabin-rear").ok());
  const std::string path = dir_ / (r.file + ".seal");
  ASSERT_TRUE(WriteSeal(TheEnv(), path, r).ok());
  EXPECT_EQ(*TheEnv().ReadFile(path), FormatSealFile(r));
  EXPECT_FALSE(TheEnv().Exists(path + ".tmp"));
  base::Status s = WriteSeal(TheEnv(), dir_ / "no/such/dir/x.seal", r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(dir_ / "no/such/dir/x.seal"), std::string::npos) << s.message();
}

TEST_F(SealTest, ShellCommandsOfTheDocsCheckChainAndSignature) {
  SegmentRecord r = Sealed();
  const std::string seal = dir_ / "x.seal";
  WriteTextFile(seal, FormatSealFile(r));
  auto chain = RunCommand(
      {"bash", "-c", "head -n " + std::to_string(kSealBodyLines) + " '" + seal + "' | sha256sum"});
  EXPECT_EQ(chain.output.substr(0, 64), r.chain_hex);
  auto verified = RunCommand(
      {"bash", "-c",
       "cd '" + dir_.path() +
           "' && head -n 20 x.seal > msg && tail -n 1 x.seal | cut -d= -f2- | base64 -d > sig && "
           "openssl pkeyutl -verify -pubin -inkey device.pub.pem -rawin -in msg -sigfile sig"});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("Signature Verified Successfully"), std::string::npos);
}

TEST_F(SealTest, ChainHeadFormatSignatureAndRoundTrip) {
  SegmentRecord r = Sealed();
  auto head = MakeChainHead(r, *key_);
  ASSERT_TRUE(head.ok()) << head.message();
  const std::string body =
      "patrolrec-chain-head 1\ndevice=PR-0001\ncamera=cabin-rear\n"
      "sequence=17\nchain=" +
      r.chain_hex + "\n";
  EXPECT_EQ(FormatChainHeadBody(*head), body);
  EXPECT_EQ(FormatChainHead(*head), body + "signature=" + head->signature_b64 + "\n");
  EXPECT_TRUE(*VerifyEd25519(key_->public_key_pem(), body, *Base64Decode(head->signature_b64)));
  auto parsed = ParseChainHead(FormatChainHead(*head));
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->device_id, "PR-0001");
  EXPECT_EQ(parsed->camera, "cabin-rear");
  EXPECT_EQ(parsed->sequence, 17);
  EXPECT_EQ(parsed->chain_hex, r.chain_hex);
  EXPECT_EQ(parsed->signature_b64, head->signature_b64);
  EXPECT_EQ(ChainHeadPath("cabin-rear"), "segments/cabin-rear/chain-head");

  ASSERT_TRUE(TheEnv().CreateDirs(dir_ / "segments/cabin-rear").ok());
  ASSERT_TRUE(WriteChainHead(TheEnv(), dir_ / ChainHeadPath("cabin-rear"), *head).ok());
  EXPECT_EQ(*TheEnv().ReadFile(dir_ / ChainHeadPath("cabin-rear")), FormatChainHead(*head));
}

TEST_F(SealTest, ChainHeadParseIsStrict) {
  auto head = MakeChainHead(Sealed(), *key_);
  ASSERT_TRUE(head.ok());
  const std::string good = FormatChainHead(*head);
  auto version = ParseChainHead("patrolrec-chain-head 7\n" + good.substr(good.find('\n') + 1));
  ASSERT_FALSE(version.ok());
  EXPECT_NE(version.message().find("chain-head line 1 (header): unsupported version"),
            std::string::npos)
      << version.message();
  std::string bad_sequence = good;
  bad_sequence.replace(bad_sequence.find("sequence=17"), 11, "sequence=x");
  auto parsed = ParseChainHead(bad_sequence);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.message().find("chain-head line 4 (sequence)"), std::string::npos)
      << parsed.message();
  EXPECT_FALSE(ParseChainHead(good.substr(0, good.size() - 1)).ok());
  EXPECT_FALSE(ParseChainHead(good + "\n").ok());
  SegmentRecord unsealed = ExampleRecord();  // no chain value yet
  EXPECT_FALSE(MakeChainHead(unsealed, *key_).ok());
}

}  // namespace
}  // namespace patrolrec::storage
