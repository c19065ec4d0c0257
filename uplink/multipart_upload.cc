// The upload protocol of docs/uplink.md: create (or resume) the multipart upload, send the parts
// the server lacks with their digests, complete, read back and compare, set and read back the
// retention, and only then mark the upload verified.
#include "uplink/multipart_upload.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "base/log.h"
#include "storage/seal.h"

namespace patrolrec::uplink {
namespace {

using base::Result;
using base::Status;
using storage::RetentionClass;
using storage::UploadPartRecord;
using storage::UploadRecord;

constexpr int64_t kNsPerDay = 86'400 * base::kNsPerSecond;

std::string Hex(const unsigned char* data, unsigned int size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kDigits[data[i] >> 4];
    hex += kDigits[data[i] & 0xf];
  }
  return hex;
}

struct PartData {
  std::string bytes;
  std::string md5_hex;
  std::string md5_base64;
  std::string sha256_hex;
};

Result<PartData> ReadPart(base::RandomAccessFile& file, const std::string& path, uint64_t offset,
                          size_t size) {
  Result<std::string> bytes = file.ReadAt(offset, size);
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() != size) {
    return Status::Error(path + ": read " + std::to_string(bytes->size()) + " bytes at offset " +
                         std::to_string(offset) + ", expected " + std::to_string(size) +
                         ": the file shrank while uploading");
  }
  PartData part;
  part.bytes = std::move(bytes).value();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_Digest(part.bytes.data(), part.bytes.size(), digest, &digest_size, EVP_md5(), nullptr);
  part.md5_hex = Hex(digest, digest_size);
  part.md5_base64 =
      storage::Base64Encode(std::string(reinterpret_cast<const char*>(digest), digest_size));
  EVP_Digest(part.bytes.data(), part.bytes.size(), digest, &digest_size, EVP_sha256(), nullptr);
  part.sha256_hex = Hex(digest, digest_size);
  return part;
}

std::string Describe(const UploadJob& job) {
  return "upload of \"" + job.file + "\" to " + job.bucket + "/" + job.key;
}

}  // namespace

// --- CatalogUploadStateStore ---------------------------------------------------------------

Result<std::optional<UploadRecord>> CatalogUploadStateStore::Find(const std::string& bucket,
                                                                  const std::string& key) {
  return catalog_.FindLiveUpload(bucket, key);
}
Result<std::optional<UploadRecord>> CatalogUploadStateStore::FindByUploadId(
    const std::string& upload_id) {
  return catalog_.FindUploadById(upload_id);
}
Result<int64_t> CatalogUploadStateStore::Begin(const UploadRecord& upload) {
  return catalog_.BeginUpload(upload);
}
Status CatalogUploadStateStore::PartDone(int64_t upload, const UploadPartRecord& part) {
  return catalog_.AddUploadPart(upload, part);
}
Status CatalogUploadStateStore::Completed(int64_t upload, const std::string& remote_etag,
                                          int64_t utc_ns) {
  return catalog_.MarkUploadCompleted(upload, remote_etag, utc_ns);
}
Status CatalogUploadStateStore::Verified(int64_t upload, const std::string& retention_result,
                                         int64_t utc_ns) {
  return catalog_.MarkUploadVerified(upload, retention_result, utc_ns);
}
Status CatalogUploadStateStore::Aborted(int64_t upload, const std::string& detail) {
  return catalog_.MarkUploadAborted(upload, detail);
}

// --- MultipartUpload -----------------------------------------------------------------------

