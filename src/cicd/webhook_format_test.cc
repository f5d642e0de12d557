#include "cicd/webhook_format.h"

#include <set>

#include "gtest/gtest.h"

namespace cairn::cicd {
namespace {

TEST(WebhookFormatTest, SignatureMatchesMlflowsGenerateHmacSignature) {
  // mlflow.webhooks.delivery._generate_hmac_signature("s3cret", id, "1700000000", body)
  EXPECT_EQ(MlflowWebhookSignature("s3cret", "0f8fad5b-d9cb-469f-a165-70867728950e", "1700000000",
                                   R"({"entity": "model_version", "action": "created"})"),
            "v1,hy0GfPNEvJ9mxLTjaLwkW7PaSJAXTaJYdy4MtIRywqA=");
}

TEST(WebhookFormatTest, MlflowsFifteenEventsThenCairnsEvaluationFinished) {
  ASSERT_EQ(WebhookEventNames().size(), 16u);
  EXPECT_EQ(WebhookEventNames().front(), "registered_model.created");
  EXPECT_EQ(WebhookEventNames().back(), "evaluation.finished");
  EXPECT_TRUE(IsMlflowWebhookEvent("model_version_alias.created"));
  EXPECT_FALSE(IsMlflowWebhookEvent("evaluation.finished"));
  EXPECT_TRUE(IsWebhookEvent("evaluation.finished"));
  EXPECT_FALSE(IsWebhookEvent("model.exploded"));
}

TEST(WebhookFormatTest, JsonIsLaidOutAsPythonsJsonDumps) {
  // json.dumps({'a': 'é\x7f\x01"', 'b': [1, None, True], 'c': {}})
  OrderedJson value = {{"a", "\xc3\xa9\x7f\x01\""},
                       {"b", OrderedJson::array({1, nullptr, true})},
                       {"c", OrderedJson::object()}};
  EXPECT_EQ(PythonJsonDumps(value),
            R"({"a": "\u00e9\u007f\u0001\"", "b": [1, null, true], "c": {}})");
  // Insertion order, not sorted.
  EXPECT_EQ(PythonJsonDumps(OrderedJson{{"z", 1}, {"a", 2}}), R"({"z": 1, "a": 2})");
}

TEST(WebhookFormatTest, TimestampsAreIsoformatOfUtc) {
  EXPECT_EQ(PythonIsoTime(1'700'000'000'123), "2023-11-14T22:13:20.123000+00:00");
  EXPECT_EQ(PythonIsoTime(1'700'000'000'000), "2023-11-14T22:13:20+00:00");
}

TEST(WebhookFormatTest, DeliveryBodyPutsEntityActionTimestampDataInThatOrder) {
  EXPECT_EQ(WebhookDeliveryBody("model_version_alias.deleted",
                                OrderedJson{{"name", "m"}, {"alias", "a"}}, 1'700'000'000'000),
            R"({"entity": "model_version_alias", "action": "deleted", )"
            R"("timestamp": "2023-11-14T22:13:20+00:00", "data": {"name": "m", "alias": "a"}})");
}

TEST(WebhookFormatTest, EveryEventHasAnExamplePayload) {
  for (const std::string& event : WebhookEventNames()) {
    OrderedJson example = WebhookExamplePayload(event);
    EXPECT_TRUE(example.is_object() && !example.empty()) << event;
  }
  EXPECT_EQ(PythonJsonDumps(WebhookExamplePayload("model_version.created")),
            R"({"name": "example_model", "version": "1", "source": "models:/123", )"
            R"("run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, )"
            R"("description": "An example model version"})");
}

TEST(WebhookFormatTest, DeliveryIdsAreDistinctUuid4s) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    std::string id = NewUuid4();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[8], '-');
    EXPECT_EQ(id[14], '4');
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

}  // namespace
}  // namespace cairn::cicd
