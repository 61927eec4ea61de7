#include "training/calibrate_model.h"

#include "inference/calibration.h"
#include "inference/classifier.h"

namespace ovoflow::training {
namespace {

Status ValidateCalibrateOptions(const CalibrateOptions& o) {
  if (o.count < 100 || o.held_out_count < 100)
    return Status::InvalidArgument("calibration and held-out counts must be >= 100");
  if (o.seed == o.held_out_seed) return Status::InvalidArgument("calibration seed must differ from the held-out seed");
  if (!(o.target_accuracy > 0.5 && o.target_accuracy <= 1))
    return Status::InvalidArgument("target_accuracy must be in (0.5, 1]");
  if (!(o.max_abstention >= 0 && o.max_abstention < 1))
    return Status::InvalidArgument("max_abstention must be in [0, 1)");
  if (!(o.confidence_z >= 0 && o.confidence_z < 10)) return Status::InvalidArgument("confidence_z must be in [0, 10)");
  return phantom::ValidatePhantomOptions(o.phantom);
}

}  // namespace

Result<CalibrateReport> CalibrateModel(const std::string& model_dir, const CalibrateOptions& o) {
  OVOFLOW_RETURN_IF_ERROR(ValidateCalibrateOptions(o));
  OVOFLOW_ASSIGN_OR_RETURN(auto meta, ReadModelMetadata(model_dir));
  OVOFLOW_ASSIGN_OR_RETURN(auto model, SexClassifier::Load(model_dir, o.threads));

  EvalOptions eval;
  eval.phantom = o.phantom;
  eval.threads = o.threads;
  eval.batch = o.batch;
  eval.progress = o.progress;
  eval.seed = o.seed;
  eval.count = o.count;
  eval.progress_label = "calibration scans";
  OVOFLOW_ASSIGN_OR_RETURN(auto cal, ScorePhantomScans(*model, eval));
  OVOFLOW_ASSIGN_OR_RETURN(auto temperature, FitTemperature(cal.logits, cal.female));

  CalibrateReport report;
  v1::Calibration& c = report.calibration;
  c.set_temperature(temperature);
  c.set_seed(o.seed);
  c.set_count(static_cast<int32_t>(o.count));
  std::vector<float> raw_p, cal_p;
  for (float z : cal.logits) {
    raw_p.push_back(ScaledProbability(z, 1.0));
    cal_p.push_back(ScaledProbability(z, temperature));
  }
  c.set_ece_before(ExpectedCalibrationError(raw_p, cal.female));
  c.set_ece_after(ExpectedCalibrationError(cal_p, cal.female));
  c.set_loss_before(LogLoss(cal.logits, cal.female, 1.0));
  c.set_loss_after(LogLoss(cal.logits, cal.female, temperature));

  OVOFLOW_ASSIGN_OR_RETURN(auto band,
                           ChooseBand(cal_p, cal.female, o.target_accuracy, o.max_abstention, o.confidence_z));

  eval.seed = o.held_out_seed;
  eval.count = o.held_out_count;
  eval.progress_label = "held-out scans";
  OVOFLOW_ASSIGN_OR_RETURN(auto held, ScorePhantomScans(*model, eval));
  std::vector<float> held_p;
  for (float z : held.logits) held_p.push_back(ScaledProbability(z, temperature));
  report.held_out = ComputeMetrics(held_p, held.female);
  report.held_out.scans_per_second =
      held.predict_seconds > 0 ? static_cast<double>(held_p.size()) / held.predict_seconds : 0;
  const BandOutcome held_band = ScoreBand(held_p, held.female, band.keep_min_p_female, band.divert_max_p_female);
  SetBand(held_band, &report.held_out);

  v1::DecisionBand& b = report.band;
  b.set_keep_min_p_female(band.keep_min_p_female);
  b.set_divert_max_p_female(band.divert_max_p_female);
  b.set_target_accuracy(o.target_accuracy);
  b.set_max_abstention(o.max_abstention);
  b.set_calibration_decided_accuracy(band.outcome.decided_accuracy());
  b.set_calibration_abstention(band.outcome.abstention());
  b.set_held_out_decided_accuracy(held_band.decided_accuracy());
  b.set_held_out_abstention(held_band.abstention());
  b.set_feasible(band.feasible);
  b.set_confidence_z(o.confidence_z);

  *meta.mutable_calibration() = c;
  *meta.mutable_recommended_thresholds() = b;
  MetricsToProto(report.held_out, meta.mutable_held_out_metrics());
  meta.mutable_training()->set_eval_seed(o.held_out_seed);
  OVOFLOW_RETURN_IF_ERROR(WriteModelMetadata(model_dir, meta));
  return report;
}

}  // namespace ovoflow::training