MultipartUpload::MultipartUpload(S3Client& client, UploadStateStore& store, UploadOptions options,
                                 base::Env* env, const base::Clock* clock)
    : client_(client), store_(store), options_(options), env_(env), clock_(clock) {
  sleeper_ = [](int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
}

template <typename T, typename Request>
S3Result<T> MultipartUpload::WithRetries(const Request& request, UploadOutcome* outcome) {
  int64_t backoff_ms = options_.initial_backoff_ms;
  for (int attempt = 1;; ++attempt) {
    S3Result<T> result = request();
    if (result.ok() || !result.error().retryable() || result.error().code == "Cancelled" ||
        attempt >= options_.max_attempts) {
      return result;
    }
    base::LogWarning("upload request failed; retrying",
                     {{"ERROR", result.error().ToString()},
                      {"ATTEMPT", std::to_string(attempt)},
                      {"BACKOFF_MS", std::to_string(backoff_ms)}});
    ++outcome->retries;
    sleeper_(backoff_ms);
    backoff_ms = std::min(backoff_ms * 2, options_.max_backoff_ms);
  }
}

Result<UploadOutcome> MultipartUpload::Run(const UploadJob& job) {
  const std::string what = Describe(job);
  UploadOutcome outcome;
  if (options_.part_size_bytes <= 0) return Status::Error(what + ": part size must be positive");

  // The file must be the one the catalog sealed: an upload of other bytes would be "verified"
  // against themselves and the evidence would be lost without anybody noticing.
  Result<std::string> sha256 = storage::Sha256File(*env_, job.local_path);
  if (!sha256.ok()) return sha256.status().Wrap(what);
  if (*sha256 != job.sha256_hex) {
    return Status::Error(what + ": REFUSED: the file's SHA-256 is " + *sha256 +
                         " but the catalog holds " + job.sha256_hex +
                         ": the file changed after it was sealed");
  }
  Result<uint64_t> file_size = env_->FileSize(job.local_path);
  if (!file_size.ok()) return file_size.status().Wrap(what);
  const int64_t size = static_cast<int64_t>(*file_size);
  const int64_t part_size = options_.part_size_bytes;
  const int parts_total = size == 0 ? 1 : static_cast<int>((size + part_size - 1) / part_size);
  if (parts_total > 10'000) {
    return Status::Error(what + ": " + std::to_string(parts_total) + " parts of " +
                         std::to_string(part_size) +
                         " bytes; S3 allows 10000: use a larger part size");
  }
  outcome.parts_total = parts_total;

  Result<std::unique_ptr<base::RandomAccessFile>> file = env_->NewRandomAccessFile(job.local_path);
  if (!file.ok()) return file.status().Wrap(what);

  // Up to two rounds: the second only when the server forgot the upload id of the first.
  for (int round = 0; round < 2; ++round) {
    Result<std::optional<UploadRecord>> existing = store_.Find(job.bucket, job.key);
    if (!existing.ok()) return existing.status().Wrap(what);
    UploadRecord upload;
    if (existing->has_value()) {
      upload = **existing;
      if (upload.state == storage::UploadState::kVerified) {
        outcome.already_verified = true;
        outcome.remote_etag = upload.remote_etag;
        outcome.retention_result = upload.retention_result;
        return outcome;
      }
      if (upload.sha256_hex != job.sha256_hex || upload.part_size != part_size ||
          upload.size != size) {
        // Another file, or another part size, for the same key: start that object over.
        (void)client_.AbortMultipartUpload(job.bucket, job.key, upload.upload_id);
        Status aborted = store_.Aborted(
            upload.id, "superseded by an upload of other content or part size to the same key");
        if (!aborted.ok()) return aborted.Wrap(what);
        existing->reset();
      } else {
        outcome.resumed = true;
      }
    }
    if (!existing->has_value()) {
      S3Result<std::string> created = WithRetries<std::string>(
          [&] { return client_.CreateMultipartUpload(job.bucket, job.key); }, &outcome);
      if (!created.ok()) return created.status();
      upload = UploadRecord();
      upload.file = job.file;
      upload.bucket = job.bucket;
      upload.key = job.key;
      upload.upload_id = *created;
      upload.part_size = part_size;
      upload.size = size;
      upload.sha256_hex = job.sha256_hex;
      upload.retention = job.retention;
      upload.started_utc_ns = clock_->NowUtcNs();
      Result<int64_t> id = store_.Begin(upload);
      if (!id.ok()) {
        (void)client_.AbortMultipartUpload(job.bucket, job.key, upload.upload_id);
        return id.status().Wrap(what);
      }
      upload.id = *id;
    }

    // What the server holds decides what is sent: the catalog may lack a part the server
    // acknowledged just before a crash, and the server may have lost one the catalog recorded.
    std::map<int, RemotePart> remote;
    bool forgotten = false;
    if (outcome.resumed && upload.state == storage::UploadState::kUploading) {
      S3Result<std::vector<RemotePart>> listed = WithRetries<std::vector<RemotePart>>(
          [&] { return client_.ListParts(job.bucket, job.key, upload.upload_id); }, &outcome);
      if (!listed.ok() && listed.error().kind == S3ErrorKind::kNoSuchUpload) {
        forgotten = true;
      } else if (!listed.ok()) {
        return listed.status();
      } else {
        for (const RemotePart& part : *listed) remote[part.number] = part;
      }
    }
    std::map<int, UploadPartRecord> recorded;
    for (const UploadPartRecord& part : upload.parts) recorded[part.number] = part;

    std::vector<std::string> md5s(parts_total);
    std::vector<std::string> sha256s(parts_total);
    std::vector<CompletedPart> completed;
    int64_t done_bytes = 0;
    for (int number = 1;
         number <= parts_total && !forgotten && upload.state == storage::UploadState::kUploading;
         ++number) {
      const int64_t offset = (number - 1) * part_size;
      const int64_t length = std::min(part_size, size - offset);
      auto have = remote.find(number);
      auto mine = recorded.find(number);
      if (have != remote.end() && mine != recorded.end() &&
          have->second.etag == mine->second.etag && have->second.size == length) {
        md5s[number - 1] = mine->second.md5_hex;
        sha256s[number - 1] = mine->second.sha256_hex;
        completed.push_back({number, mine->second.etag});
        ++outcome.parts_skipped;
        done_bytes += length;
        if (progress_) progress_(done_bytes, size);
        continue;
      }
      Result<PartData> data = ReadPart(**file, job.local_path, offset, length);
      if (!data.ok()) return data.status().Wrap(what);
      if (have != remote.end() && have->second.etag == data->md5_hex &&
          have->second.size == length) {
        // Acknowledged by the server but not recorded (killed in between): record, don't resend.
        UploadPartRecord part{number,        length,           have->second.etag,
                              data->md5_hex, data->sha256_hex, clock_->NowUtcNs()};
        Status stored = store_.PartDone(upload.id, part);
        if (!stored.ok()) return stored.Wrap(what);
        md5s[number - 1] = data->md5_hex;
        sha256s[number - 1] = data->sha256_hex;
        completed.push_back({number, part.etag});
        ++outcome.parts_skipped;
        done_bytes += length;
        if (progress_) progress_(done_bytes, size);
        continue;
      }
      client_.set_progress([&](int64_t sent, int64_t) {
        if (progress_) progress_(done_bytes + sent, size);
      });
      // A part the server received damaged (BadDigest) is read from the disk again and sent once
      // more; twice damaged is an error.
      S3Result<std::string> etag = std::string();
      for (int digest_attempt = 0; digest_attempt < 2; ++digest_attempt) {
        if (digest_attempt > 0) {
          data = ReadPart(**file, job.local_path, offset, length);
          if (!data.ok()) return data.status().Wrap(what);
          ++outcome.retries;
        }
        etag = WithRetries<std::string>(
            [&] {
              outcome.part_bytes_sent += length;
              return client_.UploadPart(job.bucket, job.key, upload.upload_id, number, data->bytes,
                                        {data->md5_base64, data->sha256_hex});
            },
            &outcome);
        if (etag.ok() || etag.error().kind != S3ErrorKind::kBadDigest) break;
        base::LogWarning("part damaged on the way; sending it again",
                         {{"ERROR", etag.error().ToString()}});
      }
      client_.set_progress(nullptr);
      if (!etag.ok() && etag.error().kind == S3ErrorKind::kNoSuchUpload) {
        forgotten = true;
        break;
      }
      if (!etag.ok()) return etag.status();
      if (*etag != data->md5_hex) {
        return Status::Error(what + ": part " + std::to_string(number) + ": the server's ETag " +
                             *etag + " is not the part's MD5 " + data->md5_hex +
                             ": the object's integrity could not be checked on this server");
      }
      UploadPartRecord part{number,        length,           *etag,
                            data->md5_hex, data->sha256_hex, clock_->NowUtcNs()};
      Status stored = store_.PartDone(upload.id, part);
      if (!stored.ok()) return stored.Wrap(what);
      md5s[number - 1] = data->md5_hex;
      sha256s[number - 1] = data->sha256_hex;
      completed.push_back({number, *etag});
      ++outcome.parts_sent;
      done_bytes += length;
      if (progress_) progress_(done_bytes, size);
    }

    if (forgotten) {
      Status aborted =
          store_.Aborted(upload.id, "the server no longer knows upload id " + upload.upload_id +
                                        " (NoSuchUpload); started over");
      if (!aborted.ok()) return aborted.Wrap(what);
      if (round == 1) {
        return Status::Error(what + ": the server forgot the upload id twice (NoSuchUpload)");
      }
      outcome = UploadOutcome{};
      outcome.parts_total = parts_total;
      outcome.restarted = true;
      continue;
    }

    // Complete (unless a previous run did), then read back. A Complete whose answer was lost may
    // have succeeded: then the retry says NoSuchUpload and the object is there, which the HEAD
    // below decides.
    if (upload.state == storage::UploadState::kCompleted) {
      for (const UploadPartRecord& part : upload.parts) {
        md5s[part.number - 1] = part.md5_hex;
        sha256s[part.number - 1] = part.sha256_hex;
      }
    } else {
      S3Result<std::string> etag = WithRetries<std::string>(
          [&] {
            return client_.CompleteMultipartUpload(job.bucket, job.key, upload.upload_id,
                                                   completed);
          },
          &outcome);
      if (!etag.ok() && etag.error().kind != S3ErrorKind::kNoSuchUpload) return etag.status();
      Status stored = store_.Completed(upload.id, etag.ok() ? *etag : "", clock_->NowUtcNs());
      if (!stored.ok()) return stored.Wrap(what);
    }
    const std::string expected_etag = MultipartEtag(md5s);
    S3Result<ObjectInfo> head =
        WithRetries<ObjectInfo>([&] { return client_.HeadObject(job.bucket, job.key); }, &outcome);
    if (!head.ok()) return head.status().Wrap("reading back after completion");
    if (head->size != size || head->etag != expected_etag) {
      return Status::Error(what + ": INTEGRITY MISMATCH after completion: the server has " +
                           std::to_string(head->size) + " bytes with ETag " + head->etag +
                           ", expected " + std::to_string(size) + " bytes with ETag " +
                           expected_etag + " (computed from the parts' MD5s); not verified");
    }
    // A server that keeps SHA-256 checksums reports the multipart one: compare it too.
    if (!head->checksum_sha256.empty() &&
        head->checksum_sha256 != MultipartChecksumSha256(sha256s)) {
      return Status::Error(what + ": INTEGRITY MISMATCH after completion: the server's SHA-256 " +
                           "checksum is " + head->checksum_sha256 + ", expected " +
                           MultipartChecksumSha256(sha256s) +
                           " (computed from the parts' SHA-256s); not verified");
    }
    // Records the ETag read back (radosgw's CompleteMultipartUpload answer has none).
    Status refreshed = store_.Completed(upload.id, head->etag, clock_->NowUtcNs());
    if (!refreshed.ok()) return refreshed.Wrap(what);
    outcome.remote_etag = head->etag;

    // Retention, set after completion because some servers ignore the lock headers of
    // CreateMultipartUpload, then read back.
    std::string retention_result;
    if (job.retention == RetentionClass::kPermanent) {
      S3Result<Done> put = WithRetries<Done>(
          [&] { return client_.PutObjectLegalHold(job.bucket, job.key, true); }, &outcome);
      if (!put.ok()) return put.status().Wrap(what + ": setting the legal hold");
      S3Result<bool> hold = WithRetries<bool>(
          [&] { return client_.GetObjectLegalHold(job.bucket, job.key); }, &outcome);
      if (!hold.ok()) return hold.status().Wrap(what + ": reading the legal hold back");
      if (!*hold) return Status::Error(what + ": the legal hold reads back OFF after setting it");
      retention_result = "legal hold ON";
    } else {
      ObjectRetention wanted{options_.ordinary_mode,
                             clock_->NowUtcNs() + options_.ordinary_retention_days * kNsPerDay};
      wanted.retain_until_utc_ns -= wanted.retain_until_utc_ns % base::kNsPerSecond;
      S3Result<Done> put = WithRetries<Done>(
          [&] { return client_.PutObjectRetention(job.bucket, job.key, wanted); }, &outcome);
      if (!put.ok()) return put.status().Wrap(what + ": setting object-lock retention");
      S3Result<ObjectRetention> got = WithRetries<ObjectRetention>(
          [&] { return client_.GetObjectRetention(job.bucket, job.key); }, &outcome);
      if (!got.ok()) return got.status().Wrap(what + ": reading the retention back");
      if (got->mode != wanted.mode || got->retain_until_utc_ns < wanted.retain_until_utc_ns) {
        return Status::Error(what + ": retention reads back as " + RetentionModeName(got->mode) +
                             " until " + FormatS3Date(got->retain_until_utc_ns) + ", asked for " +
                             RetentionModeName(wanted.mode) + " until " +
                             FormatS3Date(wanted.retain_until_utc_ns));
      }
      retention_result = std::string(RetentionModeName(got->mode)) + " until " +
                         FormatS3Date(got->retain_until_utc_ns);
    }

    // The bytes sent were read while uploading: check the file did not change meanwhile.
    Result<std::string> after = storage::Sha256File(*env_, job.local_path);
    if (!after.ok()) return after.status().Wrap(what);
    if (*after != job.sha256_hex) {
      return Status::Error(what +
                           ": REFUSED: the file changed while it was being uploaded "
                           "(SHA-256 now " +
                           *after + ", catalog " + job.sha256_hex +
                           "); the server's copy is not verified");
    }
    Status verified = store_.Verified(upload.id, retention_result, clock_->NowUtcNs());
    if (!verified.ok()) return verified.Wrap(what);
    outcome.retention_result = retention_result;
    base::LogInfo("upload verified", {{"FILE", job.file},
                                      {"OBJECT", job.bucket + "/" + job.key},
                                      {"ETAG", outcome.remote_etag},
                                      {"RETENTION", retention_result},
                                      {"PARTS_SENT", std::to_string(outcome.parts_sent)},
                                      {"PARTS_SKIPPED", std::to_string(outcome.parts_skipped)}});
    return outcome;
  }
  return Status::Error(what + ": unreachable");
}

Result<StaleUploadsResult> AbortStaleUploads(S3Client& client, UploadStateStore& store,
                                             const std::string& bucket, const std::string& prefix,
                                             int max_age_days, const base::Clock* clock) {
  S3Result<std::vector<MultipartUploadInfo>> listed = client.ListMultipartUploads(bucket, prefix);
  if (!listed.ok()) return listed.status();
  StaleUploadsResult result;
  result.listed = static_cast<int>(listed->size());
  const int64_t oldest = clock->NowUtcNs() - max_age_days * kNsPerDay;
  for (const MultipartUploadInfo& upload : *listed) {
    Result<std::optional<UploadRecord>> known = store.FindByUploadId(upload.upload_id);
    if (!known.ok()) return known.status();
    const bool live = known->has_value() && ((*known)->state == storage::UploadState::kUploading ||
                                             (*known)->state == storage::UploadState::kCompleted);
    if (live && upload.initiated_utc_ns >= oldest) continue;
    S3Result<Done> aborted = client.AbortMultipartUpload(bucket, upload.key, upload.upload_id);
    if (!aborted.ok() && aborted.error().kind != S3ErrorKind::kNoSuchUpload) {
      return aborted.status();
    }
    if (live) {
      Status stored = store.Aborted(
          (*known)->id, "stale: started " + FormatS3Date(upload.initiated_utc_ns) + ", more than " +
                            std::to_string(max_age_days) + " days ago");
      if (!stored.ok()) return stored;
    }
    base::LogInfo("aborted a stale multipart upload",
                  {{"OBJECT", bucket + "/" + upload.key}, {"UPLOAD_ID", upload.upload_id}});
    ++result.aborted;
  }
  return result;
}

}  // namespace patrolrec::uplink
