#include "common/did_you_mean.h"

#include "gtest/gtest.h"

namespace cairn {
namespace {

TEST(DidYouMeanTest, EditDistanceCountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
  EXPECT_EQ(EditDistance("", "ab"), 2u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("flaw", "lawn"), 2u);
  EXPECT_EQ(EditDistance("same", "same"), 0u);
}

TEST(DidYouMeanTest, NearestNameWithinHalfTheWord) {
  EXPECT_EQ(NearestName("entites", {"entities", "source"}), "entities");
  EXPECT_EQ(NearestName("zzzzzz", {"entities", "source"}), "");
  // Ties go to the first candidate.
  EXPECT_EQ(NearestName("cat", {"bat", "hat"}), "bat");
  // Two edits are always allowed, even for short words.
  EXPECT_EQ(NearestName("ab", {"xy"}), "xy");
  EXPECT_EQ(NearestName("ab", {"xyz"}), "");
  EXPECT_EQ(NearestName("anything", {}), "");
}

TEST(DidYouMeanTest, HintAndJoin) {
  EXPECT_EQ(DidYouMean("shedule", {"schedule", "steps"}), "; did you mean 'schedule'?");
  EXPECT_EQ(DidYouMean("qqqqqqqq", {"schedule", "steps"}), "");
  EXPECT_EQ(JoinNames({"a", "b", "c"}), "a, b, c");
  EXPECT_EQ(JoinNames({}), "");
}

}  // namespace
}  // namespace cairn
