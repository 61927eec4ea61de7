// ovoflow: near-real-time in-ovo sexing from MRI scans. main() only wires
// the subcommands; each lives in its own file.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "exe/commands.h"

namespace {

int Run(int argc, char** argv) {
  CLI::App app{"ovoflow: in-ovo sexing pipeline (MRI scans -> Kafka -> CNN -> store -> API)"};
  app.require_subcommand(1);
  // Global flags may follow the subcommand; subcommands inherit this setting
  // when they are created, so it comes first.
  app.fallthrough();
  app.set_version_flag("--version", "ovoflow 0.1.0");
  ovoflow::exe::GlobalFlags global;
  ovoflow::exe::AddGlobalFlags(app, &global);
  ovoflow::exe::AddUpCommand(app, global);
  ovoflow::exe::AddScannerCommand(app, global);
  ovoflow::exe::AddInferCommand(app, global);
  ovoflow::exe::AddStoreCommand(app, global);
  ovoflow::exe::AddApiCommand(app, global);
  ovoflow::exe::AddTopicsCommand(app, global);
  ovoflow::exe::AddMigrateCommand(app, global);
  ovoflow::exe::AddBenchCommand(app, global);
  ovoflow::exe::AddTrainCommands(app, global);
  ovoflow::exe::AddEdgeCommand(app, global);
  ovoflow::exe::AddPhantomCommand(app, global);
  CLI11_PARSE(app, argc, argv);
  return 0;
}

}  // namespace

// Expected failures come back as exit codes with a message; an exception
// that reaches here is a bug, reported as one instead of std::terminate's
// abort.
int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "ovoflow: internal error: %s\n", e.what());
  } catch (...) {
    (void)std::fprintf(stderr, "ovoflow: internal error: an unknown exception\n");
  }
  return 70;  // EX_SOFTWARE
}
