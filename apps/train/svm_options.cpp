#include "svm_options.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "core/device.hpp"
#include "option_values.hpp"
#include "svm/kernel_function.hpp"

namespace minidl::train {

void set_svm_option(SvmConfig& c, SvmSetting setting, const std::string& option,
                    const std::string& text) {
  switch (setting) {
    case SvmSetting::C:
      c.C = parse_real(option, text, 0.0, true, 1e12);
      return;
    case SvmSetting::Kernel: {
      // svm-train's -t numbers, in LIBSVM's order (also KernelType's).
      static const char* const by_number[] = {"linear", "polynomial", "rbf", "sigmoid"};
      if (text == "4" || text == "precomputed")
        bad_value(option, text,
                  "(a precomputed kernel) is not supported: minidl computes the kernel from the "
                  "features (use 0 linear, 1 polynomial, 2 rbf or 3 sigmoid)");
      if (text.size() == 1 && text[0] >= '0' && text[0] <= '3') {
        c.kernel = by_number[text[0] - '0'];
        return;
      }
      check_member(option, text, {"linear", "poly", "polynomial", "rbf", "sigmoid", "0", "1", "2", "3"});
      c.kernel = text == "poly" ? "polynomial" : text;
      return;
    }
    case SvmSetting::Gamma:
      if (text != "scale" && text != "auto") {
        char* end = nullptr;
        const double g = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !std::isfinite(g) || g <= 0 ||
            std::isspace(static_cast<unsigned char>(text[0])))
          bad_value(option, text, "is not scale, auto or a finite number > 0");
      }
      c.gamma = text;
      return;
    case SvmSetting::Tol:
      c.tol = parse_real(option, text, 0.0, true, 1e6);
      return;
    case SvmSetting::Degree:
      c.degree = static_cast<int>(parse_integer(option, text, 0, 1000));
      return;
    case SvmSetting::Coef0:
      c.coef0 = parse_real(option, text, -1e300, false, 1e300);
      return;
    case SvmSetting::MultiClass:
      check_member(option, text, {"ovo", "ovr"});
      c.multi_class = text;
      return;
    case SvmSetting::CacheMb:
      c.cache_mb = parse_real(option, text, 0.0, true, 1e9);
      return;
    case SvmSetting::Storage:
      check_member(option, text, {"auto", "dense", "sparse"});
      c.storage = text;
      return;
    case SvmSetting::Probability:
      c.probability = parse_integer(option, text, 0, 1) == 1;
      return;
  }
}

void set_svm_class_weight(SvmConfig& c, const std::string& option, const std::string& label_text,
                          const std::string& weight_text) {
  const auto label = static_cast<std::int32_t>(
      parse_integer(option, label_text, std::numeric_limits<std::int32_t>::min(),
                    std::numeric_limits<std::int32_t>::max()));
  const double w = parse_real(option, weight_text, 0.0, true, 1e12);
  if (!c.class_weight.emplace(label, w).second)
    bad_value(option, weight_text, detail::concat("is a second weight for label ", label));
}

svm::SvcOptions svc_options(const SvmConfig& c) {
  svm::SvcOptions o;
  o.C = c.C;
  o.kernel = svm::kernel_from_name(c.kernel == "poly" ? "polynomial" : c.kernel);
  if (c.gamma == "scale") {
    o.gamma_mode = svm::GammaMode::Scale;
  } else if (c.gamma == "auto") {
    o.gamma_mode = svm::GammaMode::Auto;
  } else {
    SvmConfig checked;
    set_svm_option(checked, SvmSetting::Gamma, "--svm-gamma", c.gamma);  // ValueError if not a number
    o.with_gamma(std::strtod(c.gamma.c_str(), nullptr));
  }
  o.tol = c.tol;
  o.degree = c.degree;
  o.coef0 = c.coef0;
  MINIDL_CHECK(c.multi_class == "ovo" || c.multi_class == "ovr", ValueError,
               "--svm-multi-class: '", c.multi_class, "' is not ovo or ovr");
  o.multi_class = c.multi_class == "ovo" ? svm::MultiClass::OneVsOne : svm::MultiClass::OneVsRest;
  o.class_weight = c.class_weight;
  o.shrinking = c.shrinking;
  if (c.cache_mb > 0) o.memory_budget = static_cast<std::size_t>(c.cache_mb * 1048576.0);
  o.storage = svm_storage(c.storage);
  return o;
}

svm::Storage svm_storage(const std::string& name) {
  if (name == "dense") return svm::Storage::Dense;
  if (name == "sparse") return svm::Storage::Sparse;
  MINIDL_CHECK(name == "auto", ValueError, "--storage: '", name, "' is not auto, dense or sparse");
  return svm::Storage::Auto;
}

