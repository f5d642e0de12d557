#include "common/yaml_reader.h"

#include "absl/status/status.h"
#include "common/yaml_documents.h"
#include "gtest/gtest.h"

namespace cairn {
namespace {

YAML::Node Doc(std::string_view text) {
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadYamlDocuments(text, "f.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  return docs->at(0);
}

std::string Message(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

class ReaderTest : public ::testing::Test {
 protected:
  ReaderTest() : reader_("f.yaml") { reader_.set_label("thing t"); }
  YamlFieldReader reader_;
};

TEST_F(ReaderTest, ErrorsNameFileLineLabelFieldAndValue) {
  YAML::Node doc = Doc("name: t\ncount: many\n");
  EXPECT_EQ(Message(reader_.Integer(doc["count"], "count", 0).status()),
            "f.yaml:2: thing t: field 'count': value 'many' must be a whole number");
  EXPECT_EQ(Message(reader_.ObjectError(7, "is broken")), "f.yaml:7: thing t: is broken");
}

TEST_F(ReaderTest, CheckFieldsSuggestsTheNearestOrListsAll) {
  EXPECT_EQ(Message(reader_.CheckFields(Doc("name: t\nshedule: x\n"), {"name", "schedule"}, "")),
            "f.yaml:2: thing t: unknown field 'shedule' (value 'x'); did you mean 'schedule'?");
  EXPECT_EQ(Message(reader_.CheckFields(Doc("retry:\n  zzzzzz: 1\n")["retry"],
                                        {"attempts", "base"}, "retry.")),
            "f.yaml:2: thing t: unknown field 'retry.zzzzzz' (value '1'); valid fields: "
            "attempts, base");
  EXPECT_TRUE(reader_.CheckFields(Doc("name: t\n"), {"name"}, "").ok());
}

TEST_F(ReaderTest, ScalarsWithFallbacks) {
  YAML::Node doc = Doc("a: yes\nb: 3\nc: 2.5\nd: 30s\ne:\ns: hi\n");
  EXPECT_EQ(*reader_.Bool(doc["a"], "a", false), true);
  EXPECT_EQ(*reader_.Bool(doc["e"], "e", true), true);  // null is absent
  EXPECT_EQ(*reader_.Integer(doc["b"], "b", 0), 3);
  EXPECT_EQ(*reader_.Number(doc["c"], "c"), 2.5);
  EXPECT_EQ(*reader_.Number(doc["missing"], "missing", 7.0), 7.0);
  EXPECT_EQ(*reader_.Duration(doc["d"], "d", 0), 30000);
  EXPECT_EQ(*reader_.String(doc, "s", "s", true), "hi");
  EXPECT_EQ(*reader_.String(doc, "x", "x", false, "dflt"), "dflt");
  EXPECT_EQ(Message(reader_.String(doc, "x", "x", true).status()),
            "f.yaml:1: thing t: missing field 'x': it is required");
  EXPECT_EQ(Message(reader_.Number(doc["missing"], "missing").status()),
            "f.yaml:0: thing t: field 'missing': value null must be a number");
  EXPECT_FALSE(reader_.Number(Doc("v: .inf\n")["v"], "v").ok());
  EXPECT_FALSE(reader_.Bool(doc["b"], "b", false).ok());
  EXPECT_FALSE(reader_.Duration(doc["b"], "b", 0).ok());
}

TEST_F(ReaderTest, MapsAndLists) {
  YAML::Node doc = Doc("env: {A: 1, B: x}\ncols: [a, b, a]\nbad: [a, [b]]\nm: 3\n");
  auto env = reader_.StringMap(doc["env"], "env", "{A: 1}");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->at("A"), "1");
  EXPECT_EQ(env->at("B"), "x");
  EXPECT_EQ(Message(reader_.StringMap(doc["m"], "m", "{A: 1}").status()),
            "f.yaml:4: thing t: field 'm': value '3' must be a map, like {A: 1}");
  EXPECT_EQ(reader_.StringList(doc["cols"], "cols", "[a]", YamlFieldReader::ListItems::kStrings)
                ->size(),
            3u);
  EXPECT_EQ(Message(reader_
                        .StringList(doc["cols"], "cols", "[a]",
                                    YamlFieldReader::ListItems::kDistinctNames)
                        .status()),
            "f.yaml:2: thing t: field 'cols[2]': value 'a' is listed twice: name each column "
            "once");
  EXPECT_FALSE(
      reader_.StringList(doc["bad"], "bad", "[a]", YamlFieldReader::ListItems::kStrings).ok());
  EXPECT_TRUE(reader_.RequireMap(doc["env"], "env", "{A: 1}").ok());
  EXPECT_FALSE(reader_.RequireMap(doc["cols"], "cols", "{A: 1}").ok());
}

}  // namespace
}  // namespace cairn
