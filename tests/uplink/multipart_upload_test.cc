// Tests of the resumable, verified multipart upload against a real radosgw, with the fault proxy
// between the client and the server where the network must misbehave: a full upload read back
// byte for byte, retention and legal hold read back, a link cut mid-part, a daemon killed
// mid-upload, 503s, a stalled link, a byte corrupted in flight, an upload id the server forgot,
// stale uploads, a file changed since it was sealed, wrong credentials.
#include "uplink/multipart_upload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "storage/catalog.h"
#include "storage/seal.h"
#include "tests/fault_proxy.h"
#include "tests/test_util.h"
#include "tests/uplink/s3_test_env.h"

namespace patrolrec::uplink {
namespace {

using patrolrec::testing::FaultProxy;
using patrolrec::testing::LoadS3TestEnv;
using patrolrec::testing::RandomBytes;
using patrolrec::testing::S3TestEnv;
using patrolrec::testing::TempDir;
using patrolrec::testing::UniquePrefix;
using storage::RetentionClass;
using storage::UploadState;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kPartSize = 256 * 1024;  // the test server's minimum part size
// Request headers, ListParts and the like around a part: far less than this per part.
constexpr int64_t kOverheadPerRequest = 4096;

class MultipartUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = LoadS3TestEnv();
    ASSERT_FALSE(env_.Get("S3_ENDPOINT").empty());
    proxy_ = FaultProxy::Start(env_.Port("S3_ENDPOINT"));
    ASSERT_TRUE(proxy_);
    auto catalog = storage::Catalog::Open(dir_ / "catalog.db");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    catalog_ = std::move(catalog).value();
    store_ = std::make_unique<CatalogUploadStateStore>(*catalog_);
    prefix_ = UniquePrefix(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  S3Config ProxiedConfig() const { return env_.Config(proxy_->port()); }

  std::unique_ptr<S3Client> Client(const S3Config& config) {
    auto client = S3Client::Create(config);
    EXPECT_TRUE(client.ok()) << client.message();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  UploadOptions Options(int max_attempts = 6) {
    UploadOptions options;
    options.part_size_bytes = kPartSize;
    options.max_attempts = max_attempts;
    options.initial_backoff_ms = 10;
    return options;
  }

  // A file of `parts` parts (the last one half a part) in the test's directory, and its job.
  UploadJob MakeJob(const std::string& name, double parts, const std::string& bucket_var,
                    RetentionClass retention = RetentionClass::kOrdinary) {
    const std::string path = dir_ / name;
    contents_ = RandomBytes(static_cast<size_t>(parts * kPartSize), 7);
    std::ofstream(path, std::ios::binary) << contents_;
    return {path,           "segments/road/" + name,       env_.Get(bucket_var),
            prefix_ + name, storage::Sha256Hex(contents_), retention};
  }

  base::Result<UploadOutcome> Run(S3Client& client, const UploadJob& job, UploadOptions options) {
    MultipartUpload upload(client, *store_, options);
    upload.set_sleeper([this](int64_t ms) { backoffs_ms_.push_back(ms); });
    return upload.Run(job);
  }

  std::optional<storage::UploadRecord> Live(const UploadJob& job) {
    auto found = catalog_->FindLiveUpload(job.bucket, job.key);
    EXPECT_TRUE(found.ok()) << found.message();
    return found.ok() ? *found : std::nullopt;
  }

  TempDir dir_;
  S3TestEnv env_;
  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<storage::Catalog> catalog_;
  std::unique_ptr<CatalogUploadStateStore> store_;
  std::string prefix_;
  std::string contents_;
  std::vector<int64_t> backoffs_ms_;
};

TEST_F(MultipartUploadTest, FullUploadIsReadBackByteForByteAndVerifiedWithRetention) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("full.mp4", 4.5, "S3_LOCK_BUCKET");
  std::vector<int64_t> progress;
  MultipartUpload upload(*client, *store_, Options());
  upload.set_progress([&](int64_t done, int64_t) { progress.push_back(done); });
  auto outcome = upload.Run(job);
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_EQ(outcome->parts_total, 5);
  EXPECT_EQ(outcome->parts_sent, 5);
  EXPECT_EQ(outcome->parts_skipped, 0);
  EXPECT_THAT(outcome->retention_result, StartsWith("COMPLIANCE until "));
  EXPECT_EQ(outcome->remote_etag.substr(outcome->remote_etag.size() - 2), "-5");
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), static_cast<int64_t>(contents_.size()));
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));

  auto got = client->GetObject(job.bucket, job.key);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_TRUE(*got == contents_) << "the server's copy differs from the file";
  auto retention = client->GetObjectRetention(job.bucket, job.key);
  ASSERT_TRUE(retention.ok());
  const int64_t days = (retention->retain_until_utc_ns - base::Clock::System()->NowUtcNs()) /
                       (86'400 * base::kNsPerSecond);
  EXPECT_GE(days, 182);

  auto row = catalog_->FindUploadById(Live(job)->upload_id);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->state, UploadState::kVerified);
  EXPECT_EQ((*row)->parts.size(), 5u);
  EXPECT_EQ((*row)->remote_etag, outcome->remote_etag);
  EXPECT_EQ((*row)->retention_result, outcome->retention_result);

  // Running the job again finds it verified and sends nothing.
  const int64_t before = proxy_->upstream_bytes();
  auto again = Run(*client, job, Options());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_verified);
  EXPECT_EQ(proxy_->upstream_bytes(), before);
}

