// The edge agent's DICOM listener: a C-STORE service class provider (SCP) on
// DCMTK for MR Image Storage and Enhanced MR Image Storage, uncompressed
// transfer syntaxes, one thread per association (up to max_associations),
// an allow-list of calling AE titles and optional TLS (docs/edge.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "edge/dicom/dicom_instance.h"
#include "edge/dicom/tag_map.h"

namespace ovoflow::edge {

// Receives every image the listener read. Thread-safe: called on the
// associations' threads at once.
class InstanceSink {
 public:
  virtual ~InstanceSink() = default;
  // `read`: the image, or why it cannot be used (then `dataset` may be
  // empty). `dataset`: the image as Explicit VR Little Endian bytes (what
  // the spool keeps). Returns the C-STORE status the scanner gets: success
  // only once the image is safe on disk.
  virtual uint16_t OnInstance(const std::string& calling_ae, ReadResult read, std::string dataset) = 0;
};

struct StorageScpOptions {
  std::string ae_title = "OVOFLOW";          // the agent's AE title (called AE)
  uint16_t port = 11112;                     // TCP port
  std::vector<std::string> allowed_calling;  // calling AE titles let in; empty: any
  int max_associations = 16;                 // at once; more are rejected (transient)
  uint32_t acse_timeout_s = 30;              // association negotiation, s
  uint32_t dimse_timeout_s = 60;             // between messages of an association, s
  uint32_t max_pdu_bytes = 131072;           // largest PDU received, bytes
  // TLS (DICOM over TLS, PS3.15 B.1): all three files or none. Clients must
  // present a certificate that tls_ca signed.
  std::string tls_certificate;  // PEM
  std::string tls_private_key;  // PEM
  std::string tls_ca;           // PEM: the CA of the scanners' certificates
  TagMap tag_map;
  ReadLimits limits;
};

struct StorageScpStats {
  uint64_t associations = 0;          // accepted
  uint64_t associations_refused = 0;  // calling AE not allowed, too many, bad negotiation
  uint64_t instances = 0;             // C-STORE requests answered
};

class StorageScp {
 public:
  ~StorageScp();  // Stop()
  // Binds the port and starts accepting; `sink` must outlive the listener.
  static Result<std::unique_ptr<StorageScp>> Start(const StorageScpOptions& options, InstanceSink* sink);
  // Stops accepting, waits for the open associations to end (at most their
  // DIMSE timeout), joins every thread.
  void Stop();
  StorageScpStats stats() const;

 private:
  StorageScp() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::edge