std::string svm_train_usage() {
  return "Usage: minidl-svm-train [options] training_set_file [model_file]\n"
         "LIBSVM's svm-train command line (C-SVC), trained by minidl's solver.\n"
         "options:\n"
         "-s svm_type : 0 -- C-SVC (the only type minidl trains; 1-4 are not supported)\n"
         "-t kernel_type : set type of kernel function (default 2)\n"
         "\t0 -- linear: u'*v\n"
         "\t1 -- polynomial: (gamma*u'*v + coef0)^degree\n"
         "\t2 -- radial basis function: exp(-gamma*|u-v|^2)\n"
         "\t3 -- sigmoid: tanh(gamma*u'*v + coef0)\n"
         "\t(4, a precomputed kernel, is not supported)\n"
         "-d degree : set degree in kernel function (default 3)\n"
         "-g gamma : set gamma in kernel function (default 1/num_features; also 'scale' = "
         "1/(num_features * Var x), 'auto' = 1/num_features)\n"
         "-r coef0 : set coef0 in kernel function (default 0)\n"
         "-c cost : set the parameter C of C-SVC (default 1)\n"
         "-m cachesize : memory budget for the kernel matrix or its row cache, in MB (default: "
         "half the RAM on a CPU, 80% of free GPU memory)\n"
         "-e epsilon : set tolerance of termination criterion (default 0.001)\n"
         "-h shrinking : whether to use the shrinking heuristics, 0 or 1 (default 1; the "
         "same model within -e either way)\n"
         "-b probability_estimates : whether to train a C-SVC model for probability estimates, "
         "0 or 1 (default 0)\n"
         "-wi weight : set the parameter C of class i to weight*C (default 1)\n"
         "-v n : n-fold cross validation mode (stratified; prints the accuracy, writes no "
         "model)\n"
         "-q : quiet mode (no outputs)\n"
         "minidl's options:\n"
         "--device D : auto (default: CUDA when present), cpu, cuda or cuda:N\n"
         "--multi-class M : ovo (one-vs-one, default, LIBSVM's) or ovr (one-vs-rest; with -v "
         "only: LIBSVM's model format holds one-vs-one models)\n"
         "--threads N : CPU threads (default 0: all cores)\n"
         "--progress : show training progress on stderr even when it is not a terminal\n"
         "--seed N : seed of the folds of -v and -b 1 (default 1)\n"
         "--storage S : auto (default: sparse (CSR) data below 15% non-zeros or when dense "
         "it would exceed 1 GiB), dense or sparse\n"
         "--timings : print the seconds of each phase (read, fit, write) on stderr, one line, "
         "also with -q\n"
         "--help : this text\n";
}

std::string svm_predict_usage() {
  return "Usage: minidl-svm-predict [options] test_file model_file output_file\n"
         "LIBSVM's svm-predict command line, with minidl's predictions.\n"
         "options:\n"
         "-b probability_estimates : whether to predict probability estimates, 0 or 1 "
         "(default 0)\n"
         "-q : quiet mode (no outputs)\n"
         "minidl's options:\n"
         "--device D : auto (default), cpu, cuda or cuda:N\n"
         "--threads N : CPU threads (default 0: all cores)\n"
         "--storage S : auto (default), dense or sparse: the test data's and the support "
         "vectors' storage\n"
         "--timings : print the seconds of each phase (read_data, read_model, predict, write) "
         "on stderr, one line, also with -q\n"
         "--help : this text\n";
}

namespace {

// The long options both tools share. Returns true when `name` was one of them.
bool long_option(const std::string& name, const std::string& value, const std::string& program,
                 std::string& device, int& threads) {
  if (name == "--device") {
    if (value != "auto") {
      try {
        (void)Device::parse(value);
      } catch (const Error& e) {
        throw ValueError(detail::concat("--device: ", e.what()));
      }
    }
    device = value;
    return true;
  }
  if (name == "--threads") {
    threads = static_cast<int>(parse_integer("--threads", value, 0, 4096));
    return true;
  }
  (void)program;
  return false;
}

struct Args {
  std::vector<std::string> items;
  std::size_t i = 1;
  bool more() const { return i < items.size(); }
  const std::string& peek() const { return items[i]; }
  // The value after option items[i - 1].
  std::string value(const std::string& option, const std::string& usage_hint) {
    if (i >= items.size())
      throw ValueError(detail::concat(option, " needs a value (", usage_hint, ")"));
    return items[i++];
  }
};

bool is_option(const std::string& a) { return a.size() >= 2 && a[0] == '-'; }

// "--name=value" or "--name value".
std::pair<std::string, std::string> split_long(Args& args, const std::string& a,
                                               bool takes_value, const char* hint) {
  const std::size_t eq = a.find('=');
  if (eq != std::string::npos) {
    if (!takes_value) throw ValueError(detail::concat(a.substr(0, eq), " takes no value"));
    return {a.substr(0, eq), a.substr(eq + 1)};
  }
  if (!takes_value) return {a, ""};
  return {a, args.value(a, hint)};
}

}  // namespace

