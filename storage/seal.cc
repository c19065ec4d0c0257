// Seal and chain-head encoding. Formatting is the single source of the bytes that are hashed and
// signed; parsing is strict and finally checks that re-formatting gives back the very same text,
// so a seal has exactly one accepted spelling.
#include "storage/seal.h"

#include <openssl/evp.h>

#include <array>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "base/clock.h"
#include "storage/segment_name.h"

namespace patrolrec::storage {
namespace {

// Chunk size for hashing files: large enough that per-read overhead (a system call, a wake-up)
// vanishes next to SHA-256, small enough that the chunks in flight stay in cache.
constexpr size_t kHashChunkBytes = size_t{1} << 20;

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0x0f];
  }
  return out;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Reads a file's chunks on a helper thread while the caller hashes the previous ones. Copying
// from the page cache costs about 15% of SHA-256's time; overlapping the two keeps hashing at
// the speed of `openssl speed -evp sha256`. Falls back to reading inline if no thread can be
// started. The destructor stops and joins the thread, so an early return leaks nothing.
class ChunkReader {
 public:
  explicit ChunkReader(base::SequentialFile& file) : file_(file) {
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error&) {
      // No thread: Next() reads inline.
    }
  }
  ~ChunkReader() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // The next chunk; empty at end of file.
  base::Result<std::string> Next() {
    if (!thread_.joinable()) return file_.Read(kHashChunkBytes);
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !ready_.empty() || finished_; });
    if (ready_.empty()) {
      if (!error_.ok()) return error_;
      return std::string();
    }
    std::string chunk = std::move(ready_.front());
    ready_.pop_front();
    changed_.notify_all();
    return chunk;
  }

 private:
  // Two chunks in flight are enough to keep both threads busy; more would only use memory.
  static constexpr size_t kMaxReady = 2;

  void Run() {
    for (;;) {
      auto chunk = file_.Read(kHashChunkBytes);
      std::unique_lock lock(mutex_);
      if (!chunk.ok() || chunk->empty()) {
        if (!chunk.ok()) error_ = chunk.status();
        finished_ = true;
        changed_.notify_all();
        return;
      }
      changed_.wait(lock, [this] { return ready_.size() < kMaxReady || stop_; });
      if (stop_) return;
      ready_.push_back(std::move(*chunk));
      changed_.notify_all();
    }
  }

  base::SequentialFile& file_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> ready_;  // guarded by mutex_
  bool finished_ = false;          // guarded by mutex_: end of file or error reached
  bool stop_ = false;              // guarded by mutex_: the consumer has gone
  base::Status error_;             // guarded by mutex_
};

std::string Line(const std::string& key, const std::string& value) {
  return key + "=" + value + "\n";
}

// ---- Strict parsing -------------------------------------------------------------------------

// Hands out the lines of a text one by one, knowing their numbers, so that every error can say
// "line 6 (bytes): ...".
class LineReader {
 public:
  LineReader(const std::string& text, std::string what) : text_(text), what_(std::move(what)) {}

  // The next line without its '\n'. Fails at end of text or on a last line without '\n'.
  base::Status Next(const std::string& expected, std::string* line) {
    ++number_;
    if (pos_ >= text_.size()) {
      return Error(expected, "missing: the file ends after line " + std::to_string(number_ - 1));
    }
    size_t end = text_.find('\n', pos_);
    if (end == std::string::npos) {
      return Error(expected, "the last line does not end with a newline (file cut short?)");
    }
    *line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return base::Status::Ok();
  }

  // Reads "key=value" and checks the key.
  base::Status Field(const std::string& key, std::string* value) {
    std::string line;
    base::Status s = Next(key, &line);
    if (!s.ok()) return s;
    size_t equals = line.find('=');
    std::string found = equals == std::string::npos ? line : line.substr(0, equals);
    if (equals == std::string::npos || found != key) {
      return Error(key, "expected \"" + key + "=...\", found \"" + Printable(line) + "\"");
    }
    *value = line.substr(equals + 1);
    return base::Status::Ok();
  }

  base::Status ExpectEnd() {
    if (pos_ == text_.size()) return base::Status::Ok();
    return base::Status::Error(what_ + " line " + std::to_string(number_ + 1) +
                               ": unexpected text after the last line (\"signature\")");
  }

