// The YAML definition parser: the shapes of the issue, defaults, and one error per rule
// (each names file:line, the object, the field and the value).

#include "features/definition_yaml.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kExample[] = R"yaml(kind: Entity
name: customer
description: A paying customer
owner: growth-ml
tags: {domain: billing}
join_keys: [{name: customer_id, type: int64}]
---
kind: Source
name: transactions
type: file
path: data/transactions.csv
format: csv
timestamp_field: event_timestamp
created_timestamp_field: created_at
schema:
  - {name: customer_id, type: int64, nullable: false}
  - {name: event_timestamp, type: timestamp, nullable: false}
  - {name: created_at, type: timestamp}
  - {name: amount, type: double}
---
kind: FeatureView
name: customer_spend
entities: [customer]
source: transactions
ttl: 30d
features:
  - {name: amount, type: double}
  - {name: amount_log, type: double, expr: "log1p(amount)"}
  - {name: spend_7d, type: double, agg: sum, of: amount, window: 7d}
  - {name: tx_30d, type: int64, agg: count, window: 30d}
---
kind: FeatureService
name: churn
features: [customer_spend:amount_log, customer_spend:spend_7d, customer_profile]
)yaml";

absl::Status ParseError(const std::string& text) {
  return ParseDefinitionsYaml(text, "defs/x.yaml").status();
}

TEST(DefinitionYamlTest, ParsesTheFourKinds) {
  auto parsed = ParseDefinitionsYaml(kExample, "defs/all.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->definitions.size(), 4u);
  ASSERT_EQ(parsed->field_lines.size(), 4u);

  const Definition& e = parsed->definitions[0];
  EXPECT_EQ(e.kind, DefinitionKind::kEntity);
  EXPECT_EQ(e.file, "defs/all.yaml");
  EXPECT_EQ(e.line, 1);
  const auto& entity = std::get<EntitySpec>(e.spec);
  EXPECT_EQ(entity.meta.name, "customer");
  EXPECT_EQ(entity.meta.owner, "growth-ml");
  EXPECT_EQ(entity.meta.tags.at("domain"), "billing");
  EXPECT_THAT(entity.join_keys, ElementsAre(Field{"customer_id", FeatureType::kInt64, false}));

  const Definition& s = parsed->definitions[1];
  EXPECT_EQ(s.line, 8);
  const auto& source = std::get<SourceSpec>(s.spec);
  EXPECT_EQ(source.kind, SourceKind::kFile);
  EXPECT_EQ(source.path, "data/transactions.csv");
  EXPECT_EQ(source.format, FileFormat::kCsv);
  EXPECT_EQ(source.timestamp_field, "event_timestamp");
  EXPECT_EQ(source.created_timestamp_field, "created_at");
  ASSERT_EQ(source.schema.size(), 4u);
  EXPECT_EQ(source.schema[1], (Field{"event_timestamp", FeatureType::kTimestamp, false}));
  EXPECT_EQ(source.schema[3], (Field{"amount", FeatureType::kDouble, true}));

  const auto& view = std::get<FeatureViewSpec>(parsed->definitions[2].spec);
  EXPECT_EQ(view.ttl_ms, 30LL * 86'400'000);
  EXPECT_TRUE(view.online);
  ASSERT_EQ(view.features.size(), 4u);
  EXPECT_EQ(view.features[1].expr, "log1p(amount)");
  EXPECT_EQ(view.features[2].agg, AggFn::kSum);
  EXPECT_EQ(view.features[2].of, "amount");
  EXPECT_EQ(view.features[2].window_ms, 7LL * 86'400'000);
  EXPECT_EQ(view.features[3].agg, AggFn::kCount);
  EXPECT_EQ(view.features[3].type, FeatureType::kInt64);
  EXPECT_EQ(parsed->LineOf(2, "features[2]"), 29);
  EXPECT_EQ(parsed->LineOf(2, "source"), 24);

  const auto& service = std::get<FeatureServiceSpec>(parsed->definitions[3].spec);
  EXPECT_THAT(service.features,
              ElementsAre(FeatureRef{"customer_spend", "amount_log"},
                          FeatureRef{"customer_spend", "spend_7d"},
                          FeatureRef{"customer_profile", ""}));
}

// Found by definition_yaml_fuzz: control characters sent yaml-cpp 0.7's scanner into a
// loop that never ended. They are not YAML; the parser names the line and the byte.
TEST(DefinitionYamlTest, ControlCharactersAreRejectedBeforeYamlCppSeesThem) {
  const std::string hang("kind: Entity\n,ind\x0f\0\0\0\0\0\0\0\nname: account\n", 38);
  auto parsed = ParseDefinitionsYaml(hang, "defs.yaml");
  ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(parsed.status().message()).find("defs.yaml:2:"), std::string::npos)
      << parsed.status();
  EXPECT_NE(std::string(parsed.status().message()).find("0x0f"), std::string::npos);
  // Nesting deep enough to overflow yaml-cpp's recursion is refused up front.
  auto deep = ParseDefinitionsYaml("kind: Entity\ntags: " + std::string(100000, '['), "d.yaml");
  ASSERT_EQ(deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(deep.status().message()).find("nested more than"), std::string::npos);
  // Malformed UTF-8 (another yaml-cpp loop found by the fuzzer) is refused; real UTF-8 is not.
  auto bad_utf8 = ParseDefinitionsYaml(",iid\nty\xff\xff\xffst_idSou\x8e" "ce\n\n", "u.yaml");
  ASSERT_EQ(bad_utf8.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad_utf8.status().message())
                .find("u.yaml:2: invalid YAML: the file is not valid UTF-8"),
            std::string::npos)
      << bad_utf8.status();
  EXPECT_TRUE(ParseDefinitionsYaml(
                  "kind: Entity\nname: kunde\ndescription: \"Café — 日本 🙂\"\njoin_key: id\n",
                  "ok.yaml")
                  .ok());
  // Plain ASCII that yaml-cpp 0.7 loops on: libyaml rejects its syntax first.
  auto loops = ParseDefinitionsYaml(" !:,1&} 3", "l.yaml");
  ASSERT_EQ(loops.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(loops.status().message()).find("l.yaml:1: invalid YAML"),
            std::string::npos)
      << loops.status();
  // Anchors, aliases and tags (yaml-cpp loops on some that libyaml accepts) are refused.
  for (const char* text : {"&S:$&S\n,", "kind: &k Entity\nname: *k\n", "kind: !e Entity\n"}) {
    auto refused = ParseDefinitionsYaml(text, "a.yaml");
    ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(std::string(refused.status().message()).find("not supported in definitions"),
              std::string::npos)
        << refused.status();
  }
  // Tabs and CRLF line breaks stay allowed.
  EXPECT_TRUE(ParseDefinitionsYaml("kind: Entity\r\nname: a\r\njoin_key: id\t\r\n", "x.yaml").ok());
}

