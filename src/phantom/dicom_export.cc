#include "phantom/dicom_export.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>

#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "common/env.h"
#include "common/volume.h"

namespace ovoflow::phantom {
namespace {

constexpr const char* kMrImageStorage = UID_MRImageStorage;
constexpr const char* kEnhancedMrImageStorage = UID_EnhancedMRImageStorage;

std::string NewUid(const char* root) {
  char buf[100];
  dcmGenerateUniqueIdentifier(buf, root);
  return buf;
}

std::string Ds(double v) {
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// DICOM DA, TM and DT of a unix time in UTC.
struct DicomTime {
  std::string da, tm, dt;
};
DicomTime ToDicomTime(int64_t unix_ns) {
  const int64_t s = unix_ns >= 0 ? unix_ns / 1'000'000'000 : (unix_ns - 999'999'999) / 1'000'000'000;
  const auto micros = static_cast<long>((unix_ns - s * 1'000'000'000) / 1000);
  const auto t = static_cast<std::time_t>(s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char da[48], tmv[64];
  (void)std::snprintf(da, sizeof da, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  (void)std::snprintf(tmv, sizeof tmv, "%02d%02d%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  return {da, tmv, std::string(da) + tmv + "+0000"};
}

Status Check(const OFCondition& c, const char* what) {
  if (c.good()) return Status::Ok();
  return Status::Internal(std::string("DICOM export: ") + what + ": " + c.text());
}

// The attributes every instance of the series carries.
Status PutCommon(DcmDataset& ds, const v1::Volume& v, const DicomSeriesInfo& info, const std::string& study_uid,
                 const std::string& series_uid, const std::string& frame_uid, const DicomTime& when) {
  char age[8];
  (void)std::snprintf(age, sizeof age, "%03uD", info.incubation_day);
  const std::string position = std::to_string(info.tray_position);
  const std::pair<DcmTagKey, std::string> strings[] = {
      {DCM_StudyInstanceUID, study_uid},
      {DCM_SeriesInstanceUID, series_uid},
      {DCM_FrameOfReferenceUID, frame_uid},
      {DCM_Modality, "MR"},
      {DCM_Manufacturer, "ovoflow phantom"},
      {DCM_StationName, info.station_name},
      {DCM_PatientName, info.egg_id},
      {DCM_PatientID, info.egg_id},
      {DCM_PatientAge, age},
      {DCM_AccessionNumber, info.tray_id},
      {DCM_StudyID, position},
      {DCM_StudyDate, when.da},
      {DCM_StudyTime, when.tm},
      {DCM_SeriesDate, when.da},
      {DCM_SeriesTime, when.tm},
      {DCM_AcquisitionDate, when.da},
      {DCM_AcquisitionTime, when.tm},
      {DCM_AcquisitionDateTime, when.dt},
      {DCM_TimezoneOffsetFromUTC, "+0000"},
      {DCM_SeriesNumber, "1"},
      {DCM_PhotometricInterpretation, "MONOCHROME2"},
      {DCM_ScanningSequence, "SE"},
      {DCM_SequenceVariant, "NONE"},
      {DCM_ScanOptions, ""},
      {DCM_MRAcquisitionType, "3D"},
      {DCM_BodyPartExamined, "EGG"},
  };
  for (const auto& [key, value] : strings)
    OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(key, value.c_str()), "string attribute"));
  const std::pair<DcmTagKey, Uint16> words[] = {
      {DCM_SamplesPerPixel, 1},
      {DCM_Rows, static_cast<Uint16>(v.dim_y())},
      {DCM_Columns, static_cast<Uint16>(v.dim_x())},
      {DCM_BitsAllocated, 16},
      {DCM_BitsStored, 16},
      {DCM_HighBit, 15},
      {DCM_PixelRepresentation, 0},
  };
  for (const auto& [key, value] : words) OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertUint16(key, value), "word"));
  return Status::Ok();
}

Result<std::string> ToPart10(DcmFileFormat& file) {
  const E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  OVOFLOW_RETURN_IF_ERROR(Check(file.validateMetaInfo(xfer), "meta header"));
  const Uint32 length = file.calcElementLength(xfer, EET_ExplicitLength) + 1024;
  std::string out(length, '\0');
  DcmOutputBufferStream stream(out.data(), static_cast<offile_off_t>(out.size()));
  file.transferInit();
  const OFCondition c = file.write(stream, xfer, EET_ExplicitLength, nullptr);
  file.transferEnd();
  OVOFLOW_RETURN_IF_ERROR(Check(c, "writing"));
  void* buffer = nullptr;
  offile_off_t written = 0;
  stream.flushBuffer(buffer, written);
  out.resize(static_cast<std::size_t>(written));
  return out;
}

}  // namespace

Result<std::vector<std::string>> MakeDicomSeries(const v1::Volume& volume, const DicomSeriesInfo& info) {
  if (volume.channels_size() < 1 || (volume.dtype() != v1::DTYPE_UINT8 && volume.dtype() != v1::DTYPE_UINT16))
    return Status::InvalidArgument("DICOM export: the volume must have a uint8 or uint16 channel");
  if (volume.dim_x() > 65535 || volume.dim_y() > 65535 || volume.dim_z() == 0)
    return Status::InvalidArgument("DICOM export: dimensions out of range");
  ScanLimits limits;
  limits.max_plain_bytes = 1u << 30;
  limits.max_dim = 4096;
  std::string storage;
  OVOFLOW_ASSIGN_OR_RETURN(const std::string* plain, PlainVoxelsRef(volume, &storage, limits));
  const std::size_t plane = std::size_t{volume.dim_x()} * volume.dim_y();
  const std::size_t voxels = plane * volume.dim_z();
  std::vector<Uint16> pixels(voxels);
  if (volume.dtype() == v1::DTYPE_UINT8) {
    for (std::size_t i = 0; i < voxels; ++i) pixels[i] = static_cast<uint8_t>((*plain)[i]);
  } else {
    std::memcpy(pixels.data(), plain->data(), voxels * 2);
  }
  const std::string study_uid = NewUid(SITE_STUDY_UID_ROOT);
  const std::string series_uid =
      info.series_instance_uid.empty() ? NewUid(SITE_SERIES_UID_ROOT) : info.series_instance_uid;
  const std::string frame_uid = NewUid(SITE_INSTANCE_UID_ROOT);
  const DicomTime when = ToDicomTime(info.captured_at_ns);
  const std::string spacing = Ds(volume.spacing_y_mm()) + "\\" + Ds(volume.spacing_x_mm());
  const std::string thickness = Ds(volume.spacing_z_mm());
  auto position = [&](uint32_t z) {
    return std::string("0\\0\\") + Ds(static_cast<double>(z) * volume.spacing_z_mm());
  };
  std::vector<std::string> files;
  if (info.layout == DicomLayout::kSingleFrame) {
    for (uint32_t z = 0; z < volume.dim_z(); ++z) {
      DcmFileFormat file;
      DcmDataset& ds = *file.getDataset();
      OVOFLOW_RETURN_IF_ERROR(PutCommon(ds, volume, info, study_uid, series_uid, frame_uid, when));
      const std::string sop = NewUid(SITE_INSTANCE_UID_ROOT);
      OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_SOPClassUID, kMrImageStorage), "SOP class"));
      OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_SOPInstanceUID, sop.c_str()), "SOP instance"));
      OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_InstanceNumber, std::to_string(z + 1).c_str()), "n"));
      OVOFLOW_RETURN_IF_ERROR(
          Check(ds.putAndInsertString(DCM_ImagesInAcquisition, std::to_string(volume.dim_z()).c_str()), "count"));
      OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0"), "IOP"));
      OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_ImagePositionPatient, position(z).c_str()), "IPP"));
      OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_PixelSpacing, spacing.c_str()), "spacing"));
      OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_SliceThickness, thickness.c_str()), "thickness"));
      OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_RescaleSlope, "1"), "slope"));
      OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_RescaleIntercept, "0"), "intercept"));
      OVOFLOW_RETURN_IF_ERROR(
          Check(ds.putAndInsertUint16Array(DCM_PixelData, pixels.data() + z * plane, static_cast<unsigned long>(plane)),
                "pixels"));
      OVOFLOW_ASSIGN_OR_RETURN(std::string bytes, ToPart10(file));
      files.push_back(std::move(bytes));
    }
    return files;
  }
  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  OVOFLOW_RETURN_IF_ERROR(PutCommon(ds, volume, info, study_uid, series_uid, frame_uid, when));
  const std::string sop = NewUid(SITE_INSTANCE_UID_ROOT);
  OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_SOPClassUID, kEnhancedMrImageStorage), "SOP class"));
  OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_SOPInstanceUID, sop.c_str()), "SOP instance"));
  OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_InstanceNumber, "1"), "n"));
  OVOFLOW_RETURN_IF_ERROR(Check(ds.putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\T2\\NONE"), "type"));
  OVOFLOW_RETURN_IF_ERROR(
      Check(ds.putAndInsertString(DCM_NumberOfFrames, std::to_string(volume.dim_z()).c_str()), "frames"));
  DcmItem* shared = nullptr;
  OVOFLOW_RETURN_IF_ERROR(Check(ds.findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared), "shared"));
  DcmItem* item = nullptr;
  OVOFLOW_RETURN_IF_ERROR(Check(shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, item), "measures"));
  OVOFLOW_RETURN_IF_ERROR(Check(item->putAndInsertString(DCM_PixelSpacing, spacing.c_str()), "spacing"));
  OVOFLOW_RETURN_IF_ERROR(Check(item->putAndInsertString(DCM_SliceThickness, thickness.c_str()), "thickness"));
  OVOFLOW_RETURN_IF_ERROR(Check(shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, item), "orient"));
  OVOFLOW_RETURN_IF_ERROR(Check(item->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0"), "IOP"));
  OVOFLOW_RETURN_IF_ERROR(
      Check(shared->findOrCreateSequenceItem(DCM_PixelValueTransformationSequence, item), "transformation"));
  OVOFLOW_RETURN_IF_ERROR(Check(item->putAndInsertString(DCM_RescaleSlope, "1"), "slope"));
  OVOFLOW_RETURN_IF_ERROR(Check(item->putAndInsertString(DCM_RescaleIntercept, "0"), "intercept"));
  OVOFLOW_RETURN_IF_ERROR(Check(item->putAndInsertString(DCM_RescaleType, "US"), "rescale type"));
  for (uint32_t z = 0; z < volume.dim_z(); ++z) {
    DcmItem* frame = nullptr;
    OVOFLOW_RETURN_IF_ERROR(
        Check(ds.findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, static_cast<long>(z)), "frame"));
    OVOFLOW_RETURN_IF_ERROR(Check(frame->findOrCreateSequenceItem(DCM_PlanePositionSequence, item), "position"));
    OVOFLOW_RETURN_IF_ERROR(Check(item->putAndInsertString(DCM_ImagePositionPatient, position(z).c_str()), "IPP"));
    OVOFLOW_RETURN_IF_ERROR(Check(frame->findOrCreateSequenceItem(DCM_FrameContentSequence, item), "content"));
    OVOFLOW_RETURN_IF_ERROR(Check(item->putAndInsertUint32(DCM_InStackPositionNumber, z + 1), "stack position"));
  }
  OVOFLOW_RETURN_IF_ERROR(
      Check(ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(voxels)), "pixels"));
  OVOFLOW_ASSIGN_OR_RETURN(std::string bytes, ToPart10(file));
  files.push_back(std::move(bytes));
  return files;
}

