// Router-level tests of the artifact proxy, run artifact listing and the logged-model
// routes: real stores (SQLite in memory, an artifact directory in a temp dir), requests
// built by hand and dispatched through Router::Find as the HTTP server does.

#include "api/artifact_handlers.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "api/api_context.h"
#include "api/artifact_responses.h"
#include "api/router.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/json.h"
#include "gtest/gtest.h"
#include "storage/artifact_store.h"
#include "storage/database.h"
#include "tracking/logged_model_store.h"
#include "tracking/tracking_store.h"

namespace cairn::api {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class ArtifactHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("cairn-artifact-handlers-" + NewUuidHex());
    fs::create_directories(base_);
    db_ = std::move(*storage::OpenDatabase("sqlite::memory:"));
    auto tracking = tracking::TrackingStore::Open(*db_, clock_);
    ASSERT_TRUE(tracking.ok()) << tracking.status();
    tracking_ = std::move(*tracking);
    auto logged = tracking::LoggedModelStore::Open(*db_, clock_, *tracking_);
    ASSERT_TRUE(logged.ok()) << logged.status();
    logged_models_ = std::move(*logged);
    artifacts_ = std::make_unique<storage::ArtifactStore>((base_ / "artifacts").string());
    ctx_.tracking = tracking_.get();
    ctx_.logged_models = logged_models_.get();
    ctx_.artifacts = artifacts_.get();
    RegisterArtifactRoutes(router_, ctx_);

    auto experiment = tracking_->CreateExperiment("exp", "", {});
    ASSERT_TRUE(experiment.ok()) << experiment.status();
    experiment_id_ = *experiment;
    tracking::CreateRunRequest run_request;
    run_request.experiment_id = experiment_id_;
    auto run = tracking_->CreateRun(run_request);
    ASSERT_TRUE(run.ok()) << run.status();
    run_ = run->info;
  }
  void TearDown() override { fs::remove_all(base_); }

  HttpResponse Call(const std::string& method, const std::string& path, std::string body = "",
                    std::vector<std::pair<std::string, std::string>> query = {},
                    std::string body_file = "") {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.target = path;
    request.query = std::move(query);
    request.body = std::move(body);
    request.body_file = std::move(body_file);
    return router_.Dispatch(std::move(request));
  }

  static Json Body(const HttpResponse& response) {
    absl::StatusOr<Json> json = ParseJson(response.body);
    return json.ok() ? *json : Json();
  }

  // Writes bytes into the store's temp dir, as the HTTP server does for a streamed PUT.
  std::string StreamedBody(const std::string& bytes) {
    std::string path = artifacts_->TempDir() + "/body-" + NewUuidHex();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::string RunRoot() const {
    return *storage::ArtifactStore::RelativePathOfUri(run_.artifact_uri);
  }

  fs::path base_;
  FakeClock clock_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::TrackingStore> tracking_;
  std::unique_ptr<tracking::LoggedModelStore> logged_models_;
  std::unique_ptr<storage::ArtifactStore> artifacts_;
  ApiContext ctx_;
  Router router_;
  std::string experiment_id_;
  tracking::RunInfo run_;
};

TEST_F(ArtifactHandlersTest, RunArtifactUriIsServedByTheProxy) {
  EXPECT_EQ(run_.artifact_uri.rfind("mlflow-artifacts:/", 0), 0u) << run_.artifact_uri;
}

TEST_F(ArtifactHandlersTest, UploadMovesBodyFileAndDownloadStreamsIt) {
  std::string body_file = StreamedBody("hello");
  std::string url = "/api/2.0/mlflow-artifacts/artifacts/" + RunRoot() + "/dir/hello.txt";
  HttpResponse put = Call("PUT", url, "", {}, body_file);
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Body(put), Json::object());
  EXPECT_FALSE(fs::exists(body_file));

  HttpResponse get = Call("GET", url);
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_TRUE(get.body.empty());
  ASSERT_FALSE(get.file_path.empty());
  EXPECT_EQ(ReadAll(get.file_path), "hello");
  EXPECT_EQ(get.content_type, "text/plain");
  bool has_disposition = false;
  for (const auto& [name, value] : get.headers) {
    if (name == "Content-Disposition") {
      has_disposition = true;
      EXPECT_EQ(value, "attachment; filename=\"hello.txt\"");
    }
  }
  EXPECT_TRUE(has_disposition);
}

