// The device key: created once with safe permissions, loaded thereafter, its signatures checkable
// by OpenSSL's command line, and every failure (corrupt key, wrong key type, unwritable place)
// reported with the path and the reason.
#include "storage/device_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "base/env.h"
#include "base/log.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using testing::RunCommand;
using testing::TempDir;
using testing::WriteTextFile;

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::unique_ptr<DeviceKey> MustLoad(const TempDir& dir) {
  auto key = DeviceKey::LoadOrCreate(*base::Env::Default(), dir / "keys/device.key",
                                     dir / "device.pub.pem");
  EXPECT_TRUE(key.ok()) << key.message();
  return key.ok() ? std::move(*key) : nullptr;
}

TEST(DeviceKeyTest, CreatesPrivateKey0600InDirectory0700AndPublicKey0644) {
  TempDir dir;
  auto key = MustLoad(dir);
  ASSERT_TRUE(key);
  EXPECT_EQ(ModeOf(dir / "keys"), 0700u);
  EXPECT_EQ(ModeOf(dir / "keys/device.key"), 0600u);
  EXPECT_EQ(ModeOf(dir / "device.pub.pem"), 0644u);
  auto pem = base::Env::Default()->ReadFile(dir / "keys/device.key");
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(pem->rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u) << "PKCS#8 expected";
  auto pub = base::Env::Default()->ReadFile(dir / "device.pub.pem");
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(*pub, key->public_key_pem());
  EXPECT_EQ(pub->rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u);
  EXPECT_FALSE(base::Env::Default()->Exists(dir / "keys/device.key.tmp"));
}

TEST(DeviceKeyTest, SecondLoadKeepsTheSameKey) {
  TempDir dir;
  auto first = MustLoad(dir);
  auto second = MustLoad(dir);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->fingerprint(), second->fingerprint());
  EXPECT_EQ(first->public_key_pem(), second->public_key_pem());
}

TEST(DeviceKeyTest, LostOrDamagedPublicKeyFileIsRewritten) {
  TempDir dir;
  auto first = MustLoad(dir);
  ASSERT_TRUE(first);
  WriteTextFile(dir / "device.pub.pem", "garbage\n");
  auto second = MustLoad(dir);
  ASSERT_TRUE(second);
  EXPECT_EQ(*base::Env::Default()->ReadFile(dir / "device.pub.pem"), first->public_key_pem());
  ASSERT_TRUE(base::Env::Default()->RemoveFile(dir / "device.pub.pem").ok());
  ASSERT_TRUE(MustLoad(dir));
  EXPECT_EQ(*base::Env::Default()->ReadFile(dir / "device.pub.pem"), first->public_key_pem());
}

TEST(DeviceKeyTest, SignatureIs64BytesAndVerifiesOnlyForTheSameMessage) {
  TempDir dir;
  auto key = MustLoad(dir);
  ASSERT_TRUE(key);
  auto signature = key->Sign("the message");
  ASSERT_TRUE(signature.ok()) << signature.message();
  EXPECT_EQ(signature->size(), 64u);
  auto valid = VerifyEd25519(key->public_key_pem(), "the message", *signature);
  ASSERT_TRUE(valid.ok()) << valid.message();
  EXPECT_TRUE(*valid);
  auto tampered = VerifyEd25519(key->public_key_pem(), "the messagE", *signature);
  ASSERT_TRUE(tampered.ok());
  EXPECT_FALSE(*tampered);
  std::string flipped = *signature;
  flipped[10] ^= 1;
  EXPECT_FALSE(*VerifyEd25519(key->public_key_pem(), "the message", flipped));
}

TEST(DeviceKeyTest, SignatureOfAnotherKeyDoesNotVerify) {
  TempDir a, b;
  auto key_a = MustLoad(a);
  auto key_b = MustLoad(b);
  ASSERT_TRUE(key_a && key_b);
  EXPECT_NE(key_a->fingerprint(), key_b->fingerprint());
  auto signature = key_b->Sign("m");
  ASSERT_TRUE(signature.ok());
  EXPECT_FALSE(*VerifyEd25519(key_a->public_key_pem(), "m", *signature));
}

TEST(DeviceKeyTest, WrongLengthSignatureIsInvalidNotAnError) {
  TempDir dir;
  auto key = MustLoad(dir);
  ASSERT_TRUE(key);
  for (const std::string& signature : {std::string(), std::string(63, 'x'), std::string(65, 'x')}) {
    auto valid = VerifyEd25519(key->public_key_pem(), "m", signature);
    ASSERT_TRUE(valid.ok()) << valid.message();
    EXPECT_FALSE(*valid);
  }
}

