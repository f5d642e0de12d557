#pragma once
// Signatures of Cairn's own webhooks (alert sinks), Stripe-style, so that a receiver can
// reject forged and replayed deliveries:
//
//   X-Cairn-Signature: t=<unix seconds>,v1=<lowercase hex HMAC-SHA256(secret, "<t>.<body>")>
//
// The timestamp is when the try was sent (each retry is signed afresh); a receiver
// recomputes the HMAC over the timestamp, ".", and the exact body bytes, compares it in
// constant time, and refuses a timestamp further than its tolerance (default 5 minutes)
// from its own clock. docs/monitoring.md shows a Python receiver (cairn.webhooks).
// Registry webhooks keep MLflow's own scheme (cicd/webhook_format.h) and share only the
// HMAC here. Stateless; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace cairn {

inline constexpr std::string_view kWebhookSignatureHeader = "X-Cairn-Signature";
inline constexpr int64_t kWebhookSignatureToleranceSeconds = 300;

// Lowercase hex HMAC-SHA256 of `message` under `key` (OpenSSL; 64 characters).
std::string HmacSha256Hex(std::string_view key, std::string_view message);

// The header's value for `body` sent at `unix_seconds`: "t=<unix_seconds>,v1=<hex>".
std::string WebhookSignature(std::string_view secret, int64_t unix_seconds,
                             std::string_view body);

// Checks a received header value against `body` and `secret` at `now_unix_seconds`.
// OK when it holds t= and a v1= (one of several, e.g. during a secret rotation on the
// sender) that matches, and |now - t| <= tolerance_seconds. Otherwise: InvalidArgument for
// a malformed header (names what is missing); Unauthenticated for a signature that does
// not match or a timestamp out of tolerance (says by how many seconds).
absl::Status VerifyWebhookSignature(
    std::string_view header_value, std::string_view secret, std::string_view body,
    int64_t now_unix_seconds, int64_t tolerance_seconds = kWebhookSignatureToleranceSeconds);

}  // namespace cairn