Result<std::vector<std::string>> WriteDicomSeries(const v1::Volume& volume, const DicomSeriesInfo& info,
                                                  const std::string& dir) {
  OVOFLOW_ASSIGN_OR_RETURN(auto files, MakeDicomSeries(volume, info));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Internal("DICOM export: cannot create " + dir + ": " + ec.message());
  std::string base = info.egg_id;
  for (char& c : base)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < files.size(); ++i) {
    char name[32];
    (void)std::snprintf(name, sizeof name, "-%04zu.dcm", i + 1);
    std::string path = dir;
    path += "/";
    path += base;
    path += name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(files[i].data(), static_cast<std::streamsize>(files[i].size()));
    if (!out) return Status::Internal("DICOM export: cannot write " + path + ": " + ErrnoMessage(errno));
    paths.push_back(path);
  }
  return paths;
}

struct DicomSender::Impl {
  DcmSCU scu;
};

DicomSender::~DicomSender() {
  if (impl_ && impl_->scu.isConnected()) (void)impl_->scu.releaseAssociation();
}

Result<std::unique_ptr<DicomSender>> DicomSender::Connect(const Options& o) {
  std::unique_ptr<DicomSender> s(new DicomSender());
  s->impl_ = std::make_unique<Impl>();
  DcmSCU& scu = s->impl_->scu;
  scu.setAETitle(o.calling_ae.c_str());
  scu.setPeerAETitle(o.called_ae.c_str());
  scu.setPeerHostName(o.host.c_str());
  scu.setPeerPort(o.port);
  scu.setMaxReceivePDULength(ASC_DEFAULTMAXPDU);
  OFList<OFString> xfers;
  xfers.push_back(UID_LittleEndianExplicitTransferSyntax);
  xfers.push_back(UID_LittleEndianImplicitTransferSyntax);
  for (const char* sop : {kMrImageStorage, kEnhancedMrImageStorage})
    OVOFLOW_RETURN_IF_ERROR(Check(scu.addPresentationContext(sop, xfers), "presentation context"));
  if (OFCondition c = scu.initNetwork(); c.bad())
    return Status::Unavailable(std::string("C-STORE: network: ") + c.text());
  if (OFCondition c = scu.negotiateAssociation(); c.bad())
    return Status::Unavailable("C-STORE: association with " + o.called_ae + "@" + o.host + ":" +
                               std::to_string(o.port) + " refused: " + c.text());
  return s;
}