  base::Status Error(const std::string& key, const std::string& why) const {
    return base::Status::Error(what_ + " line " + std::to_string(number_) + " (" + key +
                               "): " + why);
  }

  // A value quoted in an error message, with control characters made visible and cut short.
  static std::string Printable(const std::string& value) {
    std::string out;
    for (char c : value.substr(0, 80)) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
        out += escaped;
      } else {
        out += c;
      }
    }
    if (value.size() > 80) out += "...";
    return out;
  }

 private:
  const std::string& text_;
  std::string what_;
  size_t pos_ = 0;
  int number_ = 0;
};

// Canonical decimal: "0" or no leading zero, no sign, fits int64.
bool ParseDecimal(const std::string& text, int64_t* value) {
  if (text.empty() || text.size() > 19 || (text.size() > 1 && text[0] == '0')) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    if (v > (INT64_MAX - (c - '0')) / 10) return false;
    v = v * 10 + (c - '0');
  }
  *value = v;
  return true;
}

base::Status NumberField(LineReader& in, const std::string& key, int64_t minimum, int64_t* out) {
  std::string value;
  base::Status s = in.Field(key, &value);
  if (!s.ok()) return s;
  if (!ParseDecimal(value, out)) {
    return in.Error(key, "expected a decimal integer without sign or leading zeros, found \"" +
                             LineReader::Printable(value) + "\"");
  }
  if (*out < minimum) {
    return in.Error(key, "must be at least " + std::to_string(minimum) + ", found " + value);
  }
  return base::Status::Ok();
}

// A signed canonical decimal ("0", "1200000", "-1200000"; never "+1", "-0" or "007"), or the
// word "unknown" for an unset value.
base::Status OptionalSignedField(LineReader& in, const std::string& key,
                                 std::optional<int64_t>* out) {
  std::string value;
  base::Status s = in.Field(key, &value);
  if (!s.ok()) return s;
  if (value == "unknown") {
    out->reset();
    return base::Status::Ok();
  }
  const bool negative = !value.empty() && value[0] == '-';
  int64_t magnitude = 0;
  if (!ParseDecimal(negative ? value.substr(1) : value, &magnitude) ||
      (negative && magnitude == 0)) {
    return in.Error(key,
                    "expected a decimal integer (\"-\" for negative, no \"+\", no leading "
                    "zeros) or \"unknown\", found \"" +
                        LineReader::Printable(value) + "\"");
  }
  *out = negative ? -magnitude : magnitude;
  return base::Status::Ok();
}

base::Status HashField(LineReader& in, const std::string& key, std::string* out) {
  base::Status s = in.Field(key, out);
  if (!s.ok()) return s;
  if (!IsSha256Hex(*out)) {
    return in.Error(
        key, "expected 64 lower-case hex digits, found \"" + LineReader::Printable(*out) + "\"");
  }
  return base::Status::Ok();
}

base::Status TimeField(LineReader& in, const std::string& key, int64_t* utc_ns) {
  std::string value;
  base::Status s = in.Field(key, &value);
  if (!s.ok()) return s;
  if (!base::ParseUtcNs(value, utc_ns)) {
    return in.Error(key, "expected a UTC time like 2026-11-29T01:16:30.250000000Z, found \"" +
                             LineReader::Printable(value) + "\"");
  }
  return base::Status::Ok();
}

base::Status SignatureField(LineReader& in, std::string* out) {
  base::Status s = in.Field("signature", out);
  if (!s.ok()) return s;
  auto raw = Base64Decode(*out);
  if (!raw.ok()) return in.Error("signature", raw.message());
  if (raw->size() != 64) {
    return in.Error("signature", "an Ed25519 signature has 64 bytes, this one has " +
                                     std::to_string(raw->size()));
  }
  return base::Status::Ok();
}

// Seal format 1 lacked the time trust and the GPS track. Only development builds ever wrote it,
// so it is refused with an explanation instead of being read by a second code path.
constexpr char kDevelopmentSealMagic[] = "patrolrec-seal 1";

