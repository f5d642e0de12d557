#include "demo/step_io.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::demo {
namespace {

absl::Status WriteFile(const std::string& path, const std::string& text) {
  const std::filesystem::path file(path);
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot write the file"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read the file (does it exist?)"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void AppendFloat(float value, std::string* out) {
  if (std::isnan(value)) return;  // missing: an empty field
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, end);
}

}  // namespace

absl::Status WriteDatasetCsv(const Dataset& data, const std::string& path) {
  std::string text = "label";
  for (const std::string& name : data.feature_names) absl::StrAppend(&text, ",", name);
  text.push_back('\n');
  const size_t cols = data.cols();
  for (size_t row = 0; row < data.rows(); ++row) {
    AppendFloat(data.labels[row], &text);
    for (size_t col = 0; col < cols; ++col) {
      text.push_back(',');
      AppendFloat(data.features[row * cols + col], &text);
    }
    text.push_back('\n');
  }
  return WriteFile(path, text);
}

absl::StatusOr<Dataset> ReadDatasetCsv(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Dataset data;
  size_t line_start = 0;
  int line_number = 0;
  while (line_start < text.size()) {
    size_t line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    const std::string_view line(text.data() + line_start, line_end - line_start);
    line_start = line_end + 1;
    ++line_number;
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(ToAbsl(line), ',');
    if (line_number == 1) {
      if (fields.empty() || fields[0] != "label") {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":1: the header must start with 'label' (a dataset written by `cairn demo "
                  "step training-set`)"));
      }
      for (size_t idx = 1; idx < fields.size(); ++idx) {
        data.feature_names.emplace_back(ToStd(fields[idx]));
      }
      continue;
    }
    if (fields.size() != data.cols() + 1) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ",
                                                     fields.size(), " fields, the header has ",
                                                     data.cols() + 1));
    }
    for (size_t idx = 0; idx < fields.size(); ++idx) {
      float value = std::numeric_limits<float>::quiet_NaN();
      absl::string_view field = fields[idx];
      if (!field.empty()) {
        auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
        if (ec != std::errc() || end != field.data() + field.size()) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ":", line_number, ": column '",
              idx == 0 ? std::string("label") : data.feature_names[idx - 1], "': '", field,
              "' is not a number"));
        }
      }
      if (idx == 0) {
        data.labels.push_back(value);
      } else {
        data.features.push_back(value);
      }
    }
  }
  if (line_number == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty file, expected a header"));
  }
  return data;
}

absl::Status WriteJsonFile(const Json& value, const std::string& path) {
  return WriteFile(path, value.dump(2) + "\n");
}

absl::StatusOr<Json> ReadJsonFile(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  absl::StatusOr<Json> parsed = ParseJson(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", parsed.status().message()));
  }
  return parsed;
}

}  // namespace cairn::demo