Status DicomSender::SendSeries(const std::vector<std::string>& part10_files) {
  DcmSCU& scu = impl_->scu;
  for (const std::string& bytes : part10_files) {
    DcmInputBufferStream in;
    in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
    in.setEos();
    DcmFileFormat file;
    file.transferInit();
    const OFCondition rc = file.read(in, EXS_Unknown);
    file.transferEnd();
    if (rc.bad()) return Status::InvalidArgument(std::string("C-STORE: unreadable file: ") + rc.text());
    OFString sop_class;
    (void)file.getDataset()->findAndGetOFString(DCM_SOPClassUID, sop_class);
    const T_ASC_PresentationContextID pc =
        scu.findAnyPresentationContextID(sop_class, UID_LittleEndianExplicitTransferSyntax);
    Uint16 status = 0;
    const OFCondition c = scu.sendSTORERequest(pc, "", file.getDataset(), status);
    if (c.bad()) return Status::Unavailable(std::string("C-STORE: ") + c.text());
    if (status == 0xA700) return Status::ResourceExhausted("C-STORE: the agent is out of resources (0xA700)");
    if (status != 0) {
      char hex[8];
      (void)std::snprintf(hex, sizeof hex, "%04X", status);
      return Status::InvalidArgument(std::string("C-STORE: status 0x") + hex);
    }
  }
  return Status::Ok();
}

}  // namespace ovoflow::phantom
