// One set of rules for every record that enters the pipeline, shared by each
// place that takes one in: the edge agent, POST /v1/scans, the inference
// worker, the store writer and both store backends. What passes here, SQLite
// and PostgreSQL both store the same way, and the API can print as JSON.
// Each check returns InvalidArgument naming the field and what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include "common/clock.h"
#include "common/status.h"
#include "common/volume.h"
#include "ovoflow/v1/egg_scan.pb.h"
#include "ovoflow/v1/model.pb.h"
#include "ovoflow/v1/prediction.pb.h"

namespace ovoflow {

// ---- limits (bytes unless named otherwise)
inline constexpr std::size_t kMaxEggIdBytes = 128;
inline constexpr std::size_t kMaxTenantIdBytes = 64;
inline constexpr std::size_t kMaxNameBytes = 128;         // scanner_id, tray_id, worker_id
inline constexpr std::size_t kMaxRegistryNameBytes = 64;  // model name, model version
// A Kafka key on the pipeline's topics (an egg id, a role): larger keys are
// dead-lettered.
inline constexpr std::size_t kMaxKeyBytes = 256;
// A serialized EggScan: the largest volume ScanLimits allows (8 MiB) and
// room for the identity fields. Larger messages are refused or dead-lettered.
inline constexpr std::size_t kMaxScanMessageBytes = (8u << 20) + (64u << 10);
// A serialized Prediction (a few hundred bytes in practice).
inline constexpr std::size_t kMaxPredictionMessageBytes = 64u << 10;
// Chicken eggs hatch on day 21; 0 means "not stated".
inline constexpr uint32_t kMaxIncubationDay = 21;

// ---- text

// Length of the valid UTF-8 sequence at s[i], or 0 when there is none
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i);
bool IsValidUtf8(std::string_view s);
// `s` with each byte that starts no valid UTF-8 sequence replaced by U+FFFD:
// text that can always be printed in JSON or a log line.
std::string SanitizeUtf8(std::string_view s);

// Printable text: valid UTF-8 without control characters (C0, DEL, C1), at
// most `max_bytes`; empty only when not `required`.
Status CheckText(std::string_view field, std::string_view value, std::size_t max_bytes, bool required);
// A tenant id: 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter
// or digit (it appears in URLs, claims and database policies).
Status CheckTenantId(std::string_view field, std::string_view value);
// A model registry name or version: 1-64 characters of A-Z a-z 0-9 . _ -,
// not starting with '.' (it is also a directory name).
Status CheckRegistryName(std::string_view field, std::string_view value);
// A time both stores can hold as int64 nanoseconds since the Unix epoch:
// 1677-09-21T00:12:44Z to 2262-04-11T23:47:15Z, nanos in 0..999,999,999.
Status CheckTimestamp(std::string_view field, const google::protobuf::Timestamp& ts);
// A Kafka key of the pipeline's topics: at most kMaxKeyBytes.
Status CheckKey(std::string_view key);
// InvalidArgument naming the first field of `message` (or of a message in
// it) that its schema does not know: such bytes would travel unchecked.
Status CheckNoUnknownFields(const google::protobuf::Message& message);

// captured_at at most `max_future_skew_s` ahead of `now_unix_ns` (negative:
// anything goes). InvalidArgument says by how much it is ahead.
Status CheckNotInFuture(std::string_view field, const google::protobuf::Timestamp& ts, int64_t now_unix_ns,
                        int64_t max_future_skew_s);

// ---- records

// An EggScan: egg_id, tenant_id, scanner_id and tray_id as above,
// captured_at present, representable and not more than
// limits.max_future_skew_s ahead of `clock`, incubation_day <= 21, scan_id
// and line_id printable, a deadline (when set) representable and not before
// captured_at, and the volume: geometry, channels, dtype, encoding, the
// (decoded) data size, and for float volumes that every voxel is finite.
Status ValidateScan(const v1::EggScan& scan, const ScanLimits& limits = {}, const Clock& clock = SystemClock());
// A volume the model with this input spec can score: the same dimensions
// and number of channels (other dtypes are converted).
Status CheckModelInput(const v1::Volume& volume, const v1::InputSpec& input);
// A Prediction as the store writes it: the ids as for scans, model name and
// version registry names, sex and decision specified, p_female and both
// thresholds finite and in [0, 1], incubation_day <= 21, captured_at present
// and every stage time representable, scan_id and line_id printable, a
// deadline (when set) representable.
Status ValidatePrediction(const v1::Prediction& prediction);

}  // namespace ovoflow
