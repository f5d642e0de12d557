#include "api/artifact_responses.h"

#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (text[pos] == '%' && pos + 2 < text.size() &&
        HexValue(text[pos + 1]) >= 0 && HexValue(text[pos + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[pos + 1]) * 16 + HexValue(text[pos + 2])));
      pos += 2;
    } else {
      out.push_back(text[pos]);
    }
  }
  return out;
}

std::string BaseName(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// Header-safe filename for Content-Disposition: quoted, with '"' and '\' escaped and
// control bytes dropped; non-ASCII names also get the RFC 5987 form.
std::string ContentDisposition(const std::string& filename) {
  bool ascii = true;
  std::string quoted;
  for (unsigned char c : filename) {
    if (c >= 0x80) {
      ascii = false;
      continue;
    }
    if (c < 0x20 || c == 0x7f) continue;
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(static_cast<char>(c));
  }
  if (quoted.empty()) quoted = "download";
  std::string header = absl::StrCat("attachment; filename=\"", quoted, "\"");
  if (!ascii) {
    std::string encoded;
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : filename) {
      if (absl::ascii_isalnum(c) || std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos) {
        encoded.push_back(static_cast<char>(c));
      } else {
        encoded.push_back('%');
        encoded.push_back(kHex[c >> 4]);
        encoded.push_back(kHex[c & 15]);
      }
    }
    absl::StrAppend(&header, "; filename*=UTF-8''", encoded);
  }
  return header;
}

}  // namespace

std::string GuessContentType(std::string_view file_name) {
  std::string name = BaseName(file_name);
  size_t dot = name.rfind('.');
  std::string extension = dot == std::string::npos ? name : name.substr(dot + 1);
  static constexpr std::string_view kText[] = {
      "txt",  "log",  "err", "cfg", "conf", "cnf",  "cf",  "ini", "properties",
      "prop", "hocon", "toml", "yaml", "yml", "xml", "json", "js", "py",
      "py3",  "csv",  "tsv", "md",  "rst",  "ipynb", "MLmodel", "MLproject"};
  for (std::string_view text : kText) {
    if (extension == text) return "text/plain";
  }
  if (dot == std::string::npos) return "application/octet-stream";
  std::string lower = absl::AsciiStrToLower(extension);
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html"},       {"htm", "text/html"},         {"css", "text/css"},
      {"png", "image/png"},        {"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},        {"svg", "image/svg+xml"},     {"bmp", "image/bmp"},
      {"webp", "image/webp"},      {"tif", "image/tiff"},        {"tiff", "image/tiff"},
      {"ico", "image/vnd.microsoft.icon"}, {"pdf", "application/pdf"},
      {"zip", "application/zip"},  {"gz", "application/gzip"},   {"tar", "application/x-tar"},
      {"mp4", "video/mp4"},        {"mp3", "audio/mpeg"},        {"wav", "audio/x-wav"},
      {"sh", "application/x-sh"},  {"wasm", "application/wasm"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (lower == ext) return std::string(type);
  }
  return "application/octet-stream";
}

absl::Status ValidatePathIsSafe(std::string_view path) {
  std::string decoded(path);
  for (int round = 0; round < 10; ++round) {
    std::string next = PercentDecode(decoded);
    if (next == decoded) break;
    decoded = std::move(next);
  }
  absl::Status invalid = absl::InvalidArgumentError("Invalid path");
  if (decoded.find('#') != std::string::npos || decoded.find('\\') != std::string::npos ||
      decoded.find('\0') != std::string::npos) {
    return invalid;
  }
  if (!decoded.empty() && decoded.front() == '/') return invalid;
  if (decoded.size() >= 2 && decoded[1] == ':') return invalid;  // "C:…"
  size_t start = 0;
  while (start <= decoded.size()) {
    size_t end = decoded.find('/', start);
    if (end == std::string::npos) end = decoded.size();
    if (std::string_view(decoded).substr(start, end - start) == "..") return invalid;
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> FileDownloadResponse(const storage::ArtifactStore& store,
                                                  std::string_view relative_path) {
  CAIRN_RETURN_IF_ERROR(ValidatePathIsSafe(relative_path));
  CAIRN_ASSIGN_OR_RETURN(std::string resolved, store.Resolve(relative_path));
  std::error_code ec;
  if (std::filesystem::is_directory(resolved, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Artifact path refers to a directory, not a file: '", ToAbsl(relative_path), "'"));
  }
  CAIRN_ASSIGN_OR_RETURN(std::string file, store.FileForRead(relative_path));
  HttpResponse response;
  response.file_path = std::move(file);
  response.content_type = GuessContentType(relative_path);
  response.headers.emplace_back("Content-Disposition",
                                ContentDisposition(BaseName(relative_path)));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

absl::StatusOr<Json> ListFilesJson(const storage::ArtifactStore& store,
                                   std::string_view store_dir, std::string_view display_prefix) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<storage::ArtifactStore::FileInfo> infos,
                         store.List(store_dir));
  Json files = Json::array();
  for (const storage::ArtifactStore::FileInfo& info : infos) {
    Json file = {{"path", JoinRelative(display_prefix, BaseName(info.path))},
                 {"is_dir", info.is_dir}};
    if (!info.is_dir) file["file_size"] = info.file_size;
    files.push_back(std::move(file));
  }
  return files;
}

std::string JoinRelative(std::string_view base, std::string_view rest) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (base.empty()) return std::string(rest);
  if (rest.empty()) return std::string(base);
  return absl::StrCat(ToAbsl(base), "/", ToAbsl(rest));
}

}  // namespace cairn::api