base::Status MagicLine(LineReader& in, const std::string& magic) {
  std::string line;
  base::Status s = in.Next("header", &line);
  if (!s.ok()) return s;
  if (line == magic) return base::Status::Ok();
  if (magic == kSealMagic && line == kDevelopmentSealMagic) {
    return in.Error("header",
                    "seal format 1 was written by a development build before 2026-11-29 and is "
                    "not supported; its segments are not evidence of a released patrolrec: set "
                    "them aside, or check them with the patrolrec-verify of that build");
  }
  const std::string name = magic.substr(0, magic.find(' ') + 1);
  if (line.rfind(name, 0) == 0) {
    return in.Error("header", "unsupported version \"" +
                                  LineReader::Printable(line.substr(name.size())) +
                                  "\"; this build reads \"" + magic + "\"");
  }
  return in.Error("header",
                  "expected \"" + magic + "\", found \"" + LineReader::Printable(line) + "\"");
}

base::Status DeviceAndCamera(LineReader& in, std::string* device_id, std::string* camera) {
  base::Status s = in.Field("device", device_id);
  if (!s.ok()) return s;
  if (!IsValidDeviceId(*device_id)) {
    return in.Error("device", "expected 1-64 characters of A-Z a-z 0-9 -, found \"" +
                                  LineReader::Printable(*device_id) + "\"");
  }
  s = in.Field("camera", camera);
  if (!s.ok()) return s;
  if (!IsValidCameraName(*camera)) {
    return in.Error("camera", "expected 1-64 characters of a-z 0-9 -, found \"" +
                                  LineReader::Printable(*camera) + "\"");
  }
  return base::Status::Ok();
}

