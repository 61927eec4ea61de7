// A fixed set of connections (or connection slots) handed to one thread at
// a time: the reader pools of the SQLite and PostgreSQL backends.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace ovoflow::store {

// Thread-safe. Destroy only when no Lease is alive.
template <typename T>
class LeasePool {
 public:
  // Gives its item back to the pool when destroyed.
  class Lease {
   public:
    Lease(LeasePool* pool, T* item) : pool_(pool), item_(item) {}
    ~Lease() { pool_->Release(item_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    T& operator*() const { return *item_; }
    T* operator->() const { return item_; }

   private:
    LeasePool* pool_;
    T* item_;
  };

  void Add(std::unique_ptr<T> item) {
    std::lock_guard lock(mu_);
    idle_.push_back(item.get());
    all_.push_back(std::move(item));
  }

  // Blocks until an item is idle.
  Lease Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty(); });
    T* item = idle_.back();
    idle_.pop_back();
    return Lease(this, item);
  }

 private:
  void Release(T* item) {
    {
      std::lock_guard lock(mu_);
      idle_.push_back(item);
    }
    cv_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<T*> idle_;                 // guarded by mu_
  std::vector<std::unique_ptr<T>> all_;  // fixed after the store opened
};

}  // namespace ovoflow::store
