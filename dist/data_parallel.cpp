// DataParallel: the model check and broadcast, the bucket plan, the gradient
// hook that launches buckets during backward, and the wait before the step.
#include "data_parallel.hpp"

#include <algorithm>
#include <sstream>
#include <unordered_set>

#include "../kernels/arith.hpp"
#include "../kernels/columns.hpp"
#include "../kernels/fill.hpp"
#include "collectives_detail.hpp"
#include "process.hpp"

namespace minidl::dist {

namespace {

// One line per parameter: what must be the same on every process.
std::vector<std::string> layout_lines(const std::vector<Parameter*>& params) {
  std::vector<std::string> lines;
  lines.reserve(params.size());
  for (const Parameter* p : params) {
    std::ostringstream line;
    line << p->name << ' ' << p->value.shape() << ' ' << p->value.dtype() << ' '
         << (p->value.device().is_cuda() ? "cuda" : "cpu");
    lines.push_back(line.str());
  }
  return lines;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + '\n';
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

}  // namespace

DataParallel::DataParallel(Sequential& model, Optimizer& optimizer, DataParallelOptions options)
    : DataParallel(model.graph(), optimizer, options) {}

DataParallel::DataParallel(Graph& graph, Optimizer& optimizer, DataParallelOptions options)
    : graph_(graph), optimizer_(optimizer), options_(options) {
  const int world = world_size();  // Error before init()
  MINIDL_CHECK(options.bucket_bytes > 0, ValueError, "DataParallel: bucket_bytes must be > 0");
  MINIDL_CHECK(options.root >= 0 && options.root < world, ValueError, "DataParallel: root ",
               options.root, " is outside [0, ", world, ")");
  params_ = graph.parameters();  // ValueError before build()
  MINIDL_CHECK(!params_.empty(), ValueError, "DataParallel: the model has no parameters");
  {
    const std::vector<Parameter*>& theirs = optimizer.parameters();
    const std::unordered_set<const Parameter*> mine(params_.begin(), params_.end());
    bool same = theirs.size() == params_.size();
    for (const Parameter* p : theirs) same = same && mine.count(p) == 1;
    MINIDL_CHECK(same, ValueError, "DataParallel: the optimizer's ", theirs.size(),
                 " parameters are not the graph's ", params_.size(),
                 " (make the optimizer over graph.parameters())");
  }
  active_ = world > 1;
  if (!active_) return;
  MINIDL_CHECK(!graph.has_grad_ready_hook(), ValueError,
               "DataParallel: the graph already has a gradient hook (another DataParallel?)");
  MINIDL_CHECK(!optimizer.has_before_step_hook(), ValueError,
               "DataParallel: the optimizer already has a step hook (another DataParallel?)");

  // (a) The same options and the same model everywhere, or a clear error on every process.
  // Different bucket sizes would make the processes' all-reduces of different lengths (an
  // erroneous MPI program: a hang or wrong sums), a different root broadcasts from two.
  {
    const std::string options_text =
        minidl::detail::concat("bucket_bytes ", options.bucket_bytes, ", root ", options.root);
    const std::vector<std::string> all_options = all_gather(options_text);
    for (int r = 0; r < world; ++r)
      MINIDL_CHECK(all_options[static_cast<std::size_t>(r)] == all_options[0], ValueError,
                   "DataParallel: the options differ: ", all_options[static_cast<std::size_t>(r)],
                   " on rank ", r, " and ", all_options[0], " on rank 0");
  }
  const std::vector<std::string> mine = layout_lines(params_);
  const std::vector<std::string> all = all_gather(join(mine));
  const std::vector<std::string> ref = split(all[static_cast<std::size_t>(options.root)]);
  for (int r = 0; r < world; ++r) {
    const std::vector<std::string> theirs = split(all[static_cast<std::size_t>(r)]);
    if (theirs == ref) continue;
    std::size_t i = 0;
    while (i < theirs.size() && i < ref.size() && theirs[i] == ref[i]) ++i;
    const std::string a = i < theirs.size() ? "'" + theirs[i] + "'" : "nothing";
    const std::string b = i < ref.size() ? "'" + ref[i] + "'" : "nothing";
    throw ValueError(minidl::detail::concat("DataParallel: the models differ: parameter ", i, " is ", a,
                                    " on rank ", r, " and ", b, " on rank ", options.root, " (",
                                    theirs.size(), " vs ", ref.size(), " parameters)"));
  }

  // (b) Buckets in the order backward finishes the gradients: the graph's
  // parameters are in layer order, and backward runs the layers in reverse.
  bucket_of_.assign(params_.size(), 0);
  offset_of_.assign(params_.size(), 0);
  ready_.assign(params_.size(), false);
  const std::int64_t cap = static_cast<std::int64_t>(options.bucket_bytes / sizeof(float));
  for (std::size_t k = params_.size(); k-- > 0;) {
    MINIDL_CHECK(params_[k]->value.dtype() == DType::Float32, DTypeError, "DataParallel: ",
                 params_[k]->name, " is ", params_[k]->value.dtype(), "; parameters are float32");
    if (buckets_.empty() || buckets_.back().numel >= std::max<std::int64_t>(cap, 1))
      buckets_.emplace_back();
    Bucket& b = buckets_.back();
    bucket_of_[k] = buckets_.size() - 1;
    offset_of_[k] = b.numel;
    b.members.push_back(k);
    b.numel += params_[k]->value.numel();
    index_[params_[k]] = k;
  }
  const Device device = params_[0]->value.device();
  for (Bucket& b : buckets_) {
    b.flat = empty({1, b.numel}, device);
    b.pending = static_cast<int>(b.members.size());
  }

  broadcast_state();
  graph.set_grad_ready_hook([this](Parameter& p) { on_grad_ready(p); });
  optimizer.set_before_step_hook([this] {
    // After the user's own synchronize(), the grads are the average, maybe changed since
    // (clipped): averaging again would average zeros (the round was reset), and lose it.
    if (user_synchronized_) {
      user_synchronized_ = false;
      return;
    }
    average();
  });
}

DataParallel::~DataParallel() {
  if (!active_) return;
  graph_.set_grad_ready_hook(nullptr);
  optimizer_.set_before_step_hook(nullptr);
  // Buckets still in flight are waited for by their Work's destructor.
}

std::vector<std::string> DataParallel::bucket_parameters(std::size_t bucket) const {
  MINIDL_CHECK(bucket < buckets_.size(), ValueError, "DataParallel::bucket_parameters: bucket ",
               bucket, " of ", buckets_.size());
  std::vector<std::string> names;
  for (std::size_t k : buckets_[bucket].members) names.push_back(params_[k]->name);
  return names;
}

void DataParallel::broadcast_state() {
  if (!active_) return;
  MINIDL_CHECK(!round_started_ && next_launch_ == 0, ValueError,
               "DataParallel::broadcast_state: a backward ran since the last step; call it "
               "between steps");
  for (Parameter* p : params_) broadcast(p->value, options_.root);
  broadcast_buffers();
}

void DataParallel::broadcast_buffers() {
  if (!active_) return;
  for (auto& [name, t] : graph_.buffers()) {
    (void)name;
    broadcast(*t, options_.root);
  }
}

void DataParallel::record(DataParallelEvent::Kind kind, int bucket, const std::string& parameter) {
  if (options_.record_events) events_.push_back(DataParallelEvent{kind, bucket, parameter});
}

void DataParallel::on_grad_ready(Parameter& p) {
  const auto it = index_.find(&p);
  if (it == index_.end()) return;
  const std::size_t k = it->second;
  MINIDL_CHECK(!user_synchronized_, Error,
               "DataParallel: backward ran after synchronize() and "
               "before the optimizer step; synchronize() ends a step's backward (call it after "
               "the backward, then step)");
  if (!round_started_) {
    round_started_ = true;
    round_samples_ = graph_.current_batch();
  }
  MINIDL_CHECK(!ready_[k], Error, "DataParallel: the gradient of '", p.name,
               "' was reported twice before the optimizer step: backward ran again without a "
               "step. Accumulating gradients over several backward calls is not supported with "
               "data parallel training (use a larger batch)");
  ready_[k] = true;
  Bucket& b = buckets_[bucket_of_[k]];
  record(DataParallelEvent::Kind::GradientReady, static_cast<int>(bucket_of_[k]), p.name);
  --b.pending;
  launch_ready_in_order();
  // MPI moves non-blocking collectives only inside MPI calls: give the ones in
  // flight a chance while backward goes on.
  for (std::size_t i = 0; i < next_launch_; ++i) (void)buckets_[i].work.completed();
}

void DataParallel::launch_ready_in_order() {
  // In order, so every process starts the same collectives in the same order.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0)
    launch(next_launch_++);
}

void DataParallel::launch(std::size_t index) {
  Bucket& b = buckets_[index];
  if (round_samples_ == 0) {
    // No backward on this process since the last step: weight 0.
    fill(b.flat, 0.0);
  } else {
    for (std::size_t k : b.members) {
      const Tensor& grad = params_[k]->grad;
      copy_into_columns(grad.view({1, grad.numel()}), b.flat, offset_of_[k]);
    }
    // Weighted by this process's samples: sum_r n_r g_r, divided by sum_r n_r after.
    if (round_samples_ != 1) scale(b.flat, static_cast<float>(round_samples_), b.flat);
  }
  b.work = detail::all_reduce_sum_unchecked(b.flat);
  b.launched = true;
  record(DataParallelEvent::Kind::BucketLaunched, static_cast<int>(index));
}

void DataParallel::synchronize() {
  if (!active_ || user_synchronized_) return;  // a second call: the grads are averaged already
  average();
  user_synchronized_ = true;
}

void DataParallel::average() {
  while (next_launch_ < buckets_.size()) launch(next_launch_++);
  std::vector<std::int64_t> samples{round_samples_};
  all_reduce(samples);
  const std::int64_t total = samples[0];
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    b.work.wait();
    // total == 0: no process had samples; every bucket is zeros.
    if (total > 1) scale(b.flat, 1.0f / static_cast<float>(total), b.flat);
    for (std::size_t k : b.members) {
      Tensor grad = params_[k]->grad.view({1, params_[k]->grad.numel()});
      copy_from_columns(b.flat, offset_of_[k], grad);
    }
    record(DataParallelEvent::Kind::BucketDone, static_cast<int>(i));
  }
  reset_round();
}

void DataParallel::reset_round() {
  std::fill(ready_.begin(), ready_.end(), false);
  for (Bucket& b : buckets_) {
    b.pending = static_cast<int>(b.members.size());
    b.launched = false;
  }
  next_launch_ = 0;
  round_started_ = false;
  round_samples_ = 0;
}

LoaderOptions sharded(LoaderOptions options) {
  options.shard = rank();
  options.shards = world_size();
  return options;
}

}  // namespace minidl::dist
