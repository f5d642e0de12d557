#include "common/sha256.h"

#include "gtest/gtest.h"

namespace cairn {
namespace {

TEST(Sha256Test, KnownVectors) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, LowerHexWritesTwoDigitsPerByte) {
  const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(LowerHex(bytes, sizeof(bytes)), "000fa5ff");
  EXPECT_EQ(LowerHex(bytes, 0), "");
}

}  // namespace
}  // namespace cairn