TEST_F(ArtifactHandlersTest, UploadRouteStreamsItsBody) {
  Router::Match match =
      router_.Find("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/x/artifacts/model.pkl");
  ASSERT_NE(match.route, nullptr);
  EXPECT_TRUE(match.route->options.stream_request_body);
}

TEST_F(ArtifactHandlersTest, AjaxPrefixWorksToo) {
  HttpResponse put = Call("PUT", "/ajax-api/2.0/mlflow-artifacts/artifacts/1/a.bin", "", {},
                          StreamedBody("\x01\x02"));
  ASSERT_EQ(put.status, 200) << put.body;
  HttpResponse get = Call("GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/1/a.bin");
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.content_type, "application/octet-stream");
}

TEST_F(ArtifactHandlersTest, ContentTypesFollowMlflow) {
  EXPECT_EQ(GuessContentType("model/MLmodel"), "text/plain");
  EXPECT_EQ(GuessContentType("a/conda.yaml"), "text/plain");
  EXPECT_EQ(GuessContentType("input_example.json"), "text/plain");
  EXPECT_EQ(GuessContentType("plot.png"), "image/png");
  EXPECT_EQ(GuessContentType("model.pkl"), "application/octet-stream");
  EXPECT_EQ(GuessContentType("noext"), "application/octet-stream");
  EXPECT_EQ(GuessContentType("page.html"), "text/html");
}

TEST_F(ArtifactHandlersTest, ListProxyShapeMatchesMlflow) {
  ASSERT_TRUE(artifacts_->PutBytes("1/r/artifacts/a.txt", "12345").ok());
  ASSERT_TRUE(artifacts_->PutBytes("1/r/artifacts/sub/b.txt", "x").ok());
  HttpResponse list =
      Call("GET", "/api/2.0/mlflow-artifacts/artifacts", "", {{"path", "1/r/artifacts"}});
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(Body(list), Json::parse(R"({"files": [
      {"path": "a.txt", "is_dir": false, "file_size": 5},
      {"path": "sub", "is_dir": true}]})"));
  HttpResponse empty =
      Call("GET", "/api/2.0/mlflow-artifacts/artifacts", "", {{"path", "1/none"}});
  ASSERT_EQ(empty.status, 200);
  EXPECT_EQ(Body(empty), Json::object());
}

TEST_F(ArtifactHandlersTest, RunArtifactListUsesRunRoot) {
  ASSERT_TRUE(artifacts_->PutBytes(RunRoot() + "/hello.txt", "hello").ok());
  ASSERT_TRUE(artifacts_->PutBytes(RunRoot() + "/model/MLmodel", "x").ok());
  HttpResponse list = Call("GET", "/api/2.0/mlflow/artifacts/list", "", {{"run_id", run_.run_id}});
  ASSERT_EQ(list.status, 200) << list.body;
  Json expected = {{"root_uri", run_.artifact_uri},
                   {"files", Json::parse(R"([
                      {"path": "hello.txt", "is_dir": false, "file_size": 5},
                      {"path": "model", "is_dir": true}])")}};
  EXPECT_EQ(Body(list), expected);

  HttpResponse nested = Call("GET", "/ajax-api/2.0/mlflow/artifacts/list", "",
                             {{"run_uuid", run_.run_id}, {"path", "model"}});
  ASSERT_EQ(nested.status, 200) << nested.body;
  EXPECT_EQ(Body(nested)["files"][0]["path"], "model/MLmodel");

  HttpResponse missing_dir = Call("GET", "/api/2.0/mlflow/artifacts/list", "",
                                  {{"run_id", run_.run_id}, {"path", "nope"}});
  EXPECT_EQ(Body(missing_dir), (Json{{"root_uri", run_.artifact_uri}}));
}

TEST_F(ArtifactHandlersTest, GetArtifactServesARunFile) {
  ASSERT_TRUE(artifacts_->PutBytes(RunRoot() + "/plots/roc.png", "png").ok());
  HttpResponse file =
      Call("GET", "/get-artifact", "", {{"run_uuid", run_.run_id}, {"path", "plots/roc.png"}});
  ASSERT_EQ(file.status, 200) << file.body;
  EXPECT_EQ(ReadAll(file.file_path), "png");
  EXPECT_EQ(file.content_type, "image/png");
  EXPECT_EQ(Call("GET", "/get-artifact", "", {{"run_id", run_.run_id}, {"path", "../x"}}).status,
            400);
  EXPECT_EQ(Call("GET", "/get-artifact", "", {{"run_id", run_.run_id}, {"path", "nope"}}).status,
            404);
  EXPECT_EQ(Call("GET", "/get-artifact", "", {{"path", "x"}}).status, 400);
}

TEST_F(ArtifactHandlersTest, DeleteRemovesArtifact) {
  ASSERT_TRUE(artifacts_->PutBytes("1/r/artifacts/a.txt", "x").ok());
  HttpResponse deleted = Call("DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(Call("GET", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt").status, 404);
  // As MLflow: deleting a missing artifact succeeds.
  HttpResponse again = Call("DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt");
  EXPECT_EQ(again.status, 200) << again.body;
}

