#include "api/apply_changes.h"

#include "gtest/gtest.h"

namespace cairn::api {
namespace {

struct Spec {
  std::string name, file;
  int line = 0;
};

TEST(ApplyChangesReplyTest, CarriesKindPlaceAndVersionsOfEveryChange) {
  std::vector<storage::DefinitionChange> changes = {
      {.action = "changed",
       .name = "a",
       .old_version = 1,
       .new_version = 2,
       .diffs = Json::parse(R"([{"path": "x", "old": 1, "new": 2}])")},
      {.action = "removed", .name = "gone", .old_version = 3}};
  Json reply = ApplyChangesReply("Monitor", changes,
                                 std::vector<Spec>{{.name = "a", .file = "m.yaml", .line = 4}},
                                 /*dry_run=*/false);
  EXPECT_EQ(DumpJson(reply),
            R"({"applied":true,"changes":[{"action":"changed","diffs":[{"new":2,"old":1,)"
            R"("path":"x"}],"file":"m.yaml","kind":"Monitor","line":4,"name":"a",)"
            R"("new_version":2,"old_version":1},{"action":"removed","diffs":[],"file":"",)"
            R"("kind":"Monitor","line":0,"name":"gone","new_version":null,"old_version":3}]})");
}

TEST(ApplyChangesReplyTest, AppliedOnlyWhenNotDryAndSomethingChanged) {
  std::vector<storage::DefinitionChange> unchanged = {
      {.action = "unchanged", .name = "a", .old_version = 1, .new_version = 1}};
  std::vector<storage::DefinitionChange> added = {
      {.action = "added", .name = "a", .new_version = 1}};
  const std::vector<Spec> none;
  EXPECT_FALSE(ApplyChangesReply("Policy", unchanged, none, false).at("applied"));
  EXPECT_FALSE(ApplyChangesReply("Policy", added, none, true).at("applied"));
  EXPECT_TRUE(ApplyChangesReply("Policy", added, none, false).at("applied"));
  EXPECT_EQ(ApplyChangesReply("Policy", {}, none, false),
            Json::parse(R"({"changes": [], "applied": false})"));
}

}  // namespace
}  // namespace cairn::api
