// libFuzzer target: the TOML config parser and validator
// (src/config/config.h) on arbitrary text, and the effective-config
// printer on whatever it accepts (its output must parse again).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto c = kvgo::ParseConfig(text, "fuzz.conf", "/opt/lynkdb/kvgo-server");
  if (c.ok()) {
    // ToToml masks secrets, which may then be too short: only the shape
    // is checked (no crash).
    (void)kvgo::ParseConfig(c->ToToml(), "printed.conf", "/opt/lynkdb/kvgo-server");
  }
  return 0;
}
