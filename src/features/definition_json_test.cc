// Canonical JSON: defaults filled, keys sorted, durations in ms; SHA-256 content hashes;
// FromJson round trips every kind.

#include "features/definition_json.h"

#include "features/definition_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::features {
namespace {

constexpr char kDefs[] = R"yaml(kind: Entity
name: customer
join_key: customer_id
---
kind: Source
name: transactions
type: push
format: jsonl
timestamp_field: ts
tags: {b: "2", a: "1"}
schema: [{name: customer_id, type: int64}, {name: ts, type: timestamp}, {name: amount, type: double}]
---
kind: FeatureView
name: spend
entities: customer
source: transactions
ttl: 1h
online: false
features:
  - {name: amount, type: double, nullable: false, description: raw}
  - {name: spend_7d, type: double, agg: mean, of: "amount * 2", window: 7d}
---
kind: FeatureService
name: churn
features: [spend, "spend:*", spend:amount]
)yaml";

TEST(DefinitionJsonTest, CanonicalFormIsSortedWithDefaultsAndMillis) {
  auto parsed = ParseDefinitionsYaml(kDefs, "d.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(CanonicalText(parsed->definitions[0]),
            R"({"description":"","join_keys":[{"name":"customer_id","type":"int64"}],)"
            R"("kind":"Entity","name":"customer","owner":"","tags":{}})");
  EXPECT_EQ(CanonicalText(parsed->definitions[1]),
            R"({"created_timestamp_field":"","description":"","format":"jsonl","kind":"Source",)"
            R"("name":"transactions","owner":"","path":"","schema":[{"name":"customer_id",)"
            R"("nullable":true,"type":"int64"},{"name":"ts","nullable":true,"type":"timestamp"},)"
            R"({"name":"amount","nullable":true,"type":"double"}],"tags":{"a":"1","b":"2"},)"
            R"("timestamp_field":"ts","type":"push"})");
  Json view = ToCanonicalJson(parsed->definitions[2]);
  EXPECT_EQ(view["ttl_ms"], 3'600'000);
  EXPECT_EQ(view["online"], false);
  EXPECT_EQ(view["entities"], Json::array({"customer"}));
  EXPECT_EQ(view["features"][1],
            Json::parse(R"({"agg":"mean","description":"","expr":"","name":"spend_7d",
                "nullable":true,"of":"amount * 2","type":"double","window_ms":604800000})"));
  EXPECT_EQ(ToCanonicalJson(parsed->definitions[3])["features"],
            Json::parse(R"(["spend", "spend", "spend:amount"])"));
}

TEST(DefinitionJsonTest, RoundTripsEveryKind) {
  auto parsed = ParseDefinitionsYaml(kDefs, "d.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (const Definition& def : parsed->definitions) {
    auto back = DefinitionFromJson(ToCanonicalJson(def));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->kind, def.kind);
    EXPECT_TRUE(back->spec == def.spec) << CanonicalText(def);
    EXPECT_EQ(ContentHash(*back), ContentHash(def));
  }
}

TEST(DefinitionJsonTest, HashIsSha256OfTheCanonicalTextAndChangesWithContent) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto a = ParseDefinitionsYaml("kind: Entity\nname: c\njoin_key: id\n", "a.yaml");
  // Same meaning, different spelling (defaults written out, another file): same hash.
  auto b = ParseDefinitionsYaml(
      "# comment\nkind: Entity\nname: c\njoin_keys: [{name: id, type: int64}]\ntags: {}\n",
      "b.yaml");
  auto c = ParseDefinitionsYaml("kind: Entity\nname: c\njoin_key: id\ntype: string\n", "c.yaml");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(ContentHash(a->definitions[0]), ContentHash(b->definitions[0]));
  EXPECT_NE(ContentHash(a->definitions[0]), ContentHash(c->definitions[0]));
  EXPECT_EQ(ContentHash(a->definitions[0]).size(), 64u);
}

TEST(DefinitionJsonTest, FromJsonRejectsMalformedInput) {
  EXPECT_EQ(DefinitionFromJson(Json::array()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DefinitionFromJson(Json::parse(R"({"kind": "Thing"})")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DefinitionFromJson(Json::parse(R"({"kind": "Entity", "name": 3})")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DefinitionFromJson(Json::parse(
                R"({"kind": "Source", "schema": [{"name": "a", "type": "float"}]})"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::features