TEST_F(ArtifactHandlersTest, BadRequestsGetMlflowErrors) {
  struct Case {
    std::string method;
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;
    int status;
    std::string error_code;
  };
  const std::string proxy = "/api/2.0/mlflow-artifacts/artifacts";
  const std::vector<Case> cases = {
      {"GET", proxy + "/../secret", {}, 400, "INVALID_PARAMETER_VALUE"},
      {"GET", proxy + "/1/../../secret", {}, 400, "INVALID_PARAMETER_VALUE"},
      {"GET", proxy + "/1/%2e%2e/%2e%2e/secret", {}, 400, "INVALID_PARAMETER_VALUE"},
      {"GET", proxy + "/1/%252e%252e/x", {}, 400, "INVALID_PARAMETER_VALUE"},
      {"GET", proxy + "//etc/passwd", {}, 400, "INVALID_PARAMETER_VALUE"},
      {"GET", proxy + "/1/a\\b", {}, 400, "INVALID_PARAMETER_VALUE"},
      {"PUT", proxy + "/../x", {}, 400, "INVALID_PARAMETER_VALUE"},
      {"DELETE", proxy + "/1/../..", {}, 400, "INVALID_PARAMETER_VALUE"},
      {"GET", proxy, {{"path", "../"}}, 400, "INVALID_PARAMETER_VALUE"},
      {"GET", proxy, {{"path", "/etc"}}, 400, "INVALID_PARAMETER_VALUE"},
      {"GET", proxy + "/1/missing.txt", {}, 404, "RESOURCE_DOES_NOT_EXIST"},
      {"GET", "/api/2.0/mlflow/artifacts/list", {}, 400, "INVALID_PARAMETER_VALUE"},
      {"GET", "/api/2.0/mlflow/artifacts/list", {{"run_id", "nope"}}, 404,
       "RESOURCE_DOES_NOT_EXIST"},
      {"GET", "/api/2.0/mlflow/artifacts/list", {{"run_id", "x"}, {"path", "../.."}}, 400,
       "INVALID_PARAMETER_VALUE"},
  };
  for (const Case& c : cases) {
    HttpResponse response = Call(c.method, c.path, "", c.query, "");
    EXPECT_EQ(response.status, c.status) << c.method << " " << c.path << ": " << response.body;
    EXPECT_EQ(Body(response)["error_code"], c.error_code) << c.method << " " << c.path;
  }
}

TEST_F(ArtifactHandlersTest, DownloadOfDirectoryIsInvalidParameter) {
  ASSERT_TRUE(artifacts_->PutBytes("1/dir/file", "x").ok());
  HttpResponse response = Call("GET", "/api/2.0/mlflow-artifacts/artifacts/1/dir");
  EXPECT_EQ(response.status, 400);
}

