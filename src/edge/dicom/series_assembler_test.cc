#include "edge/dicom/series_assembler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/clock.h"
#include "edge/dicom/dicom_instance.h"
#include "phantom/dicom_export.h"
#include "phantom/phantom.h"

namespace ovoflow::edge {
namespace {

v1::Volume SmallVolume(uint32_t nx, uint32_t ny, uint32_t nz, v1::DType dtype) {
  v1::Volume v;
  v.set_dim_x(nx);
  v.set_dim_y(ny);
  v.set_dim_z(nz);
  v.set_spacing_x_mm(0.5f);
  v.set_spacing_y_mm(0.6f);
  v.set_spacing_z_mm(0.7f);
  v.add_channels(v1::CHANNEL_T2W);
  v.set_dtype(dtype);
  v.set_encoding(v1::ENCODING_RAW);
  const std::size_t n = std::size_t{nx} * ny * nz;
  std::string data(n * (dtype == v1::DTYPE_UINT16 ? 2 : 1), '\0');
  for (std::size_t i = 0; i < n; ++i) {
    if (dtype == v1::DTYPE_UINT16) {
      const auto u = static_cast<uint16_t>(300 + 7 * i);
      std::memcpy(data.data() + 2 * i, &u, 2);
    } else {
      data[i] = static_cast<char>(static_cast<uint8_t>(i * 13));
    }
  }
  v.set_data(data);
  return v;
}

phantom::DicomSeriesInfo Info(phantom::DicomLayout layout) {
  phantom::DicomSeriesInfo info;
  info.egg_id = "egg-1";
  info.tray_id = "tray-9";
  info.tray_position = 17;
  info.incubation_day = 11;
  info.captured_at_ns = 1'764'930'000'123'456'000;
  info.station_name = "scanner-1";
  info.layout = layout;
  return info;
}

std::vector<DicomInstance> ReadAll(const std::vector<std::string>& files) {
  std::vector<DicomInstance> out;
  for (const std::string& f : files) {
    ReadResult r = ReadDicom(f, TagMap());
    EXPECT_TRUE(r.instance.has_value()) << (r.rejection ? r.rejection->reason : "");
    if (r.instance) out.push_back(std::move(*r.instance));
  }
  return out;
}

// What the phantom exports, in any order, comes back voxel for voxel.
TEST(SeriesAssemblerTest, ExportedSeriesComeBackExactly) {
  for (auto layout : {phantom::DicomLayout::kSingleFrame, phantom::DicomLayout::kEnhancedMultiFrame}) {
    for (auto dtype : {v1::DTYPE_UINT8, v1::DTYPE_UINT16}) {
      const v1::Volume v = SmallVolume(6, 5, 4, dtype);
      auto files = phantom::MakeDicomSeries(v, Info(layout));
      ASSERT_TRUE(files.ok()) << files.status().ToString();
      EXPECT_EQ(files->size(), layout == phantom::DicomLayout::kSingleFrame ? 4u : 1u);
      std::vector<DicomInstance> images = ReadAll(*files);
      std::mt19937 rng(7);  // NOLINT(cert-msc32-c,cert-msc51-cpp): a reproducible order
      std::shuffle(images.begin(), images.end(), rng);
      SeriesAssembler assembler;
      std::optional<SeriesOutcome> done;
      for (std::size_t i = 0; i < images.size(); ++i) {
        auto added = assembler.Add(images[i], 0);
        ASSERT_TRUE(added.ok()) << added.status().ToString();
        EXPECT_EQ(added->has_value(), i + 1 == images.size()) << "complete at the stated count, not before";
        if (*added) done = std::move(**added);
      }
      ASSERT_TRUE(done && done->result.ok()) << (done ? done->result.status().ToString() : "not complete");
      const v1::Volume& got = done->result->volume;
      EXPECT_EQ(got.dtype(), dtype);
      EXPECT_EQ(got.dim_x(), 6u);
      EXPECT_EQ(got.dim_y(), 5u);
      EXPECT_EQ(got.dim_z(), 4u);
      EXPECT_FLOAT_EQ(got.spacing_x_mm(), 0.5f);
      EXPECT_FLOAT_EQ(got.spacing_y_mm(), 0.6f);
      EXPECT_NEAR(got.spacing_z_mm(), 0.7f, 1e-5);
      EXPECT_EQ(got.data(), v.data());
      v1::EggScan scan;
      ASSERT_TRUE(ApplyTagMap(TagMap(), done->mapped, &scan).ok());
      EXPECT_EQ(scan.egg_id(), "egg-1");
      EXPECT_EQ(scan.tray_id(), "tray-9");
      EXPECT_EQ(scan.tray_position(), 17u);
      EXPECT_EQ(scan.incubation_day(), 11u);
      EXPECT_EQ(FromTimestamp(scan.captured_at()), 1'764'930'000'123'456'000);
      EXPECT_EQ(assembler.open_series(), 0u);
    }
  }
}

// A whole phantom egg (about 1 M voxels) through DICOM and back.
TEST(SeriesAssemblerTest, WholePhantomEgg) {
  const phantom::PhantomGenerator gen{phantom::PhantomOptions{}};
  const phantom::EggVolume egg = gen.RenderEgg(5, 1);
  auto files = phantom::MakeDicomSeries(egg.volume, Info(phantom::DicomLayout::kSingleFrame));
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  auto assembled = AssembleSeries(ReadAll(*files));
  ASSERT_TRUE(assembled.ok()) << assembled.status().ToString();
  EXPECT_EQ(assembled->volume.data(), egg.volume.data());
  EXPECT_EQ(assembled->volume.dtype(), v1::DTYPE_UINT8);
}

TEST(SeriesAssemblerTest, SaysWhatIsWrongWithASeries) {
  const v1::Volume v = SmallVolume(4, 4, 6, v1::DTYPE_UINT16);
  auto files = phantom::MakeDicomSeries(v, Info(phantom::DicomLayout::kSingleFrame));
  ASSERT_TRUE(files.ok());
  const std::vector<DicomInstance> images = ReadAll(*files);
  auto error = [](const std::vector<DicomInstance>& set) {
    auto r = AssembleSeries(set);
    return r.ok() ? std::string("ok") : r.status().message();
  };
  // A missing slice in the middle.
  auto missing = images;
  missing.erase(missing.begin() + 3);
  EXPECT_NE(error(missing).find("missing slices: a gap of 1.400 mm"), std::string::npos) << error(missing);
  // Two slices at one position.
  auto twice = images;
  twice[2].positions[0] = twice[1].positions[0];
  EXPECT_NE(error(twice).find("two slices at the same position"), std::string::npos) << error(twice);
  // Mixed orientations.
  auto mixed = images;
  mixed[4].orientation = {0, 1, 0, 1, 0, 0};
  EXPECT_NE(error(mixed).find("mixed orientations"), std::string::npos) << error(mixed);
  // A slice shifted in-plane.
  auto shifted = images;
  shifted[5].positions[0][0] += 3;
  EXPECT_NE(error(shifted).find("shifted in-plane"), std::string::npos) << error(shifted);
  // Rescale slope and intercept are applied.
  auto rescaled = images;
  for (auto& im : rescaled) {
    im.rescale_slope = 2;
    im.rescale_intercept = -300;
  }
  auto r = AssembleSeries(rescaled);
  ASSERT_TRUE(r.ok());
  uint16_t first = 0;
  std::memcpy(&first, r->volume.data().data(), 2);
  EXPECT_EQ(first, 300) << "2 * 300 - 300";

  // The assembler refuses an image that contradicts its series at once, and
  // an incomplete series after the quiet period says how many came.
  SeriesAssembler assembler(SeriesOptions{.quiet_ms = 1000});
  ASSERT_TRUE(assembler.Add(images[0], 0).ok());
  EXPECT_EQ(assembler.Add(mixed[4], 10).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(assembler.Add(images[1], 20).ok());
  ASSERT_TRUE(assembler.Add(images[1], 30).ok()) << "a duplicate instance is ignored";
  EXPECT_TRUE(assembler.Expire(500).empty());
  auto expired = assembler.Expire(1020);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].sop_instance_uids.size(), 2u);
  ASSERT_FALSE(expired[0].result.ok());
  EXPECT_NE(expired[0].result.status().message().find("incomplete series: 2 of the 6 images"), std::string::npos);
}

TEST(DicomReaderTest, RejectsWhatOneImageGetsWrong) {
  const v1::Volume v = SmallVolume(4, 4, 2, v1::DTYPE_UINT16);
  auto files = phantom::MakeDicomSeries(v, Info(phantom::DicomLayout::kSingleFrame));
  ASSERT_TRUE(files.ok());
  ReadLimits tiny;
  tiny.max_rows = 2;
  ReadResult r = ReadDicom((*files)[0], TagMap(), tiny);
  ASSERT_TRUE(r.rejection.has_value());
  EXPECT_EQ(r.rejection->status, kDicomCannotUnderstand);
  EXPECT_NE(r.rejection->reason.find("exceeds the limit"), std::string::npos);
  r = ReadDicom("not dicom at all", TagMap());
  ASSERT_TRUE(r.rejection.has_value());
  EXPECT_EQ(r.rejection->status, kDicomCannotUnderstand);
}

}  // namespace
}  // namespace ovoflow::edge
