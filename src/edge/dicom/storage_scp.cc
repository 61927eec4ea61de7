#include "edge/dicom/storage_scp.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scpthrd.h>
#include <dcmtk/dcmtls/tlslayer.h>
#include <dcmtk/oflog/oflog.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <list>
#include <mutex>
#include <thread>

#include "edge/dicom/dicom_dataset.h"

namespace ovoflow::edge {
namespace {

// One association: DCMTK's threaded SCP, answering C-STORE through the sink.
class AssociationScp final : public DcmThreadSCP {
 public:
  AssociationScp(const StorageScpOptions& options, InstanceSink* sink, std::atomic<uint64_t>* instances,
                 std::atomic<uint64_t>* refused)
      : options_(options), sink_(sink), instances_(instances), refused_(refused) {}

 protected:
  OFBool checkCallingAETitleAccepted(const OFString& calling) override {
    if (options_.allowed_calling.empty()) return OFTrue;
    const std::string ae(calling.c_str());
    if (std::find(options_.allowed_calling.begin(), options_.allowed_calling.end(), ae) !=
        options_.allowed_calling.end())
      return OFTrue;
    spdlog::warn("edge: association from calling AE '{}' refused: not in the allow-list", ae);
    refused_->fetch_add(1);
    return OFFalse;
  }

  OFBool checkCalledAETitleAccepted(const OFString& called) override {
    if (std::string(called.c_str()) == options_.ae_title) return OFTrue;
    spdlog::warn("edge: association for called AE '{}' refused: this agent is '{}'", called.c_str(), options_.ae_title);
    refused_->fetch_add(1);
    return OFFalse;
  }

  OFCondition handleIncomingCommand(T_DIMSE_Message* message, const DcmPresentationContextInfo& info) override {
    if (message->CommandField != DIMSE_C_STORE_RQ) return DcmThreadSCP::handleIncomingCommand(message, info);
    DcmDataset* dataset = nullptr;
    const OFCondition c = handleSTORERequest(message->msg.CStoreRQ, info.presentationContextID, dataset);
    delete dataset;  // NOLINT(cppcoreguidelines-owning-memory): DCMTK hands the received dataset over
    return c;
  }

  Uint16 checkSTORERequest(T_DIMSE_C_StoreRQ& request, DcmDataset* dataset) override {
    instances_->fetch_add(1);
    if (dataset == nullptr) return kDicomCannotUnderstand;
    ReadResult read = dicom_internal::ReadDataset(*dataset, options_.tag_map, options_.limits);
    std::string bytes;
    if (read.instance) {
      auto serialized = dicom_internal::SerializeDataset(*dataset);
      if (!serialized.ok()) {
        read = ReadResult{std::nullopt, DicomRejection{kDicomCannotUnderstand, serialized.status().message()}};
      } else {
        bytes = std::move(serialized).value();
      }
    }
    if (read.rejection) read.rejection->sop_instance_uid = request.AffectedSOPInstanceUID;
    return sink_->OnInstance(getPeerAETitle().c_str(), std::move(read), std::move(bytes));
  }

 private:
  const StorageScpOptions& options_;
  InstanceSink* sink_;
  std::atomic<uint64_t>* instances_;
  std::atomic<uint64_t>* refused_;
};

}  // namespace

struct StorageScp::Impl {
  StorageScpOptions options;
  InstanceSink* sink = nullptr;
  T_ASC_Network* network = nullptr;
  std::unique_ptr<DcmTLSTransportLayer> tls;
  DcmSharedSCPConfig shared;
  std::atomic<bool> stop{false};
  std::thread acceptor;
  std::atomic<uint64_t> associations{0}, refused{0}, instances{0};
  std::mutex mu;
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::list<Worker> workers;  // GUARDED_BY(mu)

  void Reap(bool all) {
    std::list<Worker> finished;
    {
      std::lock_guard lock(mu);
      for (auto it = workers.begin(); it != workers.end();) {
        if (all || it->done->load()) {
          finished.splice(finished.end(), workers, it++);
        } else {
          ++it;
        }
      }
    }
    for (Worker& w : finished) w.thread.join();
  }

  std::size_t Active() {
    std::lock_guard lock(mu);
    return static_cast<std::size_t>(
        std::count_if(workers.begin(), workers.end(), [](const Worker& w) { return !w.done->load(); }));
  }

  void Reject(T_ASC_Association* assoc) {
    T_ASC_RejectParameters rej{ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
                               ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED};
    (void)ASC_rejectAssociation(assoc, &rej);
    (void)ASC_dropAssociation(assoc);
    (void)ASC_destroyAssociation(&assoc);
    refused.fetch_add(1);
  }