SvmTrainCommand parse_svm_train_command(int argc, const char* const argv[]) {
  SvmTrainCommand cmd;
  cmd.svm.C = 1.0;  // svm-train's default
  Args args;
  for (int k = 0; k < argc; ++k) args.items.emplace_back(argv[k]);
  const char* hint = "see minidl-svm-train --help";
  while (args.more() && is_option(args.peek())) {
    const std::string a = args.items[args.i++];
    if (a.rfind("--", 0) == 0) {
      const std::string name = a.substr(0, a.find('='));
      if (name == "--help") throw SvmHelpRequested(svm_train_usage());
      if (name == "--progress" || name == "--timings") {
        split_long(args, a, false, hint);
        (name == "--progress" ? cmd.progress : cmd.timings) = true;
        continue;
      }
      const bool known = name == "--device" || name == "--threads" || name == "--multi-class" ||
                         name == "--seed" || name == "--storage";
      if (!known)
        throw ValueError(detail::concat("unknown option ", detail::excerpt(name, 64), " (", hint, ")"));
      const auto [n, v] = split_long(args, a, true, hint);
      if (n == "--multi-class") {
        set_svm_option(cmd.svm, SvmSetting::MultiClass, n, v);
      } else if (n == "--storage") {
        set_svm_option(cmd.svm, SvmSetting::Storage, n, v);
      } else if (n == "--seed") {
        cmd.seed = static_cast<std::uint64_t>(
            parse_integer(n, v, 0, std::numeric_limits<long long>::max()));
      } else {
        long_option(n, v, "minidl-svm-train", cmd.device, cmd.threads);
      }
      continue;
    }
    if (a == "-q") {
      cmd.quiet = true;
      continue;
    }
    // Every other LIBSVM option takes a value.
    if (a.size() > 2 && a[1] == 'w') {
      // The option carries the label the user typed: named by its first 64 bytes in
      // messages, as any value (found by the command_line fuzz target).
      const std::string option = a.size() <= 64 ? a : a.substr(0, 64) + "...";
      set_svm_class_weight(cmd.svm, option, a.substr(2), args.value(option, hint));
      continue;
    }
    if (a.size() != 2)
      throw ValueError(detail::concat("unknown option ", detail::excerpt(a, 64), " (", hint, ")"));
    const char opt = a[1];
    if (opt == 'w')
      throw ValueError(detail::concat("-w needs a class label: -w<label> <weight>, e.g. -w1 2 (",
                                      hint, ")"));
    const std::string v = args.value(a, hint);
    switch (opt) {
      case 's': {
        const long long s = parse_integer(a, v, 0, 4);
        static const char* const names[] = {"C-SVC", "nu-SVC", "one-class SVM", "epsilon-SVR",
                                            "nu-SVR"};
        if (s != 0)
          throw ValueError(detail::concat("-s ", s, " (", names[s],
                                          ") is not supported: minidl-svm-train trains C-SVC "
                                          "(-s 0) only"));
        break;
      }
      case 't': set_svm_option(cmd.svm, SvmSetting::Kernel, a, v); break;
      case 'd': set_svm_option(cmd.svm, SvmSetting::Degree, a, v); break;
      case 'g': {
        // svm-train reads -g 0 as "the default", 1 / num_features (auto here).
        char* end = nullptr;
        const double g = std::strtod(v.c_str(), &end);
        if (!v.empty() && *end == '\0' && g == 0.0 &&
            !std::isspace(static_cast<unsigned char>(v[0])))
          cmd.svm.gamma = "auto";
        else
          set_svm_option(cmd.svm, SvmSetting::Gamma, a, v);
        break;
      }
      case 'r': set_svm_option(cmd.svm, SvmSetting::Coef0, a, v); break;
      case 'c': set_svm_option(cmd.svm, SvmSetting::C, a, v); break;
      case 'e': set_svm_option(cmd.svm, SvmSetting::Tol, a, v); break;
      case 'm': set_svm_option(cmd.svm, SvmSetting::CacheMb, a, v); break;
      case 'b': set_svm_option(cmd.svm, SvmSetting::Probability, a, v); break;
      case 'h': cmd.svm.shrinking = parse_integer(a, v, 0, 1) == 1; break;
      case 'v': cmd.folds = static_cast<int>(parse_integer(a, v, 2, 1 << 30)); break;
      case 'n':
        throw ValueError("-n (nu) applies to nu-SVC, one-class SVM and nu-SVR (-s 1, 2, 4), which "
                         "minidl does not support: it trains C-SVC (-s 0)");
      case 'p':
        throw ValueError("-p (the epsilon of epsilon-SVR, -s 3) is not supported: minidl trains "
                         "C-SVC (-s 0); the stopping tolerance is -e");
      default:
        throw ValueError(detail::concat("unknown option ", detail::excerpt(a, 64), " (", hint, ")"));
    }
  }
  const std::size_t left = args.items.size() - args.i;
  if (left == 0)
    throw ValueError(detail::concat("missing training_set_file (usage: minidl-svm-train [options] "
                                    "training_set_file [model_file]; ", hint, ")"));
  if (left > 2)
    throw ValueError(detail::concat("unexpected argument ", detail::excerpt(args.items[args.i + 2], 64),
                                    " after training_set_file and model_file (options go before "
                                    "the files, as in svm-train)"));
  cmd.training_file = args.items[args.i];
  if (cmd.training_file.empty() || (left == 2 && args.items[args.i + 1].empty()))
    throw ValueError(detail::concat("an empty file name (",
                                    cmd.training_file.empty() ? "training_set_file" : "model_file",
                                    "): name a file (", hint, ")"));
  if (left == 2) {
    cmd.model_file = args.items[args.i + 1];
  } else {
    // svm-train's rule: the training file's name without its folders, + ".model".
    const std::size_t slash = cmd.training_file.rfind('/');
    cmd.model_file =
        (slash == std::string::npos ? cmd.training_file : cmd.training_file.substr(slash + 1)) +
        ".model";
  }
  if (cmd.svm.multi_class == "ovr" && cmd.svm.probability)
    throw ValueError("-b 1 with --multi-class ovr: probability estimates are defined for "
                     "one-vs-one models (LIBSVM's); drop one of them");
  if (cmd.svm.multi_class == "ovr" && cmd.folds == 0)
    throw ValueError("--multi-class ovr without -v: LIBSVM's model format holds one-vs-one models "
                     "only, so there would be no model file to write (use -v n to cross-validate "
                     "one-vs-rest)");
  return cmd;
}

