#include "api/router.h"

#include "api/errors.h"
#include "api/request_fields.h"
#include "gtest/gtest.h"

namespace cairn::api {
namespace {

HttpResponse Named(std::string name) {
  HttpResponse r;
  r.body = std::move(name);
  return r;
}

TEST(Router, LiteralBeatsPatternAndCapturesSegments) {
  Router router;
  router.Add("GET", "/m/{name}", [](const HttpRequest&) { return Named("pattern"); });
  router.Add("GET", "/m/list", [](const HttpRequest&) { return Named("literal"); });
  auto literal = router.Find("GET", "/m/list");
  ASSERT_NE(literal.route, nullptr);
  EXPECT_EQ(literal.route->handler(HttpRequest{}).body, "literal");
  auto pattern = router.Find("GET", "/m/churn");
  ASSERT_NE(pattern.route, nullptr);
  ASSERT_EQ(pattern.path_params.size(), 1u);
  EXPECT_EQ(pattern.path_params[0].second, "churn");
}

TEST(Router, RestPatternCapturesTheTail) {
  Router router;
  router.Add("GET", "/a/{*path}", [](const HttpRequest&) { return Named("x"); });
  auto match = router.Find("GET", "/a/b/c.txt");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.path_params[0].second, "b/c.txt");
}

TEST(Router, PatternsNeedEverySegment) {
  Router router;
  router.Add("GET", "/m/{name}/versions", [](const HttpRequest&) { return Named("v"); });
  router.Add("GET", "/a/{*path}", [](const HttpRequest&) { return Named("x"); });
  EXPECT_EQ(router.Find("GET", "/m/churn").route, nullptr);
  EXPECT_EQ(router.Find("GET", "/m/churn/versions/extra").route, nullptr);
  EXPECT_EQ(router.Find("GET", "/m//versions").route, nullptr);
  auto rest = router.Find("GET", "/a");
  ASSERT_NE(rest.route, nullptr);
  EXPECT_EQ(rest.path_params[0].second, "");
  auto empty_tail = router.Find("GET", "/a/");
  ASSERT_NE(empty_tail.route, nullptr);
  EXPECT_EQ(empty_tail.path_params[0].second, "");
}

TEST(Router, WrongMethodIsReported) {
  Router router;
  router.AddMlflow("POST", "runs/create", [](const HttpRequest&) { return Named("x"); });
  auto match = router.Find("GET", "/ajax-api/2.0/mlflow/runs/create");
  EXPECT_EQ(match.route, nullptr);
  EXPECT_TRUE(match.method_not_allowed);
  EXPECT_NE(router.Find("POST", "/api/2.0/mlflow/runs/create").route, nullptr);
}

TEST(Router, DispatchFillsPathParamsAndAnswersUnknownRoutes) {
  Router router;
  router.Add("GET", "/m/{name}", [](const HttpRequest& request) {
    return Named(*request.PathParam("name"));
  });
  HttpRequest get;
  get.method = "GET";
  get.path = "/m/churn";
  EXPECT_EQ(router.Dispatch(get).body, "churn");
  HttpRequest post = get;
  post.method = "POST";
  HttpResponse wrong_method = router.Dispatch(post);
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_NE(wrong_method.body.find("ENDPOINT_NOT_FOUND"), std::string::npos);
  HttpRequest unknown = get;
  unknown.path = "/nope";
  EXPECT_EQ(router.Dispatch(unknown).status, 404);
}

TEST(Errors, MlflowDialectUsesMlflowStatuses) {
  auto r = ErrorResponse(absl::AlreadyExistsError("x"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("RESOURCE_ALREADY_EXISTS"), std::string::npos);
  EXPECT_EQ(ErrorResponse(absl::AlreadyExistsError("x"), ErrorDialect::kCairn).status, 409);
  EXPECT_EQ(ErrorResponse(absl::NotFoundError("x")).status, 404);
  EXPECT_TRUE(r.headers.empty());
}

TEST(Errors, BackPressureIs429WithRetryAfter) {
  auto r = ErrorResponse(absl::ResourceExhaustedError("endpoint busy"), ErrorDialect::kCairn);
  EXPECT_EQ(r.status, 429);
  EXPECT_NE(r.body.find("endpoint busy"), std::string::npos);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
  EXPECT_EQ(r.headers[0].second, "1");
}

TEST(RequestFields, GetQueryRepeatsBecomeArrays) {
  HttpRequest req;
  req.method = "GET";
  req.query = {{"run_ids", "a"}, {"run_ids", "b"}, {"max_results", "5"}};
  auto fields = RequestFields(req);
  ASSERT_TRUE(fields.ok());
  auto ids = StringList(*fields, "run_ids");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->size(), 2u);
  auto max = OptionalInt64(*fields, "max_results");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(**max, 5);
}

TEST(RequestFields, MissingRequiredNamesTheField) {
  auto s = RequiredString(Json::object(), "run_id");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("'run_id'"), std::string_view::npos);
}

TEST(RequestFields, WrongTypeIsInvalid) {
  auto s = OptionalInt64(Json{{"step", "abc"}}, "step");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  HttpRequest req;
  req.method = "POST";
  req.body = "[1]";
  EXPECT_EQ(RequestFields(req).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::api
