#include "checkpoint.hpp"

#include <cmath>
#include <cstdint>
#include <set>

#include "safetensors.hpp"

namespace minidl {

namespace {
constexpr const char* kFormat = "minidl-checkpoint-1";
constexpr const char* kOptimizerPrefix = "__optimizer__.";
constexpr const char* kBufferPrefix = "__buffer__.";
constexpr const char* kOptimizerMetaPrefix = "optimizer.";
constexpr const char* kUserPrefix = "user.";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// A decimal uint64 and nothing else: stoull would take "-1" (as 2^64 - 1),
// " 7" and "7abc".
bool parse_u64(const std::string& text, std::uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  out = v;
  return true;
}

// The index of the first NaN or inf of a float32 tensor on the CPU (-1: none, or not
// float32).
std::int64_t first_non_finite(const Tensor& t) {
  if (t.dtype() != DType::Float32) return -1;
  const float* v = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(v[i])) return i;
  return -1;
}

// A diverged run's weights (NaN, inf) are no state to resume from: say so at load
// rather than train on them.
void check_finite(const std::string& path, const NamedTensor& t) {
  const std::int64_t i = first_non_finite(t.tensor);
  if (i < 0) return;
  throw IoError(detail::concat("load_checkpoint: ", path, ": tensor '", t.name, "' holds ",
                               t.tensor.data<float>()[i], " at element ", i,
                               " (not finite: the run that saved it had diverged)"));
}
}  // namespace

