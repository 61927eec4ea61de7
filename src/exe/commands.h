// Subcommands of the `ovoflow` binary. main() only wires these together.
#pragma once

#include <CLI/CLI.hpp>

#include "exe/flags.h"

namespace ovoflow::exe {

void AddScannerCommand(CLI::App& app, const GlobalFlags& g);
void AddInferCommand(CLI::App& app, const GlobalFlags& g);
void AddStoreCommand(CLI::App& app, const GlobalFlags& g);
void AddApiCommand(CLI::App& app, const GlobalFlags& g);
void AddTopicsCommand(CLI::App& app, const GlobalFlags& g);
void AddMigrateCommand(CLI::App& app, const GlobalFlags& g);
void AddUpCommand(CLI::App& app, const GlobalFlags& g);
void AddBenchCommand(CLI::App& app, const GlobalFlags& g);
void AddTrainCommands(CLI::App& app, const GlobalFlags& g);  // train, eval
void AddEdgeCommand(CLI::App& app, const GlobalFlags& g);
void AddPhantomCommand(CLI::App& app, const GlobalFlags& g);  // phantom export

// Exit codes: 0 success, 1 runtime failure, 2 bad usage/configuration.
inline constexpr int kExitFailure = 1;

}  // namespace ovoflow::exe
