// DCMTK side of the DICOM reader (internal to src/edge/dicom: the only
// headers that name DCMTK types).
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>

#include <string>

#include "common/status.h"
#include "edge/dicom/dicom_instance.h"

namespace ovoflow::edge::dicom_internal {

// Reads what the assembler needs from a dataset (see ReadDicom).
ReadResult ReadDataset(DcmDataset& dataset, const TagMap& tag_map, const ReadLimits& limits);

// The dataset as Explicit VR Little Endian bytes (what the spool keeps;
// ReadDicom reads it back).
Result<std::string> SerializeDataset(DcmDataset& dataset);

}  // namespace ovoflow::edge::dicom_internal