TEST_F(MultipartUploadTest, PermanentEvidenceGetsALegalHoldReadBack) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("evidence.mp4", 1.5, "S3_LOCK_BUCKET", RetentionClass::kPermanent);
  auto outcome = Run(*client, job, Options());
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_EQ(outcome->retention_result, "legal hold ON");
  auto hold = client->GetObjectLegalHold(job.bucket, job.key);
  ASSERT_TRUE(hold.ok());
  EXPECT_TRUE(*hold);
}

TEST_F(MultipartUploadTest, RetentionFailureOnABucketWithoutObjectLockIsReportedNotIgnored) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("nolock.mp4", 1.5, "S3_PLAIN_BUCKET");
  auto outcome = Run(*client, job, Options());
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.message(), HasSubstr("setting object-lock retention"));
  EXPECT_THAT(outcome.message(), HasSubstr("PutObjectRetention patrolrec-plain/" + job.key));
  // The bytes are there and checked, but the upload is not verified: the file must be kept.
  ASSERT_TRUE(Live(job).has_value());
  EXPECT_EQ(Live(job)->state, UploadState::kCompleted);
}

TEST_F(MultipartUploadTest, LinkCutMidPartThenResumeSendsOnlyTheMissingParts) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("cut.mp4", 5.5, "S3_LOCK_BUCKET");
  // Through part 1, part 2, and half of part 3 (plus the requests' headers).
  proxy_->CutAfterUpstreamBytes(static_cast<int64_t>(2.5 * kPartSize) + 4 * 1024);
  auto failed = Run(*client, job, Options(/*max_attempts=*/1));
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.message(), HasSubstr("UploadPart 3 "));
  ASSERT_TRUE(Live(job).has_value());
  EXPECT_EQ(Live(job)->parts.size(), 2u);

  const int64_t before = proxy_->upstream_bytes();
  auto resumed = Run(*client, job, Options());
  ASSERT_TRUE(resumed.ok()) << resumed.message();
  EXPECT_TRUE(resumed->resumed);
  EXPECT_EQ(resumed->parts_skipped, 2);
  EXPECT_EQ(resumed->parts_sent, 4);
  const int64_t sent = proxy_->upstream_bytes() - before;
  const int64_t missing = static_cast<int64_t>(contents_.size()) - 2 * kPartSize;
  EXPECT_GE(sent, missing);
  EXPECT_LT(sent, missing + 12 * kOverheadPerRequest) << "parts were sent again";
  auto got = client->GetObject(job.bucket, job.key);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == contents_);
}

TEST_F(MultipartUploadTest, LinkCutIsRetriedWithBackoffWithinOneRunOverTls) {
  auto tls_proxy = FaultProxy::Start(env_.Port("S3_TLS_ENDPOINT"));
  ASSERT_TRUE(tls_proxy);
  auto client = Client(env_.Config(tls_proxy->port(), /*tls=*/true));
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("tls-cut.mp4", 3.5, "S3_LOCK_BUCKET");
  tls_proxy->CutAfterUpstreamBytes(static_cast<int64_t>(1.5 * kPartSize));
  auto outcome = Run(*client, job, Options());
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_GE(outcome->retries, 1);
  EXPECT_EQ(backoffs_ms_.front(), 10);
  EXPECT_EQ(outcome->parts_sent, 4);
  EXPECT_GE(tls_proxy->connections(), 2);
}