TEST_F(ArtifactHandlersTest, SymlinkOutOfRootIsInvalidParameter) {
  fs::create_directories(base_ / "outside");
  std::ofstream(base_ / "outside" / "secret") << "secret";
  fs::create_directories(fs::path(artifacts_->root()) / "1");
  fs::create_directory_symlink(base_ / "outside", fs::path(artifacts_->root()) / "1" / "link");
  HttpResponse response = Call("GET", "/api/2.0/mlflow-artifacts/artifacts/1/link/secret");
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_TRUE(response.file_path.empty());
}

TEST_F(ArtifactHandlersTest, ServerInfoOffersNoMultipartTransfers) {
  HttpResponse info = Call("GET", "/api/3.0/mlflow/server-info");
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(Body(info)["multipart_uploads_enabled"], false);
  EXPECT_EQ(Body(info)["multipart_downloads_enabled"], false);
}

// ---- Logged models ----

TEST_F(ArtifactHandlersTest, LoggedModelLifecycleAsTheClientDrivesIt) {
  Json create_body = {{"experiment_id", experiment_id_},
                      {"name", "model"},
                      {"source_run_id", run_.run_id},
                      {"tags", {{{"key", "mlflow.user"}, {"value", "root"}}}},
                      {"params", {{{"key", "alpha"}, {"value", "0.1"}}}}};
  HttpResponse created = Call("POST", "/api/2.0/mlflow/logged-models", DumpJson(create_body));
  ASSERT_EQ(created.status, 200) << created.body;
  Json model = Body(created)["model"];
  std::string model_id = model["info"]["model_id"];
  EXPECT_EQ(model_id.size(), 34u);
  EXPECT_EQ(model["info"]["status"], "LOGGED_MODEL_PENDING");
  EXPECT_EQ(model["info"]["name"], "model");
  EXPECT_EQ(model["info"]["source_run_id"], run_.run_id);
  EXPECT_EQ(model["info"]["model_type"], "");
  EXPECT_EQ(model["info"]["tags"], Json::parse(R"([{"key": "mlflow.user", "value": "root"}])"));
  EXPECT_EQ(model["data"]["params"], Json::parse(R"([{"key": "alpha", "value": "0.1"}])"));
  std::string artifact_uri = model["info"]["artifact_uri"];
  absl::StatusOr<tracking::Experiment> experiment = tracking_->GetExperiment(experiment_id_);
  EXPECT_EQ(artifact_uri,
            experiment->artifact_location + "/models/" + model_id + "/artifacts");
  EXPECT_TRUE(model["info"]["creation_timestamp_ms"].is_number_integer());

  HttpResponse outputs = Call(
      "POST", "/api/2.0/mlflow/runs/outputs",
      DumpJson(Json{{"run_id", run_.run_id}, {"models", {{{"model_id", model_id}, {"step", 0}}}}}));
  ASSERT_EQ(outputs.status, 200) << outputs.body;
  EXPECT_EQ(Body(outputs), Json::object());

  // The client uploads the model files through the proxy, then finalizes.
  std::string root = *storage::ArtifactStore::RelativePathOfUri(artifact_uri);
  ASSERT_EQ(Call("PUT", "/api/2.0/mlflow-artifacts/artifacts/" + root + "/MLmodel", "", {},
                 StreamedBody("flavors: {}"))
                .status,
            200);
  HttpResponse finalized =
      Call("PATCH", "/api/2.0/mlflow/logged-models/" + model_id,
           DumpJson(Json{{"model_id", model_id}, {"status", "LOGGED_MODEL_READY"}}));
  ASSERT_EQ(finalized.status, 200) << finalized.body;
  EXPECT_EQ(Body(finalized)["model"]["info"]["status"], "LOGGED_MODEL_READY");

  HttpResponse got = Call("GET", "/api/2.0/mlflow/logged-models/" + model_id);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(Body(got)["model"]["info"]["status"], "LOGGED_MODEL_READY");

  HttpResponse tags = Call("PATCH", "/api/2.0/mlflow/logged-models/" + model_id + "/tags",
                           R"({"tags": [{"key": "mlflow.modelVersions", "value": "[]"}]})");
  ASSERT_EQ(tags.status, 200) << tags.body;
  HttpResponse params = Call("POST", "/api/2.0/mlflow/logged-models/" + model_id + "/params",
                             R"({"params": [{"key": "beta", "value": "2"}]})");
  ASSERT_EQ(params.status, 200) << params.body;
  Json after = Body(Call("GET", "/api/2.0/mlflow/logged-models/" + model_id))["model"];
  EXPECT_EQ(after["info"]["tags"].size(), 2u);
  EXPECT_EQ(after["data"]["params"].size(), 2u);

  HttpResponse listed =
      Call("GET", "/api/2.0/mlflow/logged-models/" + model_id + "/artifacts/directories");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(Body(listed), (Json{{"root_uri", artifact_uri},
                                {"files", Json::parse(R"([
                                   {"path": "MLmodel", "is_dir": false, "file_size": 11}])")}}));
  HttpResponse file = Call("GET", "/api/2.0/mlflow/logged-models/" + model_id + "/artifacts/files",
                           "", {{"artifact_file_path", "MLmodel"}});
  ASSERT_EQ(file.status, 200) << file.body;
  EXPECT_EQ(ReadAll(file.file_path), "flavors: {}");

  HttpResponse search = Call("POST", "/api/2.0/mlflow/logged-models/search",
                             DumpJson(Json{{"experiment_ids", {experiment_id_}},
                                           {"filter", "name = 'model'"}}));
  ASSERT_EQ(search.status, 200) << search.body;
  ASSERT_EQ(Body(search)["models"].size(), 1u);
  EXPECT_EQ(Body(search)["models"][0]["info"]["model_id"], model_id);
  EXPECT_FALSE(Body(search).contains("next_page_token"));

  HttpResponse untag =
      Call("DELETE", "/api/2.0/mlflow/logged-models/" + model_id + "/tags/mlflow.modelVersions");
  ASSERT_EQ(untag.status, 200) << untag.body;
  HttpResponse deleted = Call("DELETE", "/api/2.0/mlflow/logged-models/" + model_id);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(Call("GET", "/api/2.0/mlflow/logged-models/" + model_id).status, 404);
  HttpResponse allowed = Call("GET", "/api/2.0/mlflow/logged-models/" + model_id, "",
                              {{"allow_deleted", "true"}});
  EXPECT_EQ(allowed.status, 200);
  HttpResponse empty_search = Call("POST", "/api/2.0/mlflow/logged-models/search",
                                   DumpJson(Json{{"experiment_ids", {experiment_id_}}}));
  EXPECT_EQ(Body(empty_search), Json::object());
}

TEST_F(ArtifactHandlersTest, LinkedMetricsAppearInModelDataAndSearch) {
  HttpResponse created = Call("POST", "/api/2.0/mlflow/logged-models",
                              DumpJson(Json{{"experiment_id", experiment_id_}, {"name", "m"}}));
  ASSERT_EQ(created.status, 200) << created.body;
  std::string model_id = Body(created)["model"]["info"]["model_id"];
  ASSERT_TRUE(logged_models_
                  ->LogMetrics({{model_id, "acc", 0.75, 1000, 2, run_.run_id, "eval", "abc"}})
                  .ok());
  Json data = Body(Call("GET", "/api/2.0/mlflow/logged-models/" + model_id))["model"]["data"];
  EXPECT_EQ(data["metrics"], Json::parse(R"([{"key": "acc", "value": 0.75, "timestamp": 1000,
      "step": 2, "model_id": ")" + model_id + R"(", "run_id": ")" + run_.run_id +
                                         R"(", "dataset_name": "eval", "dataset_digest": "abc"}])"));
  HttpResponse search = Call(
      "POST", "/api/2.0/mlflow/logged-models/search",
      DumpJson(Json{{"experiment_ids", {experiment_id_}},
                    {"filter", "metrics.acc >= 0.75"},
                    {"datasets", {{{"dataset_name", "eval"}}}},
                    {"order_by", {{{"field_name", "metrics.acc"}, {"ascending", false}}}}}));
  ASSERT_EQ(search.status, 200) << search.body;
  ASSERT_EQ(Body(search)["models"].size(), 1u);
}

TEST_F(ArtifactHandlersTest, FinalizeAcceptsProtoNumbers) {
  HttpResponse created = Call("POST", "/api/2.0/mlflow/logged-models",
                              DumpJson(Json{{"experiment_id", experiment_id_}}));
  ASSERT_EQ(created.status, 200) << created.body;
  std::string model_id = Body(created)["model"]["info"]["model_id"];
  HttpResponse finalized = Call("PATCH", "/ajax-api/2.0/mlflow/logged-models/" + model_id,
                                R"({"status": 3})");
  ASSERT_EQ(finalized.status, 200) << finalized.body;
  EXPECT_EQ(Body(finalized)["model"]["info"]["status"], "LOGGED_MODEL_UPLOAD_FAILED");
}

TEST_F(ArtifactHandlersTest, LoggedModelBadInputTable) {
  struct Case {
    std::string method;
    std::string path;
    std::string body;
    int status;
    std::string error_code;
  };
  const std::string base = "/api/2.0/mlflow/logged-models";
  const std::vector<Case> cases = {
      {"POST", base, "{}", 400, "INVALID_PARAMETER_VALUE"},
      {"POST", base, "not json", 400, "INVALID_PARAMETER_VALUE"},
      {"POST", base, R"({"experiment_id": "12345"})", 404, "RESOURCE_DOES_NOT_EXIST"},
      {"POST", base, R"({"experiment_id": "0", "name": "a/b"})", 400, "INVALID_PARAMETER_VALUE"},
      {"POST", base, R"({"experiment_id": "0", "tags": "x"})", 400, "INVALID_PARAMETER_VALUE"},
      {"POST", base, R"({"experiment_id": "0", "params": [{"value": "1"}]})", 400,
       "INVALID_PARAMETER_VALUE"},
      {"GET", base + "/m-nope", "", 404, "RESOURCE_DOES_NOT_EXIST"},
      {"PATCH", base + "/m-nope", R"({"status": "LOGGED_MODEL_READY"})", 404,
       "RESOURCE_DOES_NOT_EXIST"},
      {"PATCH", base + "/m-nope", "{}", 400, "INVALID_PARAMETER_VALUE"},
      {"PATCH", base + "/m-nope", R"({"status": "DONE"})", 400, "INVALID_PARAMETER_VALUE"},
      {"DELETE", base + "/m-nope", "", 404, "RESOURCE_DOES_NOT_EXIST"},
      {"PATCH", base + "/m-nope/tags", R"({"tags": [{"key": "a", "value": "b"}]})", 404,
       "RESOURCE_DOES_NOT_EXIST"},
      {"POST", base + "/m-nope/params", R"({"params": [{"key": "a", "value": "b"}]})", 404,
       "RESOURCE_DOES_NOT_EXIST"},
      {"POST", base + "/search", "{}", 400, "INVALID_PARAMETER_VALUE"},
      {"POST", base + "/search", R"({"experiment_ids": ["0"], "filter": "foo = 1"})", 400,
       "INVALID_PARAMETER_VALUE"},
      {"POST", base + "/search", R"({"experiment_ids": ["0"], "max_results": 0.5})", 400,
       "INVALID_PARAMETER_VALUE"},
      {"POST", base + "/search", R"({"experiment_ids": ["0"], "datasets": [{}]})", 400,
       "INVALID_PARAMETER_VALUE"},
      {"POST", base + "/search", R"({"experiment_ids": ["0"], "page_token": "bad"})", 400,
       "INVALID_PARAMETER_VALUE"},
      {"GET", base + "/m-nope/artifacts/directories", "", 404, "RESOURCE_DOES_NOT_EXIST"},
      {"GET", base + "/m-nope/artifacts/files", "", 400, "BAD_REQUEST"},
      {"POST", "/api/2.0/mlflow/runs/outputs", "{}", 400, "INVALID_PARAMETER_VALUE"},
      {"POST", "/api/2.0/mlflow/runs/outputs", R"({"run_id": "nope", "models": []})", 404,
       "RESOURCE_DOES_NOT_EXIST"},
  };
  for (const Case& c : cases) {
    HttpResponse response = Call(c.method, c.path, c.body);
    EXPECT_EQ(response.status, c.status) << c.method << " " << c.path << " " << c.body << ": "
                                         << response.body;
    EXPECT_EQ(Body(response)["error_code"], c.error_code) << c.method << " " << c.path << " "
                                                          << c.body;
  }
}

}  // namespace
}  // namespace cairn::api
