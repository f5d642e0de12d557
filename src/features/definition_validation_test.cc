// Checks across definitions: references, join-key types, timestamp fields, feature
// columns, expression types (with a fake checker), service references, duplicates.

#include "features/definition_validation.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

using ::testing::HasSubstr;

constexpr char kBase[] = R"yaml(kind: Entity
name: customer
join_key: customer_id
---
kind: Source
name: transactions
timestamp_field: event_timestamp
schema:
  - {name: customer_id, type: int64}
  - {name: event_timestamp, type: timestamp}
  - {name: amount, type: double}
  - {name: n, type: int64}
  - {name: country, type: string}
)yaml";

DefinitionSet Parse(const std::string& text) {
  auto parsed = ParseDefinitionsYaml(text, "d.yaml");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : DefinitionSet();
}

// A stand-in for Expression::Compile: "bad…" fails, "str…" is a string, else double.
absl::StatusOr<FeatureType> FakeCheck(std::string_view text, const Schema&) {
  if (text.rfind("bad", 0) == 0) {
    return absl::InvalidArgumentError("expr 'bad': position 1: unknown function 'bad'");
  }
  if (text.rfind("str", 0) == 0) return FeatureType::kString;
  return FeatureType::kDouble;
}

std::string ViewWith(const std::string& feature, const std::string& extra = "") {
  return std::string(kBase) + "---\nkind: FeatureView\nname: v\nentities: [customer]\n" +
         "source: transactions\n" + extra + "features:\n  - " + feature + "\n";
}

absl::Status Validate(const std::string& text) {
  return ValidateDefinitions(Parse(text), {}, FakeCheck);
}

TEST(DefinitionValidationTest, AcceptsAConsistentSet) {
  EXPECT_TRUE(Validate(ViewWith("{name: amount, type: double}") +
                       "  - {name: n, type: double}\n"
                       "  - {name: x, type: double, expr: 'log1p(amount)'}\n"
                       "  - {name: s, type: double, agg: sum, of: n, window: 1d}\n"
                       "  - {name: c, type: int64, agg: count, window: 1d}\n"
                       "---\nkind: FeatureService\nname: svc\nfeatures: [v:x, v]\n")
                  .ok());
}

