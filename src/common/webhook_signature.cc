#include "common/webhook_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/strings.h"

namespace cairn {
namespace {

const absl::string_view kHeader = ToAbsl(kWebhookSignatureHeader);

std::string SignedContent(int64_t unix_seconds, std::string_view body) {
  std::string content = std::to_string(unix_seconds);
  content.push_back('.');
  content.append(body);
  return content;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::string HmacSha256Hex(std::string_view key, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  return LowerHex(digest, length);
}

std::string WebhookSignature(std::string_view secret, int64_t unix_seconds,
                             std::string_view body) {
  return absl::StrCat("t=", unix_seconds,
                      ",v1=", HmacSha256Hex(secret, SignedContent(unix_seconds, body)));
}

absl::Status VerifyWebhookSignature(std::string_view header_value, std::string_view secret,
                                    std::string_view body, int64_t now_unix_seconds,
                                    int64_t tolerance_seconds) {
  bool has_t = false;
  int64_t t = 0;
  std::vector<std::string_view> v1;
  std::string_view rest = header_value;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view item = Trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    if (key == "t") {
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), t);
      if (error != std::errc() || end != value.data() + value.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            kHeader, ": t=", ToAbsl(value), " is not a number of seconds"));
      }
      has_t = true;
    } else if (key == "v1") {
      v1.push_back(value);
    }
  }
  if (!has_t || v1.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kHeader, " must be t=<unix seconds>,v1=<hex>; ",
        !has_t ? "t= is missing" : "v1= is missing", " in '", ToAbsl(header_value), "'"));
  }
  const std::string expected = HmacSha256Hex(secret, SignedContent(t, body));
  bool match = false;
  for (std::string_view candidate : v1) {
    if (candidate.size() == expected.size() &&
        CRYPTO_memcmp(candidate.data(), expected.data(), expected.size()) == 0) {
      match = true;
    }
  }
  if (!match) {
    return absl::UnauthenticatedError(absl::StrCat(
        kHeader,
        ": no v1 signature matches the body under this secret (wrong secret, or the body "
        "was changed — verify the raw bytes, before parsing the JSON)"));
  }
  const int64_t skew = now_unix_seconds - t;
  if (std::llabs(skew) > tolerance_seconds) {
    return absl::UnauthenticatedError(absl::StrCat(
        kHeader, ": t=", t, " is ", std::llabs(skew), " s ",
        skew > 0 ? "old" : "in the future", ", beyond the tolerance of ", tolerance_seconds,
        " s (a replayed delivery, or the clocks disagree)"));
  }
  return absl::OkStatus();
}

}  // namespace cairn
