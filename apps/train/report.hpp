// What minidl-train shows and writes: the progress line, the confusion matrix,
// the metrics CSV and an SVG chart of the loss and accuracy curves. Files are
// written atomically (temporary file, fsync, rename).
#pragma once

#include <string>
#include <vector>

#include "trainer.hpp"

namespace minidl::train {

/// "epoch 2/10 [=========>          ] 234/469  loss 0.4123  52,311 img/s  ETA 0:04"
std::string progress_line(const Progress& p, int width = 28);
/// One line per epoch for logs.
std::string epoch_line(const EpochMetrics& m, int epochs);
/// A 10 x 10 table with class names, rows true class, columns predicted.
std::string confusion_table(const Evaluation& e, const std::vector<std::string>& class_names);
/// An SVG document: training and test loss per epoch (left), test accuracy (right).
std::string curves_svg(const std::vector<EpochMetrics>& history);
/// Writes `content` to `path` atomically; throws IoError naming the path.
void write_text_file(const std::string& path, const std::string& content);

}  // namespace minidl::train