TEST_F(MultipartUploadTest, DaemonKilledMidUploadResumesWithoutResendingCompletedParts) {
  UploadJob job = MakeJob("killed.mp4", 12, "S3_LOCK_BUCKET");
  proxy_->RateLimit(1024 * 1024);  // 4 parts a second: time to kill it mid-upload
  const std::string log = dir_ / "upload.log";
  ::setenv("S3_ENDPOINT", ("http://127.0.0.1:" + std::to_string(proxy_->port())).c_str(), 1);
  for (const char* name : {"S3_REGION", "S3_ACCESS_KEY", "S3_SECRET_KEY"}) {
    ::setenv(name, env_.Get(name).c_str(), 1);
  }
  const int pid = patrolrec::testing::StartProcess(
      {patrolrec::testing::BinaryPath("patrolrec-upload"), "--catalog", dir_ / "catalog.db",
       "--bucket", job.bucket, "--part-size-bytes", std::to_string(kPartSize), job.local_path,
       job.key},
      log);
  ASSERT_GT(pid, 0);
  // Kill it (SIGKILL: no clean-up of any kind) once the catalog holds three parts.
  size_t parts_before_kill = 0;
  for (int i = 0; i < 200 && parts_before_kill < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    auto live = catalog_->FindLiveUpload(job.bucket, job.key);
    if (live.ok() && live->has_value()) parts_before_kill = (*live)->parts.size();
  }
  ::kill(pid, SIGKILL);
  EXPECT_EQ(patrolrec::testing::WaitProcess(pid), -SIGKILL);
  ASSERT_GE(parts_before_kill, 3u);
  // What the dead process left in the socket buffers would still trickle to the server and be
  // counted as sent by the resumed upload: drop it, as a dropped link would.
  proxy_->CutAllNow();
  proxy_->RateLimit(0);

  // A new process would reopen the catalog: so does the test.
  store_.reset();
  catalog_.reset();
  auto reopened = storage::Catalog::Open(dir_ / "catalog.db");
  ASSERT_TRUE(reopened.ok());
  catalog_ = std::move(reopened).value();
  store_ = std::make_unique<CatalogUploadStateStore>(*catalog_);
  const size_t recorded = Live(job)->parts.size();

  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  const int64_t before = proxy_->upstream_bytes();
  auto resumed = Run(*client, job, Options());
  ASSERT_TRUE(resumed.ok()) << resumed.message();
  EXPECT_GE(resumed->parts_skipped, static_cast<int>(recorded));
  EXPECT_EQ(resumed->parts_sent + resumed->parts_skipped, 12);
  const int64_t sent = proxy_->upstream_bytes() - before;
  EXPECT_LE(sent, (12 - static_cast<int64_t>(recorded)) * (kPartSize + kOverheadPerRequest) +
                      8 * kOverheadPerRequest)
      << "completed parts were sent again";
  auto got = client->GetObject(job.bucket, job.key);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == contents_);
}

TEST_F(MultipartUploadTest, ServerErrors503And500AreRetriedWithExponentialBackoff) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("busy.mp4", 1.5, "S3_LOCK_BUCKET");
  const std::string body =
      "<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
      "</Message></Error>";
  proxy_->RespondOnNextConnections(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
      "application/xml\r\nConnection: close\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body,
      2);
  auto outcome = Run(*client, job, Options());
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_EQ(proxy_->canned_responses_sent(), 2);
  EXPECT_EQ(backoffs_ms_, (std::vector<int64_t>{10, 20}));

  UploadJob second = MakeJob("busy2.mp4", 1.5, "S3_LOCK_BUCKET");
  backoffs_ms_.clear();
  proxy_->RespondOnNextConnections(
      "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 1);
  outcome = Run(*client, second, Options());
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_EQ(backoffs_ms_, (std::vector<int64_t>{10}));
}

TEST_F(MultipartUploadTest, PersistentServerErrorGivesUpNamingTheStatus) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("down.mp4", 1.5, "S3_LOCK_BUCKET");
  proxy_->RespondOnNextConnections(
      "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 3);
  auto outcome = Run(*client, job, Options(/*max_attempts=*/3));
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.message(),
              HasSubstr("CreateMultipartUpload patrolrec-locked/" + job.key + ": HTTP 503"));
  EXPECT_EQ(backoffs_ms_, (std::vector<int64_t>{10, 20}));
}

TEST_F(MultipartUploadTest, StalledLinkIsCutByTheLowSpeedLimitAndRetried) {
  S3Config config = ProxiedConfig();
  config.low_speed_time_s = 1;
  auto client = Client(config);
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("stall.mp4", 1.5, "S3_LOCK_BUCKET");
  proxy_->StallFor(2500);
  auto outcome = Run(*client, job, Options(/*max_attempts=*/8));
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_GE(outcome->retries, 1);
}

TEST_F(MultipartUploadTest, ByteCorruptedInFlightIsCaughtByTheServerAndThePartResent) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("corrupt.mp4", 2.5, "S3_LOCK_BUCKET");
  // Past CreateMultipartUpload's few hundred bytes: inside part 1's body.
  proxy_->CorruptUpstreamByteAt(100'000);
  auto outcome = Run(*client, job, Options());
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_EQ(outcome->retries, 1);
  EXPECT_EQ(outcome->parts_sent, 3);
  EXPECT_EQ(outcome->part_bytes_sent, static_cast<int64_t>(contents_.size()) + kPartSize);
  auto got = client->GetObject(job.bucket, job.key);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == contents_);
}

