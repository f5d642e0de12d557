// libFuzzer: arbitrary bytes as an endpoint definition file. Parsing must return a spec or
// an InvalidArgument (never crash, hang or leak), and every parsed spec must survive the
// canonical JSON round trip unchanged and pass ValidateEndpointSpec.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "serving/endpoint_json.h"
#include "serving/endpoint_yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto specs = cairn::serving::ParseEndpointsYaml(text, "fuzz.yaml");
  if (!specs.ok()) {
    if (specs.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  for (const cairn::serving::EndpointSpec& spec : *specs) {
    if (!cairn::serving::ValidateEndpointSpec(spec).ok()) std::abort();
    auto back = cairn::serving::EndpointSpecFromJson(cairn::serving::EndpointSpecToJson(spec));
    if (!back.ok() || !(*back == spec)) std::abort();
  }
  return 0;
}
