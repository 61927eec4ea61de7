#include "store/cursor.h"

#include <gtest/gtest.h>

namespace ovoflow::store {
namespace {

TEST(Base64UrlTest, KnownVectors) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  for (const char* text : {"", "Zg", "Zm8", "Zm9v", "Zm9vYmFy", "-_8"}) {
    auto raw = Base64UrlDecode(text);
    ASSERT_TRUE(raw.ok()) << text;
    EXPECT_EQ(Base64UrlEncode(*raw), text);
  }
}

TEST(Base64UrlTest, RejectsNonCanonicalText) {
  for (const char* bad : {"Zg==", "Z", "Zh", "Zm9", "a+b/", "Zm 9v", "Zm9v\n", "ab$c"}) {
    auto raw = Base64UrlDecode(bad);
    ASSERT_FALSE(raw.ok()) << bad;
    EXPECT_EQ(raw.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(CursorTest, RoundTrips) {
  const CursorKey keys[] = {
      {1'764'000'000'123'456'789, "hatchery-a", "egg-000001"},
      {0, "t", "e"},
      {-5, "", "egg-with-empty-tenant"},
      {INT64_MAX, std::string("t\0x", 3), "\xc3\xa9uf/\xe2\x9c\x93?&="},
      {INT64_MIN, std::string(300, 't'), std::string(1000, 'e')},
  };
  for (const CursorKey& key : keys) {
    const std::string c = EncodeCursor(key);
    EXPECT_EQ(c.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    auto back = DecodeCursor(c);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, key);
  }
}

TEST(CursorTest, RejectsMalformedCursors) {
  const std::string good = EncodeCursor({7, "tenant", "egg"});
  std::string wrong_version = *Base64UrlDecode(good);
  wrong_version[0] = 2;
  std::string long_tenant = *Base64UrlDecode(good);
  long_tenant[12] = 100;  // tenant length past the end
  std::string no_egg = *Base64UrlDecode(EncodeCursor({7, "tenant", "x"}));
  no_egg.pop_back();
  const std::string bad[] = {
      "not a cursor",
      "!!!!",
      good.substr(0, 10),
      good + "=",
      Base64UrlEncode("short"),
      Base64UrlEncode(wrong_version),
      Base64UrlEncode(long_tenant),
      Base64UrlEncode(no_egg),
  };
  for (const std::string& c : bad) {
    auto key = DecodeCursor(c);
    ASSERT_FALSE(key.ok()) << c;
    EXPECT_EQ(key.status().code(), StatusCode::kInvalidArgument) << c;
    EXPECT_NE(key.status().message().find("malformed cursor"), std::string::npos);
  }
}

}  // namespace
}  // namespace ovoflow::store
