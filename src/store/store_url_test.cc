#include "store/store_url.h"

#include <gtest/gtest.h>

#include "store/prediction_store.h"

namespace ovoflow::store {
namespace {

TEST(StoreUrlTest, SqliteForms) {
  struct Case {
    const char* url;
    const char* path;
  };
  for (const Case& c :
       {Case{"sqlite:///var/lib/ovoflow/p.db", "/var/lib/ovoflow/p.db"}, Case{"sqlite://var/p.db", "var/p.db"},
        Case{"sqlite://p.db", "p.db"}, Case{"/abs/plain.db", "/abs/plain.db"}, Case{"rel/plain.db", "rel/plain.db"},
        Case{"plain.db", "plain.db"}, Case{"SQLite:///x.db", "/x.db"}}) {
    auto loc = ParseStoreUrl(c.url);
    ASSERT_TRUE(loc.ok()) << c.url << ": " << loc.status().ToString();
    EXPECT_EQ(loc->backend, StoreBackend::kSqlite) << c.url;
    EXPECT_EQ(loc->target, c.path) << c.url;
  }
}

TEST(StoreUrlTest, SchemePlusAbsolutePathIsTheTripleSlashForm) {
  // Callers build URLs as "sqlite://" + an absolute path.
  const std::string abs = "/work/data/predictions.db";
  auto built = ParseStoreUrl("sqlite://" + abs);
  auto literal = ParseStoreUrl("sqlite:///work/data/predictions.db");
  ASSERT_TRUE(built.ok());
  ASSERT_TRUE(literal.ok());
  EXPECT_EQ(built->target, abs);
  EXPECT_EQ(literal->target, abs);
}

TEST(StoreUrlTest, PostgresForms) {
  for (const char* url : {"postgresql://ovo:secret@db:5432/ovoflow", "postgres://localhost/ovoflow"}) {
    auto loc = ParseStoreUrl(url);
    ASSERT_TRUE(loc.ok()) << url;
    EXPECT_EQ(loc->backend, StoreBackend::kPostgres);
    EXPECT_EQ(loc->target, url);
  }
}

TEST(StoreUrlTest, RejectsWhatItCannotOpen) {
  for (const char* url : {"", "sqlite://", "mysql://db/ovoflow", "http://x", ":memory:", "sqlite://:memory:",
                          "file::memory:?cache=shared", "sqlite://file:x.db?mode=ro"}) {
    auto loc = ParseStoreUrl(url);
    ASSERT_FALSE(loc.ok()) << url;
    EXPECT_EQ(loc.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(loc.status().message().find("sqlite:///"), std::string::npos) << "says what is accepted: " << url;
  }
  auto mysql = ParseStoreUrl("mysql://db/ovoflow");
  EXPECT_NE(mysql.status().message().find("unsupported store URL scheme 'mysql'"), std::string::npos);
}

TEST(OpenStoreTest, UnreachablePostgresIsUnavailableAndHidesThePassword) {
  // Nothing listens on port 1: refused at once, no server needed.
  for (const char* url : {"postgresql://ovo:s3cret@127.0.0.1:1/ovoflow", "postgres://ovo:s3cret@127.0.0.1:1/ovoflow"}) {
    auto store = OpenStore(url);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
    EXPECT_TRUE(store.status().retryable());
    const std::string& message = store.status().message();
    EXPECT_NE(message.find("cannot connect to PostgreSQL '"), std::string::npos) << message;
    EXPECT_NE(message.find("ovo:***@127.0.0.1:1/ovoflow"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    EXPECT_NE(message.find("is the server running"), std::string::npos) << message;
  }
}

TEST(OpenStoreTest, BadSchemeAndMemoryAreInvalid) {
  EXPECT_EQ(OpenStore("redis://x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore(":memory:").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovoflow::store