TEST_F(MultipartUploadTest, UploadIdTheServerForgotIsStartedOverCleanly) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("forgot.mp4", 3.5, "S3_LOCK_BUCKET");
  proxy_->CutAfterUpstreamBytes(static_cast<int64_t>(1.5 * kPartSize));
  ASSERT_FALSE(Run(*client, job, Options(1)).ok());
  const std::string old_id = Live(job)->upload_id;
  ASSERT_TRUE(client->AbortMultipartUpload(job.bucket, job.key, old_id).ok());

  auto outcome = Run(*client, job, Options());
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_TRUE(outcome->restarted);
  EXPECT_EQ(outcome->parts_sent, 4);
  auto all = catalog_->Uploads();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].state, UploadState::kAborted);
  EXPECT_THAT((*all)[0].detail, HasSubstr("NoSuchUpload"));
  EXPECT_EQ((*all)[1].state, UploadState::kVerified);
  EXPECT_NE((*all)[1].upload_id, old_id);
}

TEST_F(MultipartUploadTest, StaleUploadsAreAbortedAndLiveOnesKeptUntilTooOld) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("live.mp4", 2.5, "S3_LOCK_BUCKET");
  proxy_->CutAfterUpstreamBytes(static_cast<int64_t>(1.5 * kPartSize));
  ASSERT_FALSE(Run(*client, job, Options(1)).ok());
  auto orphan = client->CreateMultipartUpload(job.bucket, prefix_ + "orphan.mp4");
  ASSERT_TRUE(orphan.ok());

  auto result = AbortStaleUploads(*client, *store_, job.bucket, prefix_, 7);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(result->listed, 2);
  EXPECT_EQ(result->aborted, 1);
  auto left = client->ListMultipartUploads(job.bucket, prefix_);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].key, job.key);

  // Older than the limit (0 days): the live one goes too, and the catalog says so.
  result = AbortStaleUploads(*client, *store_, job.bucket, prefix_, -1);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(result->aborted, 1);
  EXPECT_FALSE(Live(job).has_value());
}

TEST_F(MultipartUploadTest, FileThatNoLongerMatchesItsSealIsRefusedLoudly) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("changed.mp4", 1.5, "S3_LOCK_BUCKET");
  job.sha256_hex = std::string(64, 'e');
  auto outcome = Run(*client, job, Options());
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.message(), HasSubstr("REFUSED"));
  EXPECT_THAT(outcome.message(), HasSubstr("the file changed after it was sealed"));
  auto uploads = client->ListMultipartUploads(job.bucket, prefix_);
  ASSERT_TRUE(uploads.ok());
  EXPECT_TRUE(uploads->empty());
}

TEST_F(MultipartUploadTest, WrongCredentialsFailAtOnceWithoutRetrying) {
  S3Config config = ProxiedConfig();
  config.secret_key = "wrong";
  auto client = Client(config);
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("creds.mp4", 1.5, "S3_LOCK_BUCKET");
  auto outcome = Run(*client, job, Options());
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.message(), HasSubstr("HTTP 403 SignatureDoesNotMatch"));
  EXPECT_TRUE(backoffs_ms_.empty());
}

TEST_F(MultipartUploadTest, ChecksumSha256HeadersAreAcceptedWhenEnabled) {
  // radosgw 16 accepts x-amz-checksum-algorithm and x-amz-checksum-sha256 (newer servers verify
  // them); the upload must work with them on.
  S3Config config = ProxiedConfig();
  config.send_checksum_sha256 = true;
  auto client = Client(config);
  ASSERT_TRUE(client);
  UploadJob job = MakeJob("checksum.mp4", 2.5, "S3_LOCK_BUCKET");
  auto outcome = Run(*client, job, Options());
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_EQ(outcome->parts_sent, 3);
}

TEST_F(MultipartUploadTest, CancelFlagStopsTheUploadPromptlyWithoutRetrying) {
  auto client = Client(ProxiedConfig());
  ASSERT_TRUE(client);
  std::atomic<bool> cancel{false};
  client->set_cancel_flag(&cancel);
  UploadJob job = MakeJob("cancel.mp4", 8, "S3_LOCK_BUCKET");
  proxy_->RateLimit(512 * 1024);  // 4 s for the whole file
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    cancel = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto outcome = Run(*client, job, Options());
  const auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.message(), HasSubstr("Cancelled: cancelled by the caller"));
  EXPECT_TRUE(backoffs_ms_.empty());
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  // What was acknowledged before is kept for the next run.
  ASSERT_TRUE(Live(job).has_value());
  EXPECT_EQ(Live(job)->state, UploadState::kUploading);
}

}  // namespace
}  // namespace patrolrec::uplink
