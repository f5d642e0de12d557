// libFuzzer target: arbitrary bytes as a CSV file read against a five-column schema
// (reader_fuzz_check.h lists the invariants; the first byte picks the options).
// Seeds: fuzz/corpus/csv_reader_fuzz/.

#include <cstddef>
#include <cstdint>

#include "features/ingest/csv_reader.h"
#include "features/ingest/reader_fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cairn::features::ingest_internal::FuzzOneInput(cairn::features::ingest_internal::MakeCsvReader,
                                                 data, size);
  return 0;
}
