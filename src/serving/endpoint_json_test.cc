#include "serving/endpoint_json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "serving/endpoint_yaml.h"

namespace cairn::serving {
namespace {

using ::testing::HasSubstr;

EndpointSpec Full() {
  EndpointSpec spec;
  spec.name = "churn";
  spec.description = "d";
  spec.owner = "o";
  spec.tags = {{"team", "growth"}};
  spec.model = "churn";
  spec.alias = "production";
  spec.feature_service = "churn_features";
  spec.runtime = "python";
  spec.min_replicas = 0;
  spec.max_replicas = 4;
  spec.max_queue = 8;
  spec.log_sample = 0.25;
  spec.log_max_rows = 99;
  RolloutSpec rollout;
  rollout.mode = "shadow";
  rollout.version = 7;
  rollout.percent = 12.5;
  rollout.guard.window_ms = 300'000;
  rollout.guard.min_requests = 50;
  rollout.guard.max_prediction_drift = 0.3;
  rollout.guard.drift_test = "wasserstein";
  rollout.on_pass = "none";
  spec.rollout = rollout;
  spec.file = "f.yaml";
  spec.line = 3;
  return spec;
}

TEST(EndpointJsonTest, CanonicalFormIsStableAndLeavesOutTheFile) {
  const std::string text = DumpJson(EndpointSpecToJson(Full()));
  EXPECT_EQ(text,
            R"({"alias":"production","description":"d","feature_service":"churn_features",)"
            R"("inference_log":{"max_rows":99,"sample":0.25},"max_queue":8,"model":"churn",)"
            R"("name":"churn","owner":"o","replicas":{"max":4,"min":0},"rollout":{"alias":"",)"
            R"("guard":{"drift_test":"wasserstein","max_error_rate_increase":0.01,)"
            R"("max_p99_latency_ratio":2.0,"max_prediction_drift":0.3,"min_requests":50,)"
            R"("window_ms":300000},"mode":"shadow","on_fail":"rollback","on_pass":"none",)"
            R"("percent":12.5,"version":7},"runtime":"python","tags":{"team":"growth"},)"
            R"("version":0})");
  EndpointSpec moved = Full();
  moved.file = "elsewhere.yaml";
  moved.line = 99;
  EXPECT_EQ(DumpJson(EndpointSpecToJson(moved)), text);
}

TEST(EndpointJsonTest, RoundTrips) {
  auto back = EndpointSpecFromJson(EndpointSpecToJson(Full()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, Full());
  EndpointSpec plain;
  plain.name = "p";
  plain.model = "m";
  plain.version = 2;
  auto plain_back = EndpointSpecFromJson(EndpointSpecToJson(plain));
  ASSERT_TRUE(plain_back.ok());
  EXPECT_EQ(*plain_back, plain);
  EXPECT_FALSE(plain_back->rollout.has_value());
}

TEST(EndpointJsonTest, TimeoutIsWrittenOnlyWhenSetAndReadInBothForms) {
  EndpointSpec spec = Full();
  EXPECT_FALSE(EndpointSpecToJson(spec).contains("timeout_ms"));  // the default, 30 s
  spec.timeout_ms = 2'000;
  Json json = EndpointSpecToJson(spec);
  EXPECT_EQ(json["timeout_ms"], 2'000);
  auto back = EndpointSpecFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, spec);
  EXPECT_NE(*back, Full());
  auto from_duration =
      EndpointSpecFromJson(ParseJson(R"({"name": "e", "model": "m", "timeout": "1500ms"})").value());
  ASSERT_TRUE(from_duration.ok()) << from_duration.status();
  EXPECT_EQ(from_duration->timeout_ms, 1'500);
  auto bad = EndpointSpecFromJson(ParseJson(R"({"name": "e", "model": "m", "timeout": 2})").value());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("field 'timeout': value 2 must be a duration"));
}

TEST(EndpointJsonTest, ApiBodiesReadWithDefaultsAndDurations) {
  auto rollout = RolloutSpecFromJson(ParseJson(R"({"mode": "canary", "version": 4,
      "percent": 10, "guard": {"window": "5m", "max_p99_latency_ratio": 1.5}})")
                                         .value());
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  EXPECT_EQ(rollout->version, 4);
  EXPECT_EQ(rollout->guard.window_ms, 300'000);
  EXPECT_DOUBLE_EQ(rollout->guard.max_p99_latency_ratio, 1.5);
  EXPECT_EQ(rollout->guard.min_requests, GuardSpec().min_requests);
  EXPECT_FALSE(rollout->guard.max_prediction_drift.has_value());
  EXPECT_EQ(rollout->on_fail, "rollback");
  EXPECT_TRUE(ValidateRolloutSpec(*rollout, true).ok());
}

TEST(EndpointJsonTest, TypeErrorsNameTheField) {
  auto bad_percent = RolloutSpecFromJson(ParseJson(R"({"percent": "ten"})").value());
  ASSERT_FALSE(bad_percent.ok());
  EXPECT_EQ(bad_percent.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_percent.status().message(), HasSubstr("field 'rollout.percent'"));
  auto bad_version = RolloutSpecFromJson(ParseJson(R"({"version": 2.5})").value());
  ASSERT_FALSE(bad_version.ok());
  EXPECT_THAT(bad_version.status().message(),
              HasSubstr("field 'rollout.version': value 2.5 must be a whole number"));
  auto bad_window = RolloutSpecFromJson(ParseJson(R"({"guard": {"window": "5 min"}})").value());
  ASSERT_FALSE(bad_window.ok());
  EXPECT_THAT(bad_window.status().message(), HasSubstr("field 'rollout.guard.window'"));
  auto no_model = EndpointSpecFromJson(ParseJson(R"({"name": "e"})").value());
  ASSERT_FALSE(no_model.ok());
  EXPECT_THAT(no_model.status().message(), HasSubstr("field 'model' is required"));
  auto bad_replicas =
      EndpointSpecFromJson(ParseJson(R"({"name": "e", "model": "m", "replicas": 3})").value());
  ASSERT_FALSE(bad_replicas.ok());
  EXPECT_THAT(bad_replicas.status().message(),
              HasSubstr("field 'replicas': value 3 must be an object"));
}

}  // namespace
}  // namespace cairn::serving