SvmPredictCommand parse_svm_predict_command(int argc, const char* const argv[]) {
  SvmPredictCommand cmd;
  Args args;
  for (int k = 0; k < argc; ++k) args.items.emplace_back(argv[k]);
  const char* hint = "see minidl-svm-predict --help";
  while (args.more() && is_option(args.peek())) {
    const std::string a = args.items[args.i++];
    if (a.rfind("--", 0) == 0) {
      const std::string name = a.substr(0, a.find('='));
      if (name == "--help") throw SvmHelpRequested(svm_predict_usage());
      if (name == "--timings") {
        split_long(args, a, false, hint);
        cmd.timings = true;
        continue;
      }
      if (name != "--device" && name != "--threads" && name != "--storage")
        throw ValueError(detail::concat("unknown option ", detail::excerpt(name, 64), " (", hint, ")"));
      const auto [n, v] = split_long(args, a, true, hint);
      if (n == "--storage") {
        SvmConfig c;
        set_svm_option(c, SvmSetting::Storage, n, v);
        cmd.storage = c.storage;
      } else {
        long_option(n, v, "minidl-svm-predict", cmd.device, cmd.threads);
      }
    } else if (a == "-q") {
      cmd.quiet = true;
    } else if (a == "-b") {
      cmd.probability = parse_integer(a, args.value(a, hint), 0, 1) == 1;
    } else {
      throw ValueError(detail::concat("unknown option ", detail::excerpt(a, 64), " (", hint, ")"));
    }
  }
  const std::size_t left = args.items.size() - args.i;
  if (left != 3)
    throw ValueError(detail::concat(
        left < 3 ? "missing " : "too many arguments: ",
        left < 3 ? std::vector<const char*>{"test_file, model_file and output_file",
                                            "model_file and output_file", "output_file"}[left]
                 : "",
        left < 3 ? "" : "expected test_file model_file output_file",
        " (usage: minidl-svm-predict [options] test_file model_file output_file; ", hint, ")"));
  static const char* const names[] = {"test_file", "model_file", "output_file"};
  for (std::size_t k = 0; k < 3; ++k)
    if (args.items[args.i + k].empty())
      throw ValueError(
          detail::concat("an empty file name (", names[k], "): name a file (", hint, ")"));
  cmd.test_file = args.items[args.i];
  cmd.model_file = args.items[args.i + 1];
  cmd.output_file = args.items[args.i + 2];
  return cmd;
}

}  // namespace minidl::train
