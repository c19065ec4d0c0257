// Ed25519 through OpenSSL 3's EVP interface. Every OpenSSL failure is turned into a Status that
// names the file or operation and carries OpenSSL's own reason, and OpenSSL's thread-local error
// queue is left empty so that a later, unrelated call does not report a stale error.
#include "storage/device_key.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdio>

#include "base/log.h"
#include "storage/seal.h"

namespace patrolrec::storage {
namespace {

constexpr size_t kEd25519PublicKeyBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;

// Drains OpenSSL's error queue into one readable reason ("" if it was empty).
std::string OpenSslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

base::Status OpenSslError(const std::string& what) {
  std::string reason = OpenSslErrors();
  return base::Status::Error(what + (reason.empty() ? "" : ": " + reason));
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// Everything a memory BIO holds, as a string.
std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : std::string();
}

BioPtr ReadOnlyBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

base::Result<std::string> RawPublicKey(EVP_PKEY* key, const std::string& source) {
  std::string raw(kEd25519PublicKeyBytes, '\0');
  size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &size) != 1 ||
      size != kEd25519PublicKeyBytes) {
    return OpenSslError(source + ": cannot extract the raw Ed25519 public key");
  }
  return raw;
}

base::Result<std::string> PublicKeyPem(EVP_PKEY* key, const std::string& source) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    return OpenSslError(source + ": cannot encode the public key as PEM");
  }
  return BioContents(bio.get());
}

std::string KeyTypeName(EVP_PKEY* key) {
  const char* name = EVP_PKEY_get0_type_name(key);
  return name ? name : "of an unknown type";
}

base::Result<PkeyPtr> ParsePrivateKey(const std::string& pem, const std::string& source) {
  BioPtr bio = ReadOnlyBio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return OpenSslError(source + ": not a PEM private key");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return base::Status::Error(source + ": the key is " + KeyTypeName(key.get()) + ", not Ed25519");
  }
  return key;
}

base::Result<PkeyPtr> ParsePublicKey(const std::string& pem) {
  BioPtr bio = ReadOnlyBio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return OpenSslError("not a PEM public key");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return base::Status::Error("the public key is " + KeyTypeName(key.get()) + ", not Ed25519");
  }
  return key;
}

base::Result<PkeyPtr> GenerateKey() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return OpenSslError("cannot generate an Ed25519 key");
  return key;
}

base::Result<std::string> PrivateKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted: the appliance
  // must sign unattended, so the file's mode, not a passphrase, protects it.
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("cannot encode the private key as PEM");
  }
  return BioContents(bio.get());
}

// Private key text is not left behind in freed heap memory, where a core dump could show it.
void Wipe(std::string* secret) { OPENSSL_cleanse(secret->data(), secret->size()); }

// Env has no call that reports permission bits, so this one check uses stat(2) directly; it only
// reads metadata, and an Env that is not the real filesystem simply skips it.
void WarnIfReadableByOthers(const std::string& key_path) {
  struct stat st {};
  if (::stat(key_path.c_str(), &st) != 0) return;
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) == 0) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  base::LogWarning(key_path + ": the device's private key is accessible to group or others (mode " +
                       mode + "); anyone who read it can forge seals. Run chmod 600 on it and " +
                       "consider the key compromised",
                   {{"KEY_PATH", key_path}});
}

}  // namespace

DeviceKey::DeviceKey(EVP_PKEY* key, std::string public_key_pem, std::string raw_public_key)
    : key_(key),
      public_key_pem_(std::move(public_key_pem)),
      raw_public_key_(std::move(raw_public_key)) {}

DeviceKey::~DeviceKey() { EVP_PKEY_free(key_); }

base::Result<std::unique_ptr<DeviceKey>> DeviceKey::FromPrivateKeyPem(const std::string& pem,
                                                                      const std::string& source) {
  auto key = ParsePrivateKey(pem, source);
  if (!key.ok()) return key.status();
  auto raw = RawPublicKey(key->get(), source);
  if (!raw.ok()) return raw.status();
  auto public_pem = PublicKeyPem(key->get(), source);
  if (!public_pem.ok()) return public_pem.status();
  return std::unique_ptr<DeviceKey>(
      new DeviceKey(key->release(), std::move(*public_pem), std::move(*raw)));
}

base::Result<std::unique_ptr<DeviceKey>> DeviceKey::LoadOrCreate(
    base::Env& env, const std::string& key_path, const std::string& public_key_path) {
  std::unique_ptr<DeviceKey> device_key;
  if (env.Exists(key_path)) {
    auto pem = env.ReadFile(key_path);
    if (!pem.ok()) return pem.status().Wrap("reading the device key");
    auto loaded = FromPrivateKeyPem(*pem, key_path);
    Wipe(&*pem);
    if (!loaded.ok()) return loaded.status().Wrap("loading the device key");
    WarnIfReadableByOthers(key_path);
    device_key = std::move(*loaded);
  } else {
    auto generated = GenerateKey();
    if (!generated.ok()) return generated.status().Wrap(key_path);
    auto pem = PrivateKeyPem(generated->get());
    if (!pem.ok()) return pem.status().Wrap(key_path);
    base::Status s = env.CreateDirs(base::DirName(key_path), 0700);
    if (s.ok()) s = env.WriteFileDurably(key_path, *pem, 0600);
    if (!s.ok()) return s.Wrap("creating the device key " + key_path);
    auto made = FromPrivateKeyPem(*pem, key_path);
    Wipe(&*pem);
    if (!made.ok()) return made.status();
    device_key = std::move(*made);
    base::LogInfo("created a new device key; its public key is in " + public_key_path,
                  {{"KEY_PATH", key_path}, {"KEY_FINGERPRINT", device_key->fingerprint()}});
  }

  // Rewrite the public key only when it differs, so a read-only copy of the data still loads,
  // and a lost or damaged public key file is repaired at the next start.
  if (env.Exists(public_key_path)) {
    auto current = env.ReadFile(public_key_path);
    if (current.ok() && *current == device_key->public_key_pem()) return device_key;
  }
  base::Status s = env.CreateDirs(base::DirName(public_key_path), 0755);
  if (s.ok()) s = env.WriteFileDurably(public_key_path, device_key->public_key_pem(), 0644);
  if (!s.ok()) return s.Wrap("writing the device's public key " + public_key_path);
  return device_key;
}

base::Result<std::string> DeviceKey::Sign(const std::string& message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string signature(kEd25519SignatureBytes, '\0');
  size_t size = signature.size();
  // Ed25519 takes no digest (nullptr) and must be used one-shot (EVP_DigestSign).
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return OpenSslError("Ed25519 signing with the device key failed");
  }
  signature.resize(size);
  return signature;
}

std::string DeviceKey::fingerprint() const { return Sha256Hex(raw_public_key_); }

base::Result<bool> VerifyEd25519(const std::string& public_key_pem, const std::string& message,
                                 const std::string& signature) {
  auto key = ParsePublicKey(public_key_pem);
  if (!key.ok()) return key.status();
  if (signature.size() != kEd25519SignatureBytes) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return OpenSslError("cannot set up Ed25519 verification");
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size());
  // 0 and negative both mean "does not verify" for a well-formed key; OpenSSL queues a reason
  // either way, which must not leak into the next call.
  ERR_clear_error();
  return rc == 1;
}

std::string PublicKeyFingerprint(const std::string& public_key_pem) {
  auto key = ParsePublicKey(public_key_pem);
  if (!key.ok()) return "";
  auto raw = RawPublicKey(key->get(), "public key");
  if (!raw.ok()) return "";
  return Sha256Hex(*raw);
}

}  // namespace patrolrec::storage