// `file` must name an .mp4 directly inside the camera's own directory, so that a seal can
// never point outside the data directory or at another camera's footage.
bool IsValidSegmentFile(const std::string& file, const std::string& camera) {
  const std::string prefix = CameraDir(camera) + "/";
  const std::string suffix = ".mp4";
  if (file.size() <= prefix.size() + suffix.size() || file.rfind(prefix, 0) != 0 ||
      file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  for (size_t i = prefix.size(); i < file.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(file[i]);
    if (c == '/' || c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

// ---- Hashing and base64 ----------------------------------------------------------------------

base::Result<std::string> Sha256File(base::Env& env, const std::string& path) {
  auto file = env.NewSequentialFile(path);
  if (!file.ok()) return file.status().Wrap("SHA-256");
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return base::Status::Error(path + ": SHA-256: cannot set up OpenSSL's digest");
  }
  ChunkReader reader(**file);
  for (;;) {
    auto chunk = reader.Next();
    if (!chunk.ok()) return chunk.status().Wrap("SHA-256");
    if (chunk->empty()) break;
    EVP_DigestUpdate(ctx.get(), chunk->data(), chunk->size());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &size);
  return Hex(digest, size);
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return Hex(digest, size);
}

bool IsSha256Hex(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Base64Encode(const std::string& data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (size_t i = 0; i < data.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16;
    if (i + 1 < data.size())
      n |= static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
    if (i + 2 < data.size()) n |= static_cast<unsigned char>(data[i + 2]);
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? kBase64Alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? kBase64Alphabet[n & 63] : '=';
  }
  return out;
}

base::Result<std::string> Base64Decode(const std::string& text) {
  if (text.size() % 4 != 0) {
    return base::Status::Error("base64: length " + std::to_string(text.size()) +
                               " is not a multiple of 4");
  }
  std::array<int, 256> value;
  value.fill(-1);
  for (int i = 0; i < 64; ++i) value[static_cast<unsigned char>(kBase64Alphabet[i])] = i;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int padding = 0;
    uint32_t n = 0;
    for (size_t j = 0; j < 4; ++j) {
      unsigned char c = static_cast<unsigned char>(text[i + j]);
      if (c == '=' && last && j >= 2) {
        ++padding;
        n <<= 6;
        continue;
      }
      if (value[c] < 0 || padding > 0) {
        return base::Status::Error("base64: invalid character at offset " + std::to_string(i + j));
      }
      n = (n << 6) | static_cast<uint32_t>(value[c]);
    }
    // The bits under the padding must be zero, or two texts would decode to the same bytes.
    if ((padding == 1 && (n & 0xff) != 0) || (padding == 2 && (n & 0xffff) != 0)) {
      return base::Status::Error("base64: non-zero bits before the padding (not canonical)");
    }
    out += static_cast<char>((n >> 16) & 0xff);
    if (padding < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (padding < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

// ---- Seals -----------------------------------------------------------------------------------

std::string FormatSealBody(const SegmentRecord& r) {
  std::string out = std::string(kSealMagic) + "\n";
  out += Line("device", r.device_id);
  out += Line("camera", r.camera);
  out += Line("sequence", std::to_string(r.sequence));
  out += Line("file", r.file);
  out += Line("bytes", std::to_string(r.bytes));
  out += Line("sha256", r.sha256_hex);
  out += Line("start_utc", base::FormatUtcNs(r.start_utc_ns));
  out += Line("end_utc", base::FormatUtcNs(r.end_utc_ns));
  out += Line("duration_ns", std::to_string(r.duration_ns));
  out += Line("frames", std::to_string(r.frames));
  out += Line("state", SegmentStateName(r.state));
  out += Line("time_source", r.time_source);
  out += Line("clock_offset_ns", FormatClockOffset(r.clock_offset_ns));
  out += Line("track_file", r.track_file);
  out += Line("track_points", std::to_string(r.track_points));
  out += Line("track_sha256", r.track_sha256_hex);
  out += Line("sealed_utc", base::FormatUtcNs(r.sealed_utc_ns));
  out += Line("prev_chain", r.prev_chain_hex);
  return out;
}

std::string FormatSealSignedText(const SegmentRecord& r) {
  return FormatSealBody(r) + Line("chain", r.chain_hex);
}

std::string FormatSealFile(const SegmentRecord& r) {
  return FormatSealSignedText(r) + Line("signature", r.signature_b64);
}

base::Status SealRecord(SegmentRecord* r, const DeviceKey& key) {
  SegmentRecord sealed = *r;
  sealed.chain_hex = Sha256Hex(FormatSealBody(sealed));
  auto signature = key.Sign(FormatSealSignedText(sealed));
  if (!signature.ok()) return signature.status().Wrap("sealing " + r->file);
  sealed.signature_b64 = Base64Encode(*signature);
  // Parsing what would be written catches every field that is out of range or unwritable (a bad
  // camera name, an upper-case hash, state "missing", ...) before anything is signed into a file.
  auto check = ParseSealFile(FormatSealFile(sealed));
  if (!check.ok()) return check.status().Wrap("cannot seal \"" + r->file + "\"");
  *r = std::move(sealed);
  return base::Status::Ok();
}

base::Result<SegmentRecord> ParseSealFile(const std::string& text) {
  LineReader in(text, "seal");
  SegmentRecord r;
  std::string state;
  base::Status s = MagicLine(in, kSealMagic);
  if (s.ok()) s = DeviceAndCamera(in, &r.device_id, &r.camera);
  if (s.ok()) s = NumberField(in, "sequence", 1, &r.sequence);
  if (s.ok()) s = in.Field("file", &r.file);
  if (s.ok() && !IsValidSegmentFile(r.file, r.camera)) {
    s = in.Error("file", "expected \"" + CameraDir(r.camera) + "/<name>.mp4\", found \"" +
                             LineReader::Printable(r.file) + "\"");
  }
  if (s.ok()) s = NumberField(in, "bytes", 0, &r.bytes);
  if (s.ok()) s = HashField(in, "sha256", &r.sha256_hex);
  if (s.ok()) s = TimeField(in, "start_utc", &r.start_utc_ns);
  if (s.ok()) s = TimeField(in, "end_utc", &r.end_utc_ns);
  if (s.ok()) s = NumberField(in, "duration_ns", 0, &r.duration_ns);
  if (s.ok()) s = NumberField(in, "frames", 0, &r.frames);
  if (s.ok()) s = in.Field("state", &state);
  if (s.ok() && (!ParseSegmentState(state, &r.state) || r.state == SegmentState::kMissing)) {
    s = in.Error("state", "expected \"sealed\" or \"recovered\", found \"" +
                              LineReader::Printable(state) + "\"");
  }
  if (s.ok()) s = in.Field("time_source", &r.time_source);
  if (s.ok() && !IsValidTimeSource(r.time_source)) {
    s = in.Error("time_source", "expected \"gps\", \"ntp\", \"none\" or \"unknown\", found \"" +
                                    LineReader::Printable(r.time_source) + "\"");
  }
  if (s.ok()) s = OptionalSignedField(in, "clock_offset_ns", &r.clock_offset_ns);
  if (s.ok()) s = in.Field("track_file", &r.track_file);
  if (s.ok() && r.track_file != TrackPathFor(r.file)) {
    s = in.Error("track_file", "expected \"" + LineReader::Printable(TrackPathFor(r.file)) +
                                   "\" (the segment's file plus .gpx), found \"" +
                                   LineReader::Printable(r.track_file) + "\"");
  }
  if (s.ok()) s = NumberField(in, "track_points", 0, &r.track_points);
  if (s.ok()) s = HashField(in, "track_sha256", &r.track_sha256_hex);
  if (s.ok()) s = TimeField(in, "sealed_utc", &r.sealed_utc_ns);
  if (s.ok()) s = HashField(in, "prev_chain", &r.prev_chain_hex);
  if (s.ok()) s = HashField(in, "chain", &r.chain_hex);
  if (s.ok()) s = SignatureField(in, &r.signature_b64);
  if (s.ok()) s = in.ExpectEnd();
  if (!s.ok()) return s;
  // Every field was checked to be canonical above; this guards the invariant in the header
  // against a future field that is not.
  if (FormatSealFile(r) != text) return base::Status::Error("seal: not in canonical form");
  return r;
}

base::Status WriteSeal(base::Env& env, const std::string& seal_path, const SegmentRecord& r) {
  return env.WriteFileDurably(seal_path, FormatSealFile(r), 0644).Wrap("writing seal");
}

// ---- Chain heads -----------------------------------------------------------------------------

std::string ChainHeadPath(const std::string& camera) { return CameraDir(camera) + "/chain-head"; }

std::string FormatChainHeadBody(const ChainHead& head) {
  return std::string(kChainHeadMagic) + "\n" + Line("device", head.device_id) +
         Line("camera", head.camera) + Line("sequence", std::to_string(head.sequence)) +
         Line("chain", head.chain_hex);
}

std::string FormatChainHead(const ChainHead& head) {
  return FormatChainHeadBody(head) + Line("signature", head.signature_b64);
}

base::Result<ChainHead> MakeChainHead(const SegmentRecord& last, const DeviceKey& key) {
  ChainHead head;
  head.device_id = last.device_id;
  head.camera = last.camera;
  head.sequence = last.sequence;
  head.chain_hex = last.chain_hex;
  auto signature = key.Sign(FormatChainHeadBody(head));
  if (!signature.ok()) return signature.status().Wrap("signing the chain head of " + last.camera);
  head.signature_b64 = Base64Encode(*signature);
  auto check = ParseChainHead(FormatChainHead(head));
  if (!check.ok()) return check.status().Wrap("cannot make a chain head for \"" + last.file + "\"");
  return head;
}

base::Result<ChainHead> ParseChainHead(const std::string& text) {
  LineReader in(text, "chain-head");
  ChainHead head;
  base::Status s = MagicLine(in, kChainHeadMagic);
  if (s.ok()) s = DeviceAndCamera(in, &head.device_id, &head.camera);
  if (s.ok()) s = NumberField(in, "sequence", 1, &head.sequence);
  if (s.ok()) s = HashField(in, "chain", &head.chain_hex);
  if (s.ok()) s = SignatureField(in, &head.signature_b64);
  if (s.ok()) s = in.ExpectEnd();
  if (!s.ok()) return s;
  if (FormatChainHead(head) != text)
    return base::Status::Error("chain-head: not in canonical form");
  return head;
}

base::Status WriteChainHead(base::Env& env, const std::string& path, const ChainHead& head) {
  return env.WriteFileDurably(path, FormatChainHead(head), 0644).Wrap("writing chain head");
}

}  // namespace patrolrec::storage
