#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "io/atomic_file.hpp"

namespace minidl::train {

namespace {
std::string with_commas(double v) {
  std::string s = std::to_string(static_cast<long long>(std::llround(v)));
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
    s.insert(static_cast<std::size_t>(i), ",");
  return s;
}
std::string minutes_seconds(double s) {
  const long long t = std::llround(std::max(0.0, s));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
  return buf;
}
}  // namespace

std::string progress_line(const Progress& p, int width) {
  const double frac =
      p.steps ? static_cast<double>(p.step) / static_cast<double>(p.steps) : 1.0;
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<std::size_t>(width), ' ');
  for (int i = 0; i < filled; ++i) bar[static_cast<std::size_t>(i)] = '=';
  if (filled < width) bar[static_cast<std::size_t>(filled)] = '>';
  std::ostringstream out;
  out << "epoch " << p.epoch << "/" << p.epochs << " [" << bar << "] " << p.step << "/"
      << p.steps << "  loss " << std::fixed << std::setprecision(4) << p.loss << "  "
      << with_commas(p.images_per_second) << " img/s  ETA " << minutes_seconds(p.eta_seconds);
  return out.str();
}

std::string epoch_line(const EpochMetrics& m, int epochs) {
  std::ostringstream out;
  out << "epoch " << m.epoch << "/" << epochs << "  train loss " << std::fixed
      << std::setprecision(4) << m.train_loss << "  test loss " << m.val_loss << "  test accuracy "
      << std::setprecision(2) << 100.0 * m.val_accuracy << "%  " << std::setprecision(1)
      << m.seconds << " s  " << with_commas(m.images_per_second) << " img/s";
  return out.str();
}

std::string confusion_table(const Evaluation& e, const std::vector<std::string>& names) {
  std::ostringstream out;
  out << std::setw(13) << "true \\ pred";
  for (std::size_t j = 0; j < 10; ++j) out << std::setw(7) << names[j].substr(0, 6);
  out << "\n";
  for (std::size_t i = 0; i < 10; ++i) {
    out << std::setw(13) << names[i].substr(0, 12);
    for (std::size_t j = 0; j < 10; ++j) out << std::setw(7) << e.confusion[i][j];
    out << "\n";
  }
  return out.str();
}

std::string curves_svg(const std::vector<EpochMetrics>& history) {
  constexpr double W = 940, H = 380, panel = 380, top = 50, plot_h = 260, left0 = 70, left1 = 520;
  std::ostringstream s;
  s << std::fixed << std::setprecision(2);
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" viewBox=\"0 0 " << W << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  const std::size_t n = history.size();
  auto x_at = [&](double left, std::size_t i) {
    return left +
           (n <= 1 ? panel / 2 : panel * static_cast<double>(i) / static_cast<double>(n - 1));
  };
  auto panel_frame = [&](double left, const std::string& title, double lo, double hi,
                         const std::string& fmt_suffix) {
    s << "<text x=\"" << left + panel / 2 << "\" y=\"30\" text-anchor=\"middle\" font-size=\"15\">"
      << title << "</text>\n";
    s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << panel << "\" height=\""
      << plot_h << "\" fill=\"none\" stroke=\"#444\"/>\n";
    for (int k = 0; k <= 4; ++k) {
      const double v = lo + (hi - lo) * k / 4.0;
      const double y = top + plot_h - plot_h * k / 4.0;
      s << "<line x1=\"" << left << "\" x2=\"" << left + panel << "\" y1=\"" << y << "\" y2=\"" << y
        << "\" stroke=\"#ddd\"/>\n";
      std::ostringstream label;
      label << std::setprecision(3) << v << fmt_suffix;  // 3 significant digits: 0.255, 89.5%
      s << "<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
        << label.str() << "</text>\n";
    }
    for (std::size_t i = 0; i < n; ++i) {
      s << "<text x=\"" << x_at(left, i) << "\" y=\"" << top + plot_h + 18
        << "\" text-anchor=\"middle\">" << history[i].epoch << "</text>\n";
    }
    s << "<text x=\"" << left + panel / 2 << "\" y=\"" << top + plot_h + 38
      << "\" text-anchor=\"middle\">epoch</text>\n";
  };
  auto polyline = [&](double left, double lo, double hi, const std::string& colour, auto value) {
    s << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" points=\"";
    for (std::size_t i = 0; i < n; ++i) {
      const double v = (value(history[i]) - lo) / std::max(hi - lo, 1e-12);
      s << x_at(left, i) << "," << top + plot_h - plot_h * std::clamp(v, 0.0, 1.0) << " ";
    }
    s << "\"/>\n";
    for (std::size_t i = 0; i < n; ++i) {
      const double v = (value(history[i]) - lo) / std::max(hi - lo, 1e-12);
      s << "<circle cx=\"" << x_at(left, i) << "\" cy=\""
        << top + plot_h - plot_h * std::clamp(v, 0.0, 1.0) << "\" r=\"3\" fill=\"" << colour
        << "\"/>\n";
    }
  };
  double lmax = 0, amin = 1, amax = 0;
  for (const EpochMetrics& m : history) {
    lmax = std::max({lmax, m.train_loss, m.val_loss});
    amin = std::min(amin, m.val_accuracy);
    amax = std::max(amax, m.val_accuracy);
  }
  lmax = lmax > 0 ? lmax * 1.1 : 1.0;
  const double alo = std::max(0.0, std::floor((amin - 0.02) * 50) / 50),
               ahi = std::min(1.0, std::ceil((amax + 0.01) * 50) / 50);
  panel_frame(left0, "Loss", 0.0, lmax, "");
  polyline(left0, 0.0, lmax, "#1f77b4", [](const EpochMetrics& m) { return m.train_loss; });
  polyline(left0, 0.0, lmax, "#ff7f0e", [](const EpochMetrics& m) { return m.val_loss; });
  s << "<text x=\"" << left0 + panel - 10 << "\" y=\"" << top + 18
    << "\" text-anchor=\"end\" fill=\"#1f77b4\">train</text>\n";
  s << "<text x=\"" << left0 + panel - 10 << "\" y=\"" << top + 34
    << "\" text-anchor=\"end\" fill=\"#ff7f0e\">test</text>\n";
  panel_frame(left1, "Test accuracy", alo * 100, ahi * 100, "%");
  polyline(left1, alo, ahi, "#2ca02c", [](const EpochMetrics& m) { return m.val_accuracy; });
  s << "</svg>\n";
  return s.str();
}

void write_text_file(const std::string& path, const std::string& content) {
  AtomicFile file(path, "write_text_file");
  file.write(content);
  file.commit();
}

}  // namespace minidl::train
