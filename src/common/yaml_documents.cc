#include "common/yaml_documents.h"

#include <yaml.h>

#include <cstdio>
#include <exception>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn {
namespace {

// Parses `text` with libyaml to the end of the stream, events only; InvalidArgument with
// libyaml's line and reason on a syntax error.
absl::Status CheckYamlSyntax(std::string_view text, std::string_view file) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return absl::InternalError("libyaml: out of memory");
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  absl::Status status = absl::OkStatus();
  for (bool done = false; !done;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      status = absl::InvalidArgumentError(absl::StrCat(
          ToAbsl(file), ":", parser.problem_mark.line + 1, ": invalid YAML: ",
          parser.problem != nullptr ? parser.problem : "syntax error",
          parser.context != nullptr ? absl::StrCat(" ", parser.context) : ""));
      break;
    }
    done = event.type == YAML_STREAM_END_EVENT;
    // Anchors, aliases and explicit tags have no use in definitions, and yaml-cpp 0.7
    // loops on some uses of them that libyaml accepts (found by the fuzzer).
    const char* what = nullptr;
    switch (event.type) {
      case YAML_ALIAS_EVENT: what = "aliases (*name)"; break;
      case YAML_SCALAR_EVENT:
        if (event.data.scalar.anchor != nullptr) what = "anchors (&name)";
        else if (event.data.scalar.tag != nullptr) what = "tags (!tag)";
        break;
      case YAML_SEQUENCE_START_EVENT:
        if (event.data.sequence_start.anchor != nullptr) what = "anchors (&name)";
        else if (event.data.sequence_start.tag != nullptr) what = "tags (!tag)";
        break;
      case YAML_MAPPING_START_EVENT:
        if (event.data.mapping_start.anchor != nullptr) what = "anchors (&name)";
        else if (event.data.mapping_start.tag != nullptr) what = "tags (!tag)";
        break;
      default: break;
    }
    if (what != nullptr) {
      status = absl::InvalidArgumentError(absl::StrCat(
          ToAbsl(file), ":", event.start_mark.line + 1, ": YAML ", what,
          " are not supported in definitions; write the value out"));
      yaml_event_delete(&event);
      break;
    }
    yaml_event_delete(&event);
  }
  yaml_parser_delete(&parser);
  return status;
}

}  // namespace

absl::StatusOr<std::vector<YAML::Node>> LoadYamlDocuments(std::string_view text,
                                                          std::string_view file) {
  // YAML allows only printable characters (YAML 1.2 §5.1: tab, line breaks and no other
  // C0 control or DEL). Checked here, before yaml-cpp 0.7 sees them: some inputs with
  // control characters send its scanner into a loop that never ends (found by fuzzing;
  // fuzz/regressions/definition_yaml_fuzz/).
  // yaml-cpp also recurses once per nesting level, so deep flow nesting ("[[[[…") or deep
  // indentation would overflow the stack: definitions never nest more than a few levels.
  constexpr int kMaxFlowDepth = 64;
  constexpr int kMaxIndent = 512;
  int line = 1, flow_depth = 0, indent = 0;
  bool at_line_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      at_line_start = true;
      indent = 0;
      continue;
    }
    if (at_line_start && (c == ' ' || c == '\t' || c == '-')) {
      if (++indent > kMaxIndent) {
        return absl::InvalidArgumentError(absl::StrCat(
            ToAbsl(file), ":", line, ": invalid YAML: indented more than ", kMaxIndent,
            " columns"));
      }
    } else {
      at_line_start = false;
    }
    if (c >= 0x80) {
      // YAML text is Unicode: a malformed UTF-8 sequence is refused here (yaml-cpp 0.7
      // loops on some of them).
      size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3
                                              : c >= 0xc2 && c <= 0xdf ? 2 : 0;
      bool ok = len > 0 && i + len <= text.size();
      for (size_t k = 1; ok && k < len; ++k) {
        ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
      }
      if (ok && len == 3) {
        unsigned char c1 = static_cast<unsigned char>(text[i + 1]);
        ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
      }
      if (ok && len == 4) {
        unsigned char c1 = static_cast<unsigned char>(text[i + 1]);
        ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);  // overlong, > U+10FFFF
      }
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(
            ToAbsl(file), ":", line, ": invalid YAML: the file is not valid UTF-8"));
      }
      i += len - 1;
      at_line_start = false;
      continue;
    }
    if (c == '[' || c == '{') {
      if (++flow_depth > kMaxFlowDepth) {
        return absl::InvalidArgumentError(absl::StrCat(
            ToAbsl(file), ":", line, ": invalid YAML: nested more than ", kMaxFlowDepth,
            " levels deep"));
      }
    } else if ((c == ']' || c == '}') && flow_depth > 0) {
      --flow_depth;
    }
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02x", c);
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ":", line, ": invalid YAML: control character ", hex,
                       " (YAML allows only printable characters, tabs and line breaks)"));
    }
  }
  // libyaml (the reference C parser, fuzzed upstream) checks the syntax first; yaml-cpp
  // 0.7 only sees text libyaml accepts, because on some malformed input its scanner never
  // returns (found by definition_yaml_fuzz; fuzz/regressions/definition_yaml_fuzz/).
  CAIRN_RETURN_IF_ERROR(CheckYamlSyntax(text, file));
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(file), ":", e.mark.line + 1,
                                                   ": invalid YAML: ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(file), ": invalid YAML: ", e.what()));
  }
  return docs;
}

std::string YamlShown(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsScalar()) {
    std::string text = node.Scalar();
    if (text.size() > 80) text = text.substr(0, 77) + "...";
    return absl::StrCat("'", text, "'");
  }
  if (node.IsSequence()) return absl::StrCat("a list of ", node.size());
  return absl::StrCat("a map of ", node.size(), " keys");
}

int YamlLine(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  YAML::Mark mark = node.Mark();
  return mark.line < 0 ? 0 : mark.line + 1;
}

}  // namespace cairn
