// `ovoflow bench`: drives the pipeline (bench_pipeline.h) at fixed rates and
// then up or down to the highest rate it sustains, and measures each step:
// throughput, latency per stage, consumer lag and CPU per stage.
#pragma once

#include "common/status.h"
#include "exe/bench_options.h"
#include "exe/bench_report.h"

namespace ovoflow::exe {

// Checks the options; InvalidArgument says which flag is wrong.
Status ValidateBenchOptions(const BenchOptions& options);

// Runs the steps and fills `run->steps` (and the find-max result) as they
// complete, so a run that fails half way still reports what it measured.
// Unavailable when the broker or the database cannot be reached or on
// SIGINT/SIGTERM; Internal when a child process dies or the pipeline stops
// making progress. Prints a progress line per second to stdout.
Status RunBench(const BenchOptions& options, BenchRun* run);

}  // namespace ovoflow::exe
