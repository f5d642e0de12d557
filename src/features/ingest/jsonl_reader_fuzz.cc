// libFuzzer target: arbitrary bytes as a JSON Lines file read against a five-column
// schema (reader_fuzz_check.h lists the invariants; the first byte picks the options).
// Seeds: fuzz/corpus/jsonl_reader_fuzz/.

#include <cstddef>
#include <cstdint>

#include "features/ingest/jsonl_reader.h"
#include "features/ingest/reader_fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cairn::features::ingest_internal::FuzzOneInput(
      cairn::features::ingest_internal::MakeJsonlReader, data, size);
  return 0;
}