TEST(DeviceKeyTest, UnusablePublicKeyIsAnErrorAndHasNoFingerprint) {
  auto garbage = VerifyEd25519("not a key", "m", std::string(64, 'x'));
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.message().find("not a PEM public key"), std::string::npos) << garbage.message();
  EXPECT_EQ(PublicKeyFingerprint(""), "");
  EXPECT_EQ(PublicKeyFingerprint("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            "");
}

TEST(DeviceKeyTest, RsaPublicKeyIsRefusedNamingItsType) {
  TempDir dir;
  auto made = RunCommand({"bash", "-c",
                          "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out '" +
                              (dir / "rsa.key") + "' && openssl pkey -in '" + (dir / "rsa.key") +
                              "' -pubout -out '" + (dir / "rsa.pub") + "'"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto pub = base::Env::Default()->ReadFile(dir / "rsa.pub");
  ASSERT_TRUE(pub.ok());
  auto valid = VerifyEd25519(*pub, "m", std::string(64, 'x'));
  ASSERT_FALSE(valid.ok());
  EXPECT_NE(valid.message().find("RSA"), std::string::npos) << valid.message();
  EXPECT_EQ(PublicKeyFingerprint(*pub), "");

  // The same key as the device's private key: refused, naming the file and the type.
  ASSERT_EQ(RunCommand({"mkdir", dir / "keys"}).exit_code, 0);
  ASSERT_EQ(RunCommand({"cp", dir / "rsa.key", dir / "keys/device.key"}).exit_code, 0);
  auto key = DeviceKey::LoadOrCreate(*base::Env::Default(), dir / "keys/device.key",
                                     dir / "device.pub.pem");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.message().find(dir / "keys/device.key"), std::string::npos) << key.message();
  EXPECT_NE(key.message().find("not Ed25519"), std::string::npos) << key.message();
}

TEST(DeviceKeyTest, CorruptKeyFileIsRefusedNamingThePathAndNotOverwritten) {
  TempDir dir;
  ASSERT_EQ(RunCommand({"mkdir", "-m", "700", dir / "keys"}).exit_code, 0);
  WriteTextFile(dir / "keys/device.key", "-----BEGIN PRIVATE KEY-----\nbroken\n");
  auto key = DeviceKey::LoadOrCreate(*base::Env::Default(), dir / "keys/device.key",
                                     dir / "device.pub.pem");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.message().find(dir / "keys/device.key"), std::string::npos) << key.message();
  EXPECT_NE(key.message().find("not a PEM private key"), std::string::npos) << key.message();
  // A damaged key must never be silently replaced: the old signatures would no longer verify.
  EXPECT_EQ(*base::Env::Default()->ReadFile(dir / "keys/device.key"),
            "-----BEGIN PRIVATE KEY-----\nbroken\n");
}

TEST(DeviceKeyTest, UnwritableKeyPlaceIsAnErrorNamingThePath) {
  TempDir dir;
  WriteTextFile(dir / "keys", "a file where the key directory should be");
  auto key = DeviceKey::LoadOrCreate(*base::Env::Default(), dir / "keys/device.key",
                                     dir / "device.pub.pem");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.message().find(dir / "keys"), std::string::npos) << key.message();
  EXPECT_NE(key.message().find("creating the device key"), std::string::npos) << key.message();
}

TEST(DeviceKeyTest, KeyReadableByOthersIsUsedWithAWarning) {
  TempDir dir;
  ASSERT_TRUE(MustLoad(dir));
  ASSERT_EQ(::chmod((dir / "keys/device.key").c_str(), 0644), 0);
  std::vector<std::string> warnings;
  base::SetLogSinkForTesting([&warnings](base::Severity severity, std::string_view message,
                                         std::initializer_list<base::LogField>) {
    if (severity == base::Severity::kWarning) warnings.emplace_back(message);
  });
  auto key = MustLoad(dir);
  base::SetLogSinkForTesting(nullptr);
  EXPECT_TRUE(key);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(dir / "keys/device.key"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("0644"), std::string::npos) << warnings[0];
}

TEST(DeviceKeyTest, FingerprintMatchesTheOpensslCommandInTheDocs) {
  TempDir dir;
  auto key = MustLoad(dir);
  ASSERT_TRUE(key);
  auto out = RunCommand({"bash", "-c",
                         "set -o pipefail; openssl pkey -pubin -in '" + (dir / "device.pub.pem") +
                             "' -outform DER | tail -c 32 | sha256sum | cut -d' ' -f1"});
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output, key->fingerprint() + "\n");
  EXPECT_EQ(PublicKeyFingerprint(key->public_key_pem()), key->fingerprint());
  EXPECT_EQ(key->fingerprint().size(), 64u);
}

TEST(DeviceKeyTest, OpensslPkeyutlVerifiesOurSignature) {
  TempDir dir;
  auto key = MustLoad(dir);
  ASSERT_TRUE(key);
  auto signature = key->Sign("hello seal\n");
  ASSERT_TRUE(signature.ok());
  WriteTextFile(dir / "msg", "hello seal\n");
  WriteTextFile(dir / "sig", *signature);
  auto out =
      RunCommand({"openssl", "pkeyutl", "-verify", "-pubin", "-inkey", dir / "device.pub.pem",
                  "-rawin", "-in", dir / "msg", "-sigfile", dir / "sig"});
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_NE(out.output.find("Signature Verified Successfully"), std::string::npos) << out.output;
}

TEST(DeviceKeyTest, FromPrivateKeyPemRejectsGarbageNamingTheSource) {
  auto key = DeviceKey::FromPrivateKeyPem("nonsense", "test-source");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.message().find("test-source"), std::string::npos) << key.message();
}

}  // namespace
}  // namespace patrolrec::storage
