#include "common/checksum.h"

#include <gtest/gtest.h>

#include <string>

namespace kvgo {

// The examples of the wire spec, section 3.2 (computed with python's zlib).
TEST(ValueCheck, SpecExamples) {
  EXPECT_EQ(ValueCheck(std::string("\x00"
                                   "demo-value",
                                   11)),
            4077445546u);
  EXPECT_EQ(ValueCheck(std::string("\x00"
                                   "1",
                                   2)),
            268899013u);
  EXPECT_EQ(ValueCheck("\x02{\"name\":\"test\"}"), 4142445059u);
}

TEST(ValueCheck, EmptyValueIsOneNotZero) { EXPECT_EQ(ValueCheck(""), 1u); }

}  // namespace kvgo
