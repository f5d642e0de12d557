// libFuzzer target: arbitrary bytes as a YAML definition file. Invariants beyond "no
// crash, no hang, no exception": errors are InvalidArgument and name the file; every
// parsed definition survives the canonical JSON round trip with the same content hash;
// cross-object validation (without an expression checker) never fails other than
// InvalidArgument.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"
#include "features/definition_json.h"
#include "features/definition_validation.h"
#include "features/definition_yaml.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::features;  // NOLINT
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = ParseDefinitionsYaml(input, "fuzz.yaml");
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    Check(parsed.status().message().substr(0, 9) == "fuzz.yaml");
    return 0;
  }
  Check(parsed->field_lines.size() == parsed->definitions.size());
  for (const Definition& def : parsed->definitions) {
    auto back = DefinitionFromJson(ToCanonicalJson(def));
    Check(back.ok());
    Check(back->kind == def.kind);
    Check(back->spec == def.spec);
    Check(ContentHash(*back) == ContentHash(def));
  }
  absl::Status valid = ValidateDefinitions(*parsed, {}, nullptr);
  Check(valid.ok() || valid.code() == absl::StatusCode::kInvalidArgument);
  return 0;
}
