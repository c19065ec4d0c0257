// Sealing: the SHA-256 of a segment file, the per-camera hash chain, the Ed25519 signature, and
// their text encodings (the `<segment>.mp4.seal` sidecar and the per-camera `chain-head`).
// docs/seal-format.md specifies the format and how to check it with standard shell tools.
//
// Invariant: the bytes written are exactly the bytes hashed and signed, and parsing accepts only
// what formatting produces (FormatSealFile(*ParseSealFile(t)) == t), so a verifier that re-formats
// a parsed seal checks the same bytes that `head -n 19 X.seal | sha256sum` checks.
#pragma once

#include <cstdint>
#include <string>

#include "base/env.h"
#include "base/status.h"
#include "storage/device_key.h"
#include "storage/segment_record.h"

namespace patrolrec::storage {

// Line 1 of every seal file of this version. Version 1 (no time trust, no track) was written only
// by development builds and is refused, not read.
inline constexpr char kSealMagic[] = "patrolrec-seal 2";
// Line 1 of every chain-head file of this version.
inline constexpr char kChainHeadMagic[] = "patrolrec-chain-head 1";
// A seal file has 21 lines; the chain hashes lines 1..19, the signature covers lines 1..20.
inline constexpr int kSealLines = 21;
inline constexpr int kSealBodyLines = 19;
inline constexpr int kSealSignedLines = 20;

// Lower-hex SHA-256 of a whole file, read in 1 MiB chunks through `env`. Errors name the path.
base::Result<std::string> Sha256File(base::Env& env, const std::string& path);
// Lower-hex SHA-256 of `data`.
std::string Sha256Hex(const std::string& data);
// True for exactly 64 lower-case hex digits (how every hash in seals is written).
bool IsSha256Hex(const std::string& text);

// Standard base64 (RFC 4648 section 4) with padding and no line breaks, as `base64 -w0` writes.
std::string Base64Encode(const std::string& data);
// Strict inverse of Base64Encode: rejects other alphabets, missing padding, whitespace and
// non-canonical trailing bits, so one signature has exactly one text form.
base::Result<std::string> Base64Decode(const std::string& text);

// Lines 1..19 of the seal, through "prev_chain=...\n": the bytes that `chain` is the SHA-256 of.
std::string FormatSealBody(const SegmentRecord& r);
// Lines 1..20 (body plus "chain=...\n"): the bytes the signature covers.
std::string FormatSealSignedText(const SegmentRecord& r);
// Computes r->chain_hex and r->signature_b64 from all the other fields, which the caller sets
// (prev_chain_hex included: kGenesisChainHex for a camera's first segment). Fails, changing
// nothing, if a field could not be written or parsed back (bad id, hash, time, state, ...).
base::Status SealRecord(SegmentRecord* r, const DeviceKey& key);
// The whole sidecar text (21 lines, each ending in '\n').
std::string FormatSealFile(const SegmentRecord& r);
// Strict parse: exact line order, known keys, valid values, final newline. Errors say which line
// and key is wrong and why. Checks syntax only: the chain and signature are the verifier's job.
base::Result<SegmentRecord> ParseSealFile(const std::string& text);
// Writes the sidecar durably (temporary file, fsync, rename, fsync of the directory).
base::Status WriteSeal(base::Env& env, const std::string& seal_path, const SegmentRecord& r);

// The newest seal of a camera, signed again on its own. Seals only link backwards, so deleting
// the newest segments with their seals leaves a valid shorter chain; the chain head, rewritten
// after each seal, remembers how far the chain reached.
struct ChainHead {
  std::string device_id;
  std::string camera;
  int64_t sequence = 0;       // sequence of the newest sealed segment
  std::string chain_hex;      // that segment's chain value
  std::string signature_b64;  // Ed25519 over FormatChainHeadBody
};

// Relative path of a camera's chain head inside the data directory: segments/<camera>/chain-head.
std::string ChainHeadPath(const std::string& camera);
// A signed head naming `last` (which must be sealed already).
base::Result<ChainHead> MakeChainHead(const SegmentRecord& last, const DeviceKey& key);
// Lines 1..5 (through "chain=...\n"): the bytes the head's signature covers.
std::string FormatChainHeadBody(const ChainHead& head);
// The whole file (6 lines, each ending in '\n').
std::string FormatChainHead(const ChainHead& head);
// Strict parse, like ParseSealFile; the signature is not checked here.
base::Result<ChainHead> ParseChainHead(const std::string& text);
// Writes the head durably; `path` is normally data_dir + "/" + ChainHeadPath(camera).
base::Status WriteChainHead(base::Env& env, const std::string& path, const ChainHead& head);

}  // namespace patrolrec::storage