  void Accept() {
    const bool secure = tls != nullptr;
    while (!stop.load()) {
      T_ASC_Association* assoc = nullptr;
      const OFCondition c = ASC_receiveAssociation(network, &assoc, static_cast<long>(options.max_pdu_bytes), nullptr,
                                                   nullptr, secure ? OFTrue : OFFalse, DUL_NOBLOCK, 1);
      Reap(false);
      if (c == DUL_NOASSOCIATIONREQUEST) {
        (void)ASC_destroyAssociation(&assoc);
        continue;
      }
      if (c.bad()) {
        spdlog::warn("edge: receiving an association failed: {}", c.text());
        if (assoc != nullptr) {
          (void)ASC_dropAssociation(assoc);
          (void)ASC_destroyAssociation(&assoc);
        }
        continue;
      }
      if (Active() >= static_cast<std::size_t>(options.max_associations)) {
        spdlog::warn("edge: association refused: {} open already (max_associations)", options.max_associations);
        Reject(assoc);
        continue;
      }
      associations.fetch_add(1);
      auto done = std::make_shared<std::atomic<bool>>(false);
      std::lock_guard lock(mu);
      workers.push_back(Worker{std::thread([this, assoc, done] {
                                 AssociationScp scp(options, sink, &instances, &refused);
                                 (void)scp.setSharedConfig(shared);
                                 const OFCondition rc = scp.run(assoc);
                                 if (rc.bad()) spdlog::debug("edge: association ended: {}", rc.text());
                                 done->store(true);
                               }),
                               done});
    }
  }
};

StorageScp::~StorageScp() { Stop(); }

Result<std::unique_ptr<StorageScp>> StorageScp::Start(const StorageScpOptions& options, InstanceSink* sink) {
  if (sink == nullptr) return Status::InvalidArgument("storage SCP: no sink");
  if (options.ae_title.empty() || options.ae_title.size() > 16)
    return Status::InvalidArgument("storage SCP: the AE title must be 1-16 characters");
  if (options.max_associations < 1) return Status::InvalidArgument("storage SCP: max_associations must be >= 1");
  const bool tls_files =
      !options.tls_certificate.empty() || !options.tls_private_key.empty() || !options.tls_ca.empty();
  if (tls_files && (options.tls_certificate.empty() || options.tls_private_key.empty() || options.tls_ca.empty()))
    return Status::InvalidArgument("storage SCP: TLS needs a certificate, its private key and the scanners' CA");
  std::unique_ptr<StorageScp> scp(new StorageScp());
  scp->impl_ = std::make_unique<Impl>();
  Impl& im = *scp->impl_;
  im.options = options;
  im.sink = sink;

  DcmSCPConfig config;
  config.setAETitle(options.ae_title.c_str());
  config.setPort(options.port);
  config.setRespondWithCalledAETitle(OFFalse);
  config.setHostLookupEnabled(OFFalse);
  config.setACSETimeout(options.acse_timeout_s);
  config.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  config.setDIMSETimeout(options.dimse_timeout_s);
  config.setMaxReceivePDULength(options.max_pdu_bytes);
  OFList<OFString> xfers;
  xfers.push_back(UID_LittleEndianExplicitTransferSyntax);
  xfers.push_back(UID_LittleEndianImplicitTransferSyntax);
  xfers.push_back(UID_BigEndianExplicitTransferSyntax);
  xfers.push_back(UID_DeflatedExplicitVRLittleEndianTransferSyntax);
  for (const char* sop : {kMrImageStorage, kEnhancedMrImageStorage})
    if (OFCondition c = config.addPresentationContext(sop, xfers); c.bad())
      return Status::Internal(std::string("storage SCP: presentation context: ") + c.text());
  OFList<OFString> echo_xfers;
  echo_xfers.push_back(UID_LittleEndianImplicitTransferSyntax);
  (void)config.addPresentationContext(UID_VerificationSOPClass, echo_xfers);
  im.shared = DcmSharedSCPConfig(config);

  if (OFCondition c =
          ASC_initializeNetwork(NET_ACCEPTOR, options.port, static_cast<int>(options.acse_timeout_s), &im.network);
      c.bad())
    return Status::Unavailable("storage SCP: cannot listen on port " + std::to_string(options.port) + ": " + c.text());
  if (tls_files) {
    im.tls = std::make_unique<DcmTLSTransportLayer>(NET_ACCEPTOR, nullptr, OFTrue);
    auto fail = [&](const std::string& what, const OFCondition& c) {
      (void)ASC_dropNetwork(&im.network);
      return Status::InvalidArgument("storage SCP TLS: " + what + ": " + c.text());
    };
    if (OFCondition c = im.tls->setTLSProfile(TSP_Profile_BCP195_ND); c.bad()) return fail("profile", c);
    if (OFCondition c = im.tls->activateCipherSuites(); c.bad()) return fail("cipher suites", c);
    if (OFCondition c = im.tls->setPrivateKeyFile(options.tls_private_key.c_str(), DCF_Filetype_PEM); c.bad())
      return fail("private key " + options.tls_private_key, c);
    if (OFCondition c = im.tls->setCertificateFile(options.tls_certificate.c_str(), DCF_Filetype_PEM); c.bad())
      return fail("certificate " + options.tls_certificate, c);
    if (!im.tls->checkPrivateKeyMatchesCertificate())
      return fail("the private key does not match the certificate", EC_IllegalParameter);
    if (OFCondition c = im.tls->addTrustedCertificateFile(options.tls_ca.c_str(), DCF_Filetype_PEM); c.bad())
      return fail("CA " + options.tls_ca, c);
    im.tls->setCertificateVerification(DCV_requireCertificate);
    if (OFCondition c = ASC_setTransportLayer(im.network, im.tls.get(), 0); c.bad()) return fail("transport", c);
  }
  // DCMTK's own log: warnings and errors only (the agent logs each association's outcome).
  OFLog::configure(OFLogger::WARN_LOG_LEVEL);
  im.acceptor = std::thread([&im] { im.Accept(); });
  spdlog::info("edge: DICOM storage SCP '{}' on port {}{}", options.ae_title, options.port, tls_files ? " (TLS)" : "");
  return scp;
}

void StorageScp::Stop() {
  if (!impl_ || impl_->stop.exchange(true)) return;
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
  impl_->Reap(true);
  if (impl_->network != nullptr) (void)ASC_dropNetwork(&impl_->network);
}

StorageScpStats StorageScp::stats() const {
  return StorageScpStats{impl_->associations.load(), impl_->refused.load(), impl_->instances.load()};
}

}  // namespace ovoflow::edge