TEST(DefinitionValidationTest, EachRuleNamesLineFieldAndValue) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {ViewWith("{name: amount, type: double}", "").replace(
           ViewWith("", "").find("source: transactions\nfeatures"), 20, "source: transaction\n"),
       "d.yaml:18: FeatureView v: field 'source': value 'transaction' is not a Source (did you "
       "mean 'transactions'?)"},
      {ViewWith("{name: amunt, type: double}"),
       "d.yaml:20: FeatureView v: field 'features[0].name': value 'amunt' is not a column of "
       "source 'transactions' (did you mean 'amount'?)"},
      {ViewWith("{name: country, type: double}"),
       "d.yaml:20: FeatureView v: field 'features[0].type': value 'double' does not match "
       "column 'country' of source 'transactions', which is string"},
      {ViewWith("{name: x, type: double, expr: 'bad(amount)'}"),
       "d.yaml:20: FeatureView v: field 'features[0].expr': value 'bad(amount)': expr 'bad': "
       "position 1: unknown function 'bad'"},
      {ViewWith("{name: x, type: double, expr: 'str(amount)'}"),
       "field 'features[0].expr': value 'str(amount)' yields string but the feature is "
       "declared double"},
      {ViewWith("{name: x, type: double, agg: sum, of: country, window: 1d}"),
       "field 'features[0].of': value 'country' is string; sum needs a numeric input"},
      {ViewWith("{name: customer_id, type: int64}"),
       "field 'features[0].name': value 'customer_id' is a join key of the view"},
      {std::string(kBase) + "---\nkind: Entity\nname: customer\njoin_key: id\n",
       "d.yaml:16: Entity customer: field 'name': value 'customer' is already used by Entity "
       "at d.yaml:1"},
      {std::string(kBase) + "---\nkind: Entity\nname: acct\njoin_key: acct\n---\n"
           "kind: FeatureView\nname: v\nentities: [acct]\nsource: transactions\n"
           "features: [{name: amount, type: double}]\n",
       "d.yaml:21: FeatureView v: field 'entities[0]': value 'acct': join key 'acct' is not a "
       "column of source 'transactions'"},
      {std::string(kBase) + "---\nkind: Entity\nname: acct\njoin_key: country\n---\n"
           "kind: FeatureView\nname: v\nentities: [acct]\nsource: transactions\n"
           "features: [{name: amount, type: double}]\n",
       "join key 'country' is int64 but source 'transactions' has it as string"},
      {"kind: Source\nname: s\ntimestamp_field: ts\nschema: [{name: ts, type: int64}]\n",
       "d.yaml:3: Source s: field 'timestamp_field': value 'ts' has type int64 in the schema; it "
       "must be timestamp"},
      {"kind: Source\nname: s\ntimestamp_field: tss\nschema: [{name: ts, type: timestamp}]\n",
       "value 'tss' is not a column of the schema (did you mean 'ts'?)"},
      {"kind: Source\nname: s\ntimestamp_field: ts\nschema: [{name: ts, type: timestamp}, "
       "{name: __x, type: int64}]\n",
       "field 'schema[1]': value '__x' starts with '__'"},
      {ViewWith("{name: amount, type: double}") +
           "---\nkind: FeatureService\nname: svc\nfeatures: [v:amout]\n",
       "FeatureService svc: field 'features[0]': value 'v:amout': view 'v' has no feature "
       "'amout' (did you mean 'amount'?)"},
      {ViewWith("{name: amount, type: double}") +
           "---\nkind: FeatureService\nname: svc\nfeatures: [w]\n",
       "value 'w': 'w' is not a FeatureView"},
  };
  for (const Case& c : cases) {
    absl::Status s = Validate(c.text);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message)) << c.text;
  }
}

TEST(DefinitionValidationTest, ExistingObjectsCountAndIncomingOnesReplaceThem) {
  DefinitionSet base = Parse(kBase);
  // The view refers to registered objects only.
  DefinitionSet view = Parse(
      "kind: FeatureView\nname: v\nentities: [customer]\nsource: transactions\n"
      "features: [{name: amount, type: double}]\n");
  EXPECT_TRUE(ValidateDefinitions(view, base.definitions, FakeCheck).ok());
  EXPECT_EQ(ValidateDefinitions(view, {}, FakeCheck).code(), absl::StatusCode::kInvalidArgument);
  // Changing the registered source so that the registered view breaks is caught, and the
  // message names the registry object.
  std::vector<Definition> existing = base.definitions;
  existing.push_back(view.definitions[0]);
  existing.back().file = "registry (v1)";
  DefinitionSet new_source = Parse(
      "kind: Source\nname: transactions\ntimestamp_field: event_timestamp\nschema:\n"
      "  - {name: customer_id, type: int64}\n  - {name: event_timestamp, type: timestamp}\n");
  absl::Status s = ValidateDefinitions(new_source, existing, FakeCheck);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("registry (v1): FeatureView v: field 'features[0].name': value 'amount' "
                        "is not a column of source 'transactions'"));
}

TEST(DefinitionValidationTest, WithoutACheckerBareColumnsAreStillChecked) {
  EXPECT_TRUE(ValidateDefinitions(Parse(ViewWith("{name: x, type: double, expr: 'a + b'}")), {},
                                  nullptr)
                  .ok());
  absl::Status s = ValidateDefinitions(
      Parse(ViewWith("{name: x, type: double, agg: sum, of: amont, window: 1d}")), {}, nullptr);
  EXPECT_THAT(std::string(s.message()), HasSubstr("unknown column 'amont' (did you mean 'amount'?)"));
}

}  // namespace
}  // namespace cairn::features
