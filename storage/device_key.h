// The device's Ed25519 signing key, which makes every seal and chain head traceable to this
// recorder (R10). The private key lives in one PEM (PKCS#8) file readable only by the recorder;
// the matching public key is published beside the data as PEM SubjectPublicKeyInfo so that
// `patrolrec-verify` and `openssl pkeyutl` can check seals offline.
//
// Invariant: once a DeviceKey exists, its private key is on disk durably and the public key file
// holds exactly the matching public key, so no signature is ever made that the published key
// cannot verify.
#pragma once

#include <memory>
#include <string>

#include "base/env.h"
#include "base/status.h"

// OpenSSL's key type, declared here so that users of this header need not include OpenSSL.
typedef struct evp_pkey_st EVP_PKEY;

namespace patrolrec::storage {

class DeviceKey {
 public:
  // Loads the PEM (PKCS#8) private key at `key_path`, or, if there is no file there, generates
  // one and writes it durably with mode 0600 (its directory is created with mode 0700). Then
  // (re)writes `public_key_path` (PEM SubjectPublicKeyInfo, mode 0644) unless it already holds the
  // matching public key. A key file readable by group or others is used, with a warning in the
  // log: refusing it would stop recording, which R4 forbids, and the harm (a readable key) has
  // already happened. Errors name the path and why.
  static base::Result<std::unique_ptr<DeviceKey>> LoadOrCreate(base::Env& env,
                                                               const std::string& key_path,
                                                               const std::string& public_key_path);
  // Wraps a PEM private key held in memory (for tests and tools); `source` names it in errors.
  static base::Result<std::unique_ptr<DeviceKey>> FromPrivateKeyPem(const std::string& pem,
                                                                    const std::string& source);

  ~DeviceKey();
  DeviceKey(const DeviceKey&) = delete;
  DeviceKey& operator=(const DeviceKey&) = delete;

  // The raw 64-byte Ed25519 signature of `message` (PureEdDSA: the message itself, not a hash of
  // it, is signed, which is what `openssl pkeyutl -rawin` verifies). Thread-safe.
  base::Result<std::string> Sign(const std::string& message) const;
  // PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"), with its final newline.
  const std::string& public_key_pem() const { return public_key_pem_; }
  // Lower-hex SHA-256 of the raw 32-byte public key; what a person compares by eye or phone.
  std::string fingerprint() const;

 private:
  DeviceKey(EVP_PKEY* key, std::string public_key_pem, std::string raw_public_key);
  EVP_PKEY* key_;
  std::string public_key_pem_;
  std::string raw_public_key_;
};

// Checks an Ed25519 signature: ok(true) = valid, ok(false) = not a valid signature of `message`
// by that key (including a signature of the wrong length); an error when the key is unusable
// (not PEM, not Ed25519).
base::Result<bool> VerifyEd25519(const std::string& public_key_pem, const std::string& message,
                                 const std::string& signature);

// Lower-hex SHA-256 of the raw 32-byte key in a PEM Ed25519 public key; "" if it cannot be
// parsed. Same value as DeviceKey::fingerprint() and as
//   openssl pkey -pubin -in device.pub.pem -outform DER | tail -c 32 | sha256sum
std::string PublicKeyFingerprint(const std::string& public_key_pem);

}  // namespace patrolrec::storage
