// What every connection of one ApiServer shares: options, dependencies, the
// handler pools, the live hub and the registry that lets Stop() close every
// open connection. Owned by the server; outlives all its sessions.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <boost/asio/thread_pool.hpp>

#include "api/authn.h"
#include "api/live_hub.h"
#include "api/server.h"

namespace ovoflow::api {

// A connection Stop() can ask to close.
class Closeable {
 public:
  virtual ~Closeable() = default;
  // Thread-safe. Finishes the request in progress, then closes.
  virtual void Shutdown() = 0;
};

// Thread-safe set of the open connections.
class SessionRegistry {
 public:
  void Add(const void* key, std::weak_ptr<Closeable> session);
  void Remove(const void* key);  // from the session's destructor
  void ShutdownAll();
  // True once no session is left; false when `timeout` passed first.
  bool WaitEmpty(std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable empty_;
  std::unordered_map<const void*, std::weak_ptr<Closeable>> sessions_;  // GUARDED_BY(mu_)
};

// A budget of bytes shared by all connections (request bodies in flight).
class ByteBudget {
 public:
  explicit ByteBudget(std::size_t limit) : limit_(limit) {}
  // Takes `n` bytes when they fit; false (nothing taken) otherwise.
  bool TryTake(std::size_t n) {
    std::size_t used = used_.load();
    do {
      if (n > limit_ - used) return false;
    } while (!used_.compare_exchange_weak(used, used + n));
    return true;
  }
  void Give(std::size_t n) { used_.fetch_sub(n); }
  std::size_t used() const { return used_.load(); }
  std::size_t limit() const { return limit_; }

 private:
  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

struct ServerState {
  ServerState(const ApiOptions& o, ApiDeps d)
      : options(o),
        deps(std::move(d)),
        hub(o.ws_queue_limit),
        authn(deps.verifier, o.auth),
        body_bytes(o.max_body_bytes_in_flight),
        // Without a store every /v1/ route answers inline (503): one idle thread each.
        query_pool(deps.store ? static_cast<std::size_t>(o.query_threads) : 1),
        ingest_pool(deps.store ? static_cast<std::size_t>(o.ingest_threads) : 1) {}

  const ApiOptions options;
  const ApiDeps deps;
  LiveHub hub;
  Authenticator authn;
  ByteBudget body_bytes;  // request bodies being read or handled
  SessionRegistry sessions;
  boost::asio::thread_pool query_pool;   // Lane::kQuery handlers
  boost::asio::thread_pool ingest_pool;  // Lane::kIngest handlers
  std::atomic<bool> stopping{false};
};

}  // namespace ovoflow::api
