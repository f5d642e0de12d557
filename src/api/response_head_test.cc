#include "api/response_head.h"

#include <sstream>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "gtest/gtest.h"

namespace cairn::api {
namespace {

namespace http = boost::beast::http;

// What the server wrote before: a Beast message built as Session::SetHeaders did, through
// Beast's serializer.
std::string BeastResponse(unsigned version, int status, bool keep_alive,
                          const std::string& content_type, const HeaderList& headers,
                          const std::string& body) {
  http::response<http::string_body> res;
  res.result(static_cast<unsigned>(status));
  res.version(version);
  res.set(http::field::server, "cairn");
  if (!content_type.empty()) res.set(http::field::content_type, content_type);
  for (const auto& [name, value] : headers) res.insert(name, value);
  res.keep_alive(keep_alive);
  res.body() = body;
  res.prepare_payload();
  std::ostringstream out;
  out << res;
  return out.str();
}

TEST(ResponseHeadTest, ByteIdenticalToBeastsSerializer) {
  const int statuses[] = {100, 200, 201, 204, 206, 301, 304, 400, 401, 403, 404, 405,
                          409, 413, 422, 429, 431, 500, 502, 503, 599, 999};
  const std::string content_types[] = {"application/json", "", " text/plain\t",
                                       "text/plain; version=0.0.4; charset=utf-8"};
  const HeaderList header_sets[] = {
      {},
      {{"Retry-After", "1"}},
      {{"X-Cairn-Join-Ms", "  12 "}, {"x-empty", ""}},
      {{"Location", "/a?b=c"}, {"Cache-Control", "no-cache"}, {"X-A", "1"}, {"x-b", "2"}},
      {{"Content-Disposition", "attachment; filename=\"a b.csv\""}, {"ETag", "\"x\""}},
  };
  const std::string bodies[] = {"", "OK", std::string(1000, 'x'), "{\"a\": 1}"};
  int compared = 0;
  for (unsigned version : {10u, 11u}) {
    for (bool keep_alive : {true, false}) {
      for (int status : statuses) {
        for (const std::string& content_type : content_types) {
          for (const HeaderList& headers : header_sets) {
            for (const std::string& body : bodies) {
              if (!CanWriteResponseHead(status, headers, body.size())) continue;
              std::string mine;
              AppendResponseHead(version, status, keep_alive, content_type, headers,
                                 body.size(), &mine);
              mine += body;
              ASSERT_EQ(mine, BeastResponse(version, status, keep_alive, content_type,
                                            headers, body))
                  << "version " << version << " keep_alive " << keep_alive << " status "
                  << status << " content type '" << content_type << "' body size "
                  << body.size();
              ++compared;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 1500);
}

TEST(ResponseHeadTest, LeavesToBeastWhatItRewrites) {
  EXPECT_TRUE(CanWriteResponseHead(200, {}, 10));
  EXPECT_TRUE(CanWriteResponseHead(204, {}, 0));
  EXPECT_FALSE(CanWriteResponseHead(204, {}, 1));
  EXPECT_FALSE(CanWriteResponseHead(304, {}, 1));
  EXPECT_FALSE(CanWriteResponseHead(101, {}, 1));
  EXPECT_FALSE(CanWriteResponseHead(200, {{"Connection", "close"}}, 0));
  EXPECT_FALSE(CanWriteResponseHead(200, {{"content-length", "3"}}, 3));
  EXPECT_FALSE(CanWriteResponseHead(200, {{"Transfer-Encoding", "gzip"}}, 3));
  EXPECT_FALSE(CanWriteResponseHead(1000, {}, 0));
  EXPECT_FALSE(CanWriteResponseHead(200, {{"Server", "x"}}, 0));
  EXPECT_FALSE(CanWriteResponseHead(200, {{"content-type", "text/csv"}}, 0));
  EXPECT_FALSE(CanWriteResponseHead(200, {{"X-A", "1"}, {"X-B", "2"}, {"x-a", "3"}}, 0));
  EXPECT_TRUE(CanWriteResponseHead(200, {{"X-A", "1"}, {"X-B", "2"}}, 0));
}

}  // namespace
}  // namespace cairn::api
