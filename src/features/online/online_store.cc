#include "features/online/online_store.h"

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "features/online/embedded_online_store.h"
#include "features/online/redis_online_store.h"

namespace cairn::features {

absl::StatusOr<std::unique_ptr<OnlineStore>> OpenOnlineStore(std::string_view url,
                                                             std::string data_dir) {
  if (url == "embedded") return OpenEmbeddedOnlineStore(data_dir + "/online");
  if (url.substr(0, 8) == "redis://") return OpenRedisOnlineStore(url);
  return absl::InvalidArgumentError(
      absl::StrCat("online store '", ToAbsl(url),
                   "': expected \"embedded\" or a URL redis://host:port[/db]"));
}

}  // namespace cairn::features