void save_checkpoint(const std::string& path, Graph& graph, const Optimizer* optimizer,
                     const std::map<std::string, std::string>& extra) {
  MINIDL_CHECK(graph.built(), ValueError, "save_checkpoint: build the graph before saving it");
  std::vector<NamedTensor> tensors;
  for (Parameter* p : graph.parameters()) tensors.push_back({p->name, p->value});
  for (auto& [name, t] : graph.buffers()) {
    if (t->defined()) tensors.push_back({kBufferPrefix + name, *t});
  }
  std::map<std::string, std::string> metadata{
      {"minidl.format", kFormat},
      {"generator.seed", std::to_string(graph.generator().seed())},
      {"generator.offset", std::to_string(graph.generator().offset())}};
  if (optimizer != nullptr) {
    for (const auto& [name, t] : optimizer->state_tensors())
      tensors.push_back({kOptimizerPrefix + name, t});
    for (const auto& [key, value] : optimizer->state_metadata())
      metadata[kOptimizerMetaPrefix + key] = value;
  }
  for (const auto& [key, value] : extra) metadata[kUserPrefix + key] = value;
  // load_checkpoint refuses NaN and inf: a file holding them would be a checkpoint that
  // cannot be resumed, written over one that can. One tensor at a time on the host, as
  // save_safetensors writes them (a GPU model's copy is never held whole).
  for (const NamedTensor& t : tensors) {
    const Tensor host = t.tensor.device().is_cpu() ? t.tensor : t.tensor.to(Device::cpu());
    const std::int64_t i = first_non_finite(host);
    MINIDL_CHECK(i < 0, ValueError, "save_checkpoint: ", path, ": tensor '", t.name, "' holds ",
                 i < 0 ? 0.0f : host.data<float>()[i], " at element ", i,
                 " (a diverged run: load_checkpoint would refuse the file, so it is not "
                 "written and the file there is kept)");
  }
  save_safetensors(path, tensors, metadata);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, Graph& graph,
                                                   Optimizer* optimizer) {
  MINIDL_CHECK(graph.built(), ValueError,
               "load_checkpoint: build the graph before loading into it");
  const SafetensorsFile file = load_safetensors(path, Device::cpu());
  const auto format = file.metadata.find("minidl.format");
  MINIDL_CHECK(format != file.metadata.end() && format->second == kFormat, IoError,
               "load_checkpoint: ", path, " is not a minidl checkpoint (metadata minidl.format is ",
               format == file.metadata.end() ? std::string("missing") : "'" + format->second + "'",
               ")");

  // Check everything first, then change the model: a bad file leaves it untouched.
  for (const NamedTensor& t : file.tensors) check_finite(path, t);
  std::set<std::string> expected;
  for (Parameter* p : graph.parameters()) {
    expected.insert(p->name);
    const Tensor* t = file.find(p->name);
    MINIDL_CHECK(t != nullptr, ValueError, "load_checkpoint: ", path,
                 " has no tensor for parameter '", p->name, "'");
    MINIDL_CHECK(t->dtype() == p->value.dtype(), DTypeError, "load_checkpoint: '", p->name, "' is ",
                 t->dtype(), " in ", path, ", the model has ", p->value.dtype());
    MINIDL_CHECK(t->shape() == p->value.shape(), ShapeError, "load_checkpoint: '", p->name, "' is ",
                 t->shape(), " in ", path, ", the model has ", p->value.shape());
  }
  std::vector<std::pair<Tensor*, const Tensor*>> buffer_copies;
  for (auto& [name, t] : graph.buffers()) {
    if (!t->defined()) continue;
    const std::string key = kBufferPrefix + name;
    expected.insert(key);
    const Tensor* saved = file.find(key);
    MINIDL_CHECK(saved != nullptr, ValueError, "load_checkpoint: ", path,
                 " has no tensor for buffer '", name, "'");
    MINIDL_CHECK(saved->dtype() == t->dtype() && saved->shape() == t->shape(), ShapeError,
                 "load_checkpoint: buffer '", name, "' is ", saved->dtype(), " ", saved->shape(),
                 " in ", path, ", the model has ", t->dtype(), " ", t->shape());
    buffer_copies.emplace_back(t, saved);
  }
  Optimizer::StateTensors optimizer_tensors;
  Optimizer::StateMetadata optimizer_metadata;
  for (const NamedTensor& nt : file.tensors) {
    if (starts_with(nt.name, kOptimizerPrefix)) {
      optimizer_tensors.emplace_back(nt.name.substr(std::string(kOptimizerPrefix).size()),
                                     nt.tensor);
    } else {
      MINIDL_CHECK(expected.count(nt.name) != 0, ValueError, "load_checkpoint: ", path,
                   " has tensor '", nt.name, "', which is no parameter of this model");
    }
  }
  std::map<std::string, std::string> extra;
  for (const auto& [key, value] : file.metadata) {
    if (starts_with(key, kOptimizerMetaPrefix)) {
      optimizer_metadata[key.substr(std::string(kOptimizerMetaPrefix).size())] = value;
    } else if (starts_with(key, kUserPrefix)) {
      extra[key.substr(std::string(kUserPrefix).size())] = value;
    }
  }
  std::uint64_t seed = 0, offset = 0;
  const auto seed_text = file.metadata.find("generator.seed");
  const auto offset_text = file.metadata.find("generator.offset");
  if (seed_text == file.metadata.end() || offset_text == file.metadata.end() ||
      !parse_u64(seed_text->second, seed) || !parse_u64(offset_text->second, offset)) {
    throw IoError(detail::concat("load_checkpoint: ", path,
                                 " has no valid generator.seed / generator.offset (decimal "
                                 "unsigned 64-bit integers)"));
  }
  // Last of the checks (the optimizer validates before it changes anything).
  if (optimizer != nullptr) {
    MINIDL_CHECK(!optimizer_metadata.empty(), ValueError, "load_checkpoint: ", path,
                 " holds no optimizer state to load");
    optimizer->load_state(optimizer_tensors, optimizer_metadata);
  }
  for (Parameter* p : graph.parameters()) p->value.copy_from(file.at(p->name));
  for (auto& [t, saved] : buffer_copies) t->copy_from(*saved);
  graph.generator() = Generator(seed);
  graph.generator().set_offset(offset);
  return extra;
}

}  // namespace minidl
