#include "common/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace ovoflow {
namespace {

TEST(ProgressBarTest, RendersFractionAndSuffix) {
  ProgressBar bar("train", 200, std::tmpfile());
  std::string line = bar.Render(50, "loss 0.5");
  EXPECT_NE(line.find("train ["), std::string::npos);
  EXPECT_NE(line.find(" 25% 50/200"), std::string::npos);
  EXPECT_NE(line.find("loss 0.5"), std::string::npos);
  bar.Done();
}

TEST(ProgressBarTest, NonTtyPrintsEachDecileOnce) {
  std::FILE* f = std::tmpfile();
  {
    ProgressBar bar("x", 100, f);
    for (int i = 0; i <= 100; ++i) bar.Update(i);
    bar.Done();
  }
  std::rewind(f);
  int lines = 0;
  for (int c; (c = std::fgetc(f)) != EOF;) lines += (c == '\n');
  EXPECT_EQ(lines, 11);  // 0%, 10%, ..., 100%
  EXPECT_EQ(std::fclose(f), 0);
}

}  // namespace
}  // namespace ovoflow
