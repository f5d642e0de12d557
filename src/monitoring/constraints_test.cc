#include "monitoring/constraints.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/testing/frames.h"

namespace cairn::monitoring {
namespace {

using test_support::Categorical;
using test_support::Frame;
using test_support::Numeric;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const double kNaN = std::nan("");

// Reference: age (Integral, non-negative, 0..90), score (Fractional, can be negative),
// city (String, 3 labels), note (String, complete).
DataFrame Reference() {
  std::vector<double> age, score;
  std::vector<int32_t> city;
  for (int i = 0; i < 100; ++i) {
    age.push_back(i % 91);
    score.push_back(-1.0 + i * 0.02);
    city.push_back(i % 3);
  }
  return Frame({Numeric("age", age), Numeric("score", score),
                Categorical("city", city, {"berlin", "lyon", "oslo"})});
}

Constraints Baseline() {
  auto profile = ProfileFrame(Reference());
  EXPECT_TRUE(profile.ok());
  return InferConstraints(*profile);
}

std::vector<std::string> Types(const std::vector<Violation>& violations) {
  std::vector<std::string> out;
  for (const Violation& v : violations) out.push_back(v.feature_name + ":" + v.constraint_check_type);
  return out;
}

TEST(ConstraintsTest, InferredLikeSageMaker) {
  Constraints c = Baseline();
  ASSERT_EQ(c.features.size(), 3u);
  EXPECT_EQ(c.features[0].name, "age");
  EXPECT_EQ(c.features[0].inferred_type, InferredType::kIntegral);
  EXPECT_EQ(c.features[0].completeness, 1.0);
  EXPECT_EQ(c.features[0].is_non_negative, true);
  EXPECT_EQ(c.features[0].min, 0);
  EXPECT_EQ(c.features[0].max, 90);
  EXPECT_EQ(c.features[1].inferred_type, InferredType::kFractional);
  EXPECT_EQ(c.features[1].is_non_negative, false);
  EXPECT_EQ(c.features[2].inferred_type, InferredType::kString);
  EXPECT_THAT(c.features[2].domain, ElementsAre("berlin", "lyon", "oslo"));
  Json json = ConstraintsToJson(c);
  EXPECT_EQ(json["features"][2]["string_constraints"]["domains"],
            (Json{"berlin", "lyon", "oslo"}));
  EXPECT_EQ(json["features"][0]["num_constraints"]["is_non_negative"], true);
  EXPECT_EQ(json["monitoring_config"]["evaluate_constraints"], "Enabled");
  auto back = ConstraintsFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ConstraintsToJson(*back), json);
}

TEST(ConstraintsTest, ReferenceItselfPasses) {
  auto violations = CheckConstraints(Baseline(), Reference());
  ASSERT_TRUE(violations.ok());
  EXPECT_THAT(*violations, ElementsAre());
}

TEST(ConstraintsTest, EveryCheckFiresWithADescriptiveMessage) {
  // age: a fractional value, a negative one and a missing one; score: far out of range;
  // city: an unknown label; a column missing (none) and one extra.
  DataFrame current = Frame({
      Numeric("age", {1, 2.5, -3, kNaN}),
      Numeric("score", {0, 50, 60, 0.5}),
      Categorical("city", {0, 1, 2, 2}, {"berlin", "paris", "oslo"}),
      Numeric("extra", {1, 2, 3, 4}),
  });
  auto violations = CheckConstraints(Baseline(), current);
  ASSERT_TRUE(violations.ok()) << violations.status();
  EXPECT_THAT(Types(*violations),
              ElementsAre("age:data_type_check", "age:completeness_check", "age:range_check",
                          "score:range_check", "city:categorical_values_check",
                          "extra:extra_column_check"));
  const std::vector<Violation>& v = *violations;
  EXPECT_EQ(v[0].description,
            "column 'age': 1 of 3 non-null values (33.33%) are not Integral, e.g. 2.5; the "
            "baseline type is Integral and datatype_check_threshold is 1");
  EXPECT_EQ(v[1].description,
            "column 'age': completeness 0.75 (1 of 4 values missing) is below the "
            "baseline's 1");
  EXPECT_EQ(v[2].description,
            "column 'age': 1 negative value (min -3), but the baseline is non-negative; 1 of 3 "
            "values (33.33%) are outside the baseline range [0, 90] (observed min -3, max "
            "2.5); out_of_range_threshold is 0.01");
  EXPECT_EQ(v[3].description,
            "column 'score': 2 of 4 values (50%) are outside the baseline range [-1, 0.98] "
            "(observed min 0, max 60); out_of_range_threshold is 0.01");
  EXPECT_EQ(v[4].description,
            "column 'city': 1 of 4 values (25%) are not in the baseline domain of 3 labels, "
            "e.g. 'paris'; domain_content_threshold is 1");
  EXPECT_THAT(v[5].description, HasSubstr("column 'extra' is in the data but not in the "
                                          "baseline constraints"));
}

TEST(ConstraintsTest, MissingColumnAndNoExtraCheckWhenOff) {
  Constraints c = Baseline();
  c.config.check_extra_columns = false;
  DataFrame current = Frame({Numeric("age", {1}), Numeric("score", {0}), Numeric("other", {1})});
  auto violations = CheckConstraints(c, current);
  ASSERT_TRUE(violations.ok());
  ASSERT_THAT(Types(*violations), ElementsAre("city:missing_column_check"));
  EXPECT_EQ((*violations)[0].description,
            "column 'city' is in the baseline constraints (String) but not in the data");
}

TEST(ConstraintsTest, TypeCheckOnCategoricalLabelsAndThreshold) {
  Constraints c = Baseline();
  c.config.check_extra_columns = false;
  // age arrives as text: "7" reads as Integral, "x" does not.
  DataFrame current = Frame({Categorical("age", {0, 0, 0, 1}, {"7", "x"}),
                             Numeric("score", {0, 0, 0, 0}),
                             Categorical("city", {0, 0, 0, 0}, {"oslo"})});
  auto violations = CheckConstraints(c, current);
  ASSERT_TRUE(violations.ok());
  ASSERT_THAT(Types(*violations), ElementsAre("age:data_type_check"));
  EXPECT_THAT((*violations)[0].description, HasSubstr("1 of 4 non-null values (25%) are not "
                                                      "Integral, e.g. 'x'"));
  c.config.datatype_check_threshold = 0.7;  // 75% match: allowed now
  EXPECT_THAT(Types(*CheckConstraints(c, current)), ElementsAre());
}

TEST(ConstraintsTest, ProfileCheckAgreesWithFrameCheck) {
  DataFrame current = Frame({
      Numeric("age", {1, 2.5, -3, kNaN}),
      Numeric("score", {0, 50, 60, 0.5}),
      Categorical("city", {0, 1, 2, 2}, {"berlin", "paris", "oslo"}),
      Numeric("extra", {1, 2, 3, 4}),
  });
  auto profile = ProfileFrame(current);
  auto from_profile = CheckConstraintsOnProfile(Baseline(), *profile);
  auto from_frame = CheckConstraints(Baseline(), current);
  ASSERT_TRUE(from_profile.ok());
  EXPECT_EQ(Types(*from_profile), Types(*from_frame));
}

TEST(ConstraintsTest, BadConstraintsNameTheField) {
  Json json = ConstraintsToJson(Baseline());
  json["features"][1]["inferred_type"] = "Float";
  EXPECT_EQ(ConstraintsFromJson(json).status().message(),
            "constraints: features[1].inferred_type: must be Integral, Fractional, String or "
            "Unknown, got \"Float\"");
  json = ConstraintsToJson(Baseline());
  json["monitoring_config"]["domain_content_threshold"] = 2;
  EXPECT_EQ(ConstraintsFromJson(json).status().message(),
            "constraints: monitoring_config.domain_content_threshold: must be a number from 0 "
            "to 1, got 2");
  Constraints c = Baseline();
  c.config.out_of_range_threshold = -1;
  EXPECT_EQ(CheckConstraints(c, Reference()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConstraintsTest, LargeDomainGetsNoCategoricalCheck) {
  std::vector<int32_t> codes;
  std::vector<std::string> labels;
  for (int i = 0; i < 150; ++i) {
    codes.push_back(i);
    labels.push_back("id" + std::to_string(i));
  }
  auto profile = ProfileFrame(Frame({Categorical("id", codes, labels)}));
  Constraints c = InferConstraints(*profile);
  EXPECT_TRUE(c.features[0].domain.empty());
  Json json = ConstraintsToJson(c);
  EXPECT_FALSE(json["features"][0].contains("string_constraints"));
}

}  // namespace
}  // namespace cairn::monitoring
