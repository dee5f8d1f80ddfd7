// Checkpoints: a model's parameters, its optimizer's state and the graph's
// random-number position in one safetensors file (io/safetensors.hpp), written
// atomically, so a crash while saving never destroys the previous checkpoint.
//
// Layout: each parameter under its own name ("dense1.weight", the PyTorch-style
// (out, in) layout, so PyTorch's safetensors reads the weights directly);
// layer buffers (BatchNorm's running statistics) under "__buffer__.<layer>.<name>";
// optimizer slots under "__optimizer__.<slot>"; metadata keys "minidl.format",
// "optimizer.<key>" (Optimizer::state_metadata()), "generator.seed",
// "generator.offset", and the caller's own entries under "user.<key>".
#pragma once

#include <map>
#include <string>

#include "../layers/graph.hpp"
#include "../optim/optimizer.hpp"

namespace minidl {

/// Saves graph's parameters, optimizer's state (when not null), the graph
/// generator's position and `extra` (e.g. the epoch) to `path`. The graph must be built.
/// A parameter, buffer or optimizer slot holding NaN or inf (a diverged run, which
/// load_checkpoint would refuse) is a ValueError naming it, and nothing is written.
void save_checkpoint(const std::string& path, Graph& graph, const Optimizer* optimizer,
                     const std::map<std::string, std::string>& extra = {});

/// Loads what save_checkpoint wrote into a built graph of the same architecture
/// (and an optimizer of the same kind over its parameters, when not null) and
/// returns the `extra` entries. Validates before changing anything: a missing,
/// unexpected or differently shaped parameter, a tensor holding NaN or inf (a
/// diverged run's weights or optimizer state), a generator position that is not
/// a decimal uint64, or an optimizer mismatch, throws an Error naming it and
/// leaves graph and optimizer as they were.
std::map<std::string, std::string> load_checkpoint(const std::string& path, Graph& graph,
                                                   Optimizer* optimizer);

}  // namespace minidl
