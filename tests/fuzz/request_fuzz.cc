// libFuzzer target: decoding and validating Public API requests as the
// server does (proto decode of ObjectWriter, ObjectReader, BatchRequest,
// SysCmdRequest bodies; ValidateWriter; the name checks).
#include <cstddef>
#include <cstdint>
#include <string>

#include "hauth.pb.h"
#include "kvspec.pb.h"
#include "server/validate.h"

namespace kv = lynkdb::kvspec::v2;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  kv::ObjectWriter w;
  if (w.ParseFromString(bytes)) {
    kv::ObjectResult err;
    (void)kvgo::server::ValidateWriter(&w, &err);
  }
  kv::BatchRequest b;
  if (b.ParseFromString(bytes)) {
    for (const auto& item : b.items()) {
      if (!item.has_writer()) continue;
      kv::ObjectWriter one = item.writer();
      kv::ObjectResult err;
      (void)kvgo::server::ValidateWriter(&one, &err);
    }
  }
  kv::ObjectReader r;
  if (r.ParseFromString(bytes)) (void)kvgo::server::ValidTableName(r.table_name());
  kv::SysCmdRequest s;
  if (s.ParseFromString(bytes)) {
    kv::TableSetRequest ts;
    if (ts.ParseFromString(s.body())) (void)kvgo::server::ValidTableName(ts.name());
    hooto::hauth::v1::AccessKey ak;
    if (ak.ParseFromString(s.body())) (void)kvgo::server::ValidAccessKeyId(ak.id());
  }
  (void)kvgo::server::ValidIncrNamespace(bytes);
  return 0;
}