TEST(DefinitionYamlTest, ShortJoinKeyFormAndDefaults) {
  auto parsed = ParseDefinitionsYaml(
      "kind: Entity\nname: account\njoin_key: account_id\ntype: string\n---\n"
      "kind: Entity\nname: driver\njoin_key: driver_id\n---\n---\n", "a.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->definitions.size(), 2u);
  EXPECT_THAT(std::get<EntitySpec>(parsed->definitions[0].spec).join_keys,
              ElementsAre(Field{"account_id", FeatureType::kString, false}));
  EXPECT_THAT(std::get<EntitySpec>(parsed->definitions[1].spec).join_keys,
              ElementsAre(Field{"driver_id", FeatureType::kInt64, false}));
}

TEST(DefinitionYamlTest, DocumentsOfOtherModulesKindsAreLeftToThem) {
  auto parsed = ParseDefinitionsYaml(
      "kind: Pipeline\nname: train\nsteps: [{name: a, command: [true]}]\n---\n"
      "kind: Entity\nname: driver\njoin_key: driver_id\n---\n"
      "kind: Monitor\nname: m\n", "a.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->definitions.size(), 1u);
  EXPECT_EQ(parsed->definitions[0].name(), "driver");
  EXPECT_EQ(parsed->definitions[0].line, 5);
}

TEST(DefinitionYamlTest, UnknownFieldNamesFileLineAndNearestName) {
  absl::Status s = ParseError(
      "kind: FeatureView\nname: v\nentites: [customer]\nsource: t\nfeatures: [{name: a, type: "
      "double}]\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "defs/x.yaml:3: FeatureView v: unknown field 'entites' (value a list of 1); did you "
            "mean 'entities'?");

  s = ParseError("kind: Source\nname: t\ntimestamp_field: ts\nschema:\n"
                 "  - {name: ts, type: timestamp, nulable: false}\n");
  EXPECT_EQ(s.message(),
            "defs/x.yaml:5: Source t: unknown field 'nulable' in schema[0] (value 'false'); did "
            "you mean 'nullable'?");
}

TEST(DefinitionYamlTest, ErrorsNameFieldAndValue) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const std::string view_head = "kind: FeatureView\nname: v\nentities: [c]\nsource: t\n";
  const Case cases[] = {
      {"kind: Entiy\nname: x\n",
       "defs/x.yaml:1: Entiy x: field 'kind': value 'Entiy' is not a kind (Entity, Source, "
       "FeatureView, FeatureService); did you mean 'Entity'?"},
      {"name: x\n",
       "defs/x.yaml:1: missing field 'kind': add kind: Entity | Source | FeatureView | "
       "FeatureService"},
      {"kind: Entity\nname: 9lives\njoin_key: id\n",
       "defs/x.yaml:2: Entity 9lives: field 'name': value '9lives' is not a valid name: use "
       "letters, digits, '_' and '-', starting with a letter or '_' (at most 128 characters)"},
      {"kind: Entity\nname: c\njoin_keys: [{name: id, type: double}]\n",
       "defs/x.yaml:3: Entity c: field 'join_keys[0].type': value 'double' is not a join-key "
       "type: join keys are int64 or string"},
      {view_head + "ttl: 7x\nfeatures: [{name: a, type: double}]\n",
       "defs/x.yaml:5: FeatureView v: field 'ttl': value '7x' is not a duration: write an "
       "integer and a unit (ms, s, m, h, d), like 30s or 7d"},
      {view_head + "features:\n  - {name: a, type: doubel}\n",
       "defs/x.yaml:6: FeatureView v: field 'features[0].type': value 'doubel' is not a type "
       "(int64, double, string, bool, timestamp); did you mean 'double'?"},
      {view_head + "features:\n  - {name: a, type: double, agg: total, of: x, window: 1d}\n",
       "defs/x.yaml:6: FeatureView v: field 'features[0].agg': value 'total' is not an "
       "aggregation (count, sum, mean, min, max)"},
      {view_head + "features:\n  - {name: a, type: double, agg: sum, of: x, window: 0}\n",
       "defs/x.yaml:6: FeatureView v: field 'features[0].window': value '0' must be greater "
       "than 0 for an aggregation"},
      {view_head + "features:\n  - {name: a, type: double, agg: count, window: 1d}\n",
       "defs/x.yaml:6: FeatureView v: field 'features[0].type': value 'double' does not match "
       "agg count: its type is int64"},
      {view_head + "features:\n  - {name: a, type: int64, agg: sum, of: x, window: 1d}\n",
       "defs/x.yaml:6: FeatureView v: field 'features[0].type': value 'int64' does not match "
       "agg sum: its type is double"},
      {view_head + "online: maybe\nfeatures: [{name: a, type: double}]\n",
       "defs/x.yaml:5: FeatureView v: field 'online': value 'maybe' must be true or false"},
      {view_head + "features:\n  - {name: a, type: double}\n  - {name: a, type: double}\n",
       "defs/x.yaml:7: FeatureView v: field 'features[1].name': value 'a' repeats a feature "
       "name of this view"},
      {"kind: FeatureService\nname: s\nfeatures: ['v:']\n",
       "defs/x.yaml:3: FeatureService s: field 'features[0]': value 'v:' is not a feature "
       "reference: write view:feature or view"},
      {"kind: Source\nname: t\ntype: kafka\ntimestamp_field: ts\nschema: [{name: ts, type: "
       "timestamp}]\n",
       "defs/x.yaml:3: Source t: field 'type': value 'kafka' is not a source type: use file or "
       "push"},
      {"kind: Source\nname: t\nschema: [{name: ts, type: timestamp}]\n",
       "defs/x.yaml:1: Source t: missing field 'timestamp_field': it is required"},
      {"kind: Entity\nname: [c\n", "defs/x.yaml:"},  // YAML syntax error
      {"- just\n- a list\n",
       "defs/x.yaml:1: a definition must be a map with 'kind' and 'name', got a list of 2"},
  };
  for (const Case& c : cases) {
    absl::Status s = ParseError(c.yaml);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message)) << c.yaml;
  }
}

TEST(DefinitionYamlTest, ReadsEveryYamlFileBelowADirectorySorted) {
  auto dir = std::filesystem::temp_directory_path() /
             ("cairn-defs-yaml-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "sub");
  std::ofstream(dir / "b.yaml") << "kind: Entity\nname: b\njoin_key: id\n";
  std::ofstream(dir / "a.yml") << "kind: Entity\nname: a\njoin_key: id\n";
  std::ofstream(dir / "sub" / "c.yaml") << "kind: Entity\nname: c\njoin_key: id\n";
  std::ofstream(dir / "notes.txt") << "not yaml";
  auto files = ReadDefinitionFiles(dir.string());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].path, (dir / "a.yml").string());
  EXPECT_EQ((*files)[1].path, (dir / "b.yaml").string());
  EXPECT_EQ((*files)[2].path, (dir / "sub" / "c.yaml").string());
  auto parsed = ParseDefinitionFiles(*files);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->definitions[2].name(), "c");

  EXPECT_EQ(ReadDefinitionFiles((dir / "nope").string()).status().code(),
            absl::StatusCode::kNotFound);
  std::filesystem::create_directories(dir / "empty");
  EXPECT_EQ(ReadDefinitionFiles((dir / "empty").string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cairn::features
