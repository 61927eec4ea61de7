#include "bus/testing/fake_kafka.h"

#include <algorithm>
#include <functional>

namespace ovoflow::bus::testing {

// ---- FakeBroker

void FakeBroker::CreateTopic(const std::string& topic, int partitions) {
  std::lock_guard lock(mu_);
  topics_[topic].resize(static_cast<std::size_t>(partitions));
}

int64_t FakeBroker::Append(const std::string& topic, int32_t partition, const std::string& key,
                           const std::string& value, const Headers& headers) {
  std::lock_guard lock(mu_);
  return AppendLocked({topic, key, value, headers}, partition);
}

int64_t FakeBroker::AppendLocked(const OutgoingMessage& m, int32_t partition) {
  auto& parts = topics_[m.topic];
  if (parts.empty()) parts.resize(1);
  if (partition < 0) partition = PartitionFor(m.topic, m.key);
  auto& msgs = parts.at(static_cast<std::size_t>(partition)).messages;
  Message out;
  out.topic = m.topic;
  out.partition = partition;
  out.offset = static_cast<int64_t>(msgs.size());
  out.key = m.key;
  out.value = m.value;
  out.headers = m.headers;
  out.timestamp_ms = 1'700'000'000'000;
  msgs.push_back(std::move(out));
  return msgs.back().offset;
}

int32_t FakeBroker::PartitionFor(const std::string& topic, const std::string& key) const {
  auto it = topics_.find(topic);
  const std::size_t n = it == topics_.end() || it->second.empty() ? 1 : it->second.size();
  return static_cast<int32_t>(std::hash<std::string>{}(key) % n);
}

std::vector<Message> FakeBroker::Read(const std::string& topic) const {
  std::lock_guard lock(mu_);
  std::vector<Message> out;
  auto it = topics_.find(topic);
  if (it == topics_.end()) return out;
  for (const auto& p : it->second) out.insert(out.end(), p.messages.begin(), p.messages.end());
  return out;
}

std::optional<int64_t> FakeBroker::Committed(const std::string& topic, int32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = committed_.find({topic, partition});
  if (it == committed_.end()) return std::nullopt;
  return it->second;
}

void FakeBroker::FailNext(FakeOp op, const Status& status, int times) {
  std::lock_guard lock(mu_);
  for (int i = 0; i < times; ++i) failures_[op].push_back(status);
}

void FakeBroker::FenceProducers() {
  std::lock_guard lock(mu_);
  ++producer_epoch_;
}

Status FakeBroker::Injected(FakeOp op) {
  auto it = failures_.find(op);
  if (it == failures_.end() || it->second.empty()) return Status::Ok();
  Status st = it->second.front();
  it->second.pop_front();
  return st;
}

int FakeBroker::transactions_committed() const {
  std::lock_guard lock(mu_);
  return committed_txns_;
}

int FakeBroker::transactions_aborted() const {
  std::lock_guard lock(mu_);
  return aborted_txns_;
}

int FakeBroker::producers_created() const {
  std::lock_guard lock(mu_);
  return producers_created_;
}

// ---- FakeConsumer

FakeConsumer::FakeConsumer(FakeBroker* broker, const std::vector<std::string>& topics) : broker_(broker) {
  std::lock_guard block(broker_->mu_);
  for (const auto& t : topics) {
    const auto& parts = broker_->topics_[t];
    for (std::size_t p = 0; p < parts.size(); ++p) {
      auto key = std::make_pair(t, static_cast<int32_t>(p));
      auto c = broker_->committed_.find(key);
      positions_[key] = c == broker_->committed_.end() ? 0 : c->second;
    }
  }
  generation_ = broker_->generation_;
}

void FakeConsumer::Revoke(const std::string& topic, int32_t partition) {
  {
    std::lock_guard block(broker_->mu_);
    ++broker_->generation_;
  }
  std::lock_guard lock(mu_);
  revoked_.insert({topic, partition});
}

bool FakeConsumer::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

Result<std::vector<Message>> FakeConsumer::Poll(int max_messages, int timeout_ms) {
  std::vector<Message> out;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status::FailedPrecondition("consumer is closed");
    {
      std::lock_guard block(broker_->mu_);
      if (Status st = broker_->Injected(FakeOp::kPoll); !st.ok()) {
        if (clock_ != nullptr) clock_->SleepFor(int64_t{timeout_ms} * 1'000'000);
        return st;
      }
    }
    if (!revoked_.empty()) {  // the rebalance reaches this member
      for (const auto& tp : revoked_) positions_.erase(tp);
      revoked_.clear();
      std::lock_guard block(broker_->mu_);
      generation_ = broker_->generation_;
    }
    std::lock_guard block(broker_->mu_);
    // Round robin over the assigned partitions, one message at a time.
    for (bool more = true; more && static_cast<int>(out.size()) < max_messages;) {
      more = false;
      for (auto& [tp, pos] : positions_) {
        if (static_cast<int>(out.size()) >= max_messages) break;
        const auto& msgs = broker_->topics_[tp.first].at(static_cast<std::size_t>(tp.second)).messages;
        if (pos < static_cast<int64_t>(msgs.size())) {
          out.push_back(msgs[static_cast<std::size_t>(pos)]);
          ++pos;
          more = true;
        }
      }
    }
  }
  if (out.empty() && clock_ != nullptr) clock_->SleepFor(int64_t{timeout_ms} * 1'000'000);
  return out;
}

Status FakeConsumer::Commit(const std::vector<Message>& messages) {
  std::lock_guard lock(mu_);
  std::lock_guard block(broker_->mu_);
  OVOFLOW_RETURN_IF_ERROR(broker_->Injected(FakeOp::kCommit));
  if (generation_ != broker_->generation_) return Status::FailedPrecondition("commit: stale generation");
  for (const auto& o : NextOffsets(messages)) {
    if (!positions_.count({o.topic, o.partition})) continue;
    broker_->committed_[{o.topic, o.partition}] = o.offset;
  }
  return Status::Ok();
}

int64_t FakeConsumer::Lag() {
  std::lock_guard lock(mu_);
  std::lock_guard block(broker_->mu_);
  int64_t lag = 0;
  for (const auto& [tp, pos] : positions_)
    lag +=
        static_cast<int64_t>(broker_->topics_[tp.first].at(static_cast<std::size_t>(tp.second)).messages.size()) - pos;
  return lag;
}

void FakeConsumer::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

std::size_t FakeConsumer::DropUnassigned(std::vector<Message>* messages) {
  std::lock_guard lock(mu_);
  const std::size_t before = messages->size();
  std::erase_if(*messages, [&](const Message& m) { return !positions_.count({m.topic, m.partition}); });
  return before - messages->size();
}

Status FakeConsumer::Rewind(const std::vector<Message>& messages) {
  std::lock_guard lock(mu_);
  for (const auto& o : FirstOffsets(messages)) {
    auto it = positions_.find({o.topic, o.partition});
    if (it != positions_.end()) it->second = o.offset;
  }
  return Status::Ok();
}

std::vector<TopicPartitionOffset> FakeConsumer::Assigned(std::vector<TopicPartitionOffset> partitions) {
  std::lock_guard lock(mu_);
  std::erase_if(partitions, [&](const TopicPartitionOffset& o) { return !positions_.count({o.topic, o.partition}); });
  return partitions;
}

Status FakeConsumer::SeekToCommitted(const std::vector<Message>& messages) {
  std::lock_guard lock(mu_);
  std::lock_guard block(broker_->mu_);
  for (const auto& o : FirstOffsets(messages)) {
    auto it = positions_.find({o.topic, o.partition});
    if (it == positions_.end()) continue;
    auto c = broker_->committed_.find({o.topic, o.partition});
    it->second = c == broker_->committed_.end() ? 0 : c->second;
  }
  return Status::Ok();
}

Result<std::string> FakeConsumer::GroupMetadata() {
  std::lock_guard lock(mu_);
  return "generation:" + std::to_string(generation_);
}

// ---- FakeProducer

FakeProducer::FakeProducer(FakeBroker* broker, bool transactional) : broker_(broker), transactional_(transactional) {
  std::lock_guard block(broker_->mu_);
  ++broker_->producers_created_;
}

Status FakeProducer::Fenced() {
  if (transactional_ && epoch_ >= 0 && epoch_ != broker_->producer_epoch_)
    return Status::Internal("producer fenced by a newer instance with the same transactional.id");
  return Status::Ok();
}

Status FakeProducer::Send(const std::string& topic, const std::string& key, const std::string& value,
                          const Headers& headers, DeliveryCallback on_delivery) {
  Status delivery;
  {
    std::lock_guard block(broker_->mu_);
    OVOFLOW_RETURN_IF_ERROR(Fenced());
    Status st = broker_->Injected(FakeOp::kSend);
    if (!st.ok()) {
      if (in_transaction_) must_abort_ = true;
      return st;
    }
    if (transactional_) {
      if (!in_transaction_) return Status::Internal("send outside a transaction");
      pending_.push_back({topic, key, value, headers});
      return Status::Ok();
    }
    delivery = broker_->Injected(FakeOp::kDelivery);
    if (delivery.ok()) broker_->AppendLocked({topic, key, value, headers}, -1);
  }
  if (on_delivery) on_delivery(delivery);
  return Status::Ok();
}

Status FakeProducer::InitTransactions(int) {
  std::lock_guard block(broker_->mu_);
  OVOFLOW_RETURN_IF_ERROR(broker_->Injected(FakeOp::kInitTransactions));
  epoch_ = broker_->producer_epoch_;
  return Status::Ok();
}

Status FakeProducer::BeginTransaction() {
  std::lock_guard block(broker_->mu_);
  OVOFLOW_RETURN_IF_ERROR(Fenced());
  OVOFLOW_RETURN_IF_ERROR(broker_->Injected(FakeOp::kBeginTransaction));
  if (epoch_ < 0) return Status::Internal("begin transaction before InitTransactions");
  if (in_transaction_) return Status::Internal("a transaction is already open");
  in_transaction_ = true;
  must_abort_ = false;
  pending_.clear();
  pending_offsets_.clear();
  return Status::Ok();
}

Status FakeProducer::SendOffsetsToTransaction(const std::vector<TopicPartitionOffset>& offsets,
                                              const std::string& group_metadata, int) {
  std::lock_guard block(broker_->mu_);
  OVOFLOW_RETURN_IF_ERROR(Fenced());
  Status st = broker_->Injected(FakeOp::kSendOffsets);
  if (st.ok() && group_metadata != "generation:" + std::to_string(broker_->generation_))
    st = Status::FailedPrecondition("send offsets to transaction: the group's generation moved on (" + group_metadata +
                                    ")");
  if (!st.ok()) {
    must_abort_ = true;
    return st;
  }
  pending_offsets_.insert(pending_offsets_.end(), offsets.begin(), offsets.end());
  return Status::Ok();
}

Status FakeProducer::CommitTransaction(int) {
  std::lock_guard block(broker_->mu_);
  OVOFLOW_RETURN_IF_ERROR(Fenced());
  if (!in_transaction_) return Status::Internal("commit without a transaction");
  if (must_abort_) return Status::FailedPrecondition("commit transaction: the transaction must be aborted");
  Status st = broker_->Injected(FakeOp::kCommitTransaction);
  if (!st.ok()) {
    if (!st.retryable()) must_abort_ = true;
    return st;
  }
  for (const auto& m : pending_) broker_->AppendLocked(m, -1);
  for (const auto& o : pending_offsets_) broker_->committed_[{o.topic, o.partition}] = o.offset;
  ++broker_->committed_txns_;
  in_transaction_ = false;
  pending_.clear();
  pending_offsets_.clear();
  return broker_->Injected(FakeOp::kCommitTransactionOutcomeLost);
}

Status FakeProducer::AbortTransaction(int) {
  std::lock_guard block(broker_->mu_);
  OVOFLOW_RETURN_IF_ERROR(Fenced());
  OVOFLOW_RETURN_IF_ERROR(broker_->Injected(FakeOp::kAbortTransaction));
  ++broker_->aborted_txns_;
  in_transaction_ = false;
  must_abort_ = false;
  pending_.clear();
  pending_offsets_.clear();
  return Status::Ok();
}

}  // namespace ovoflow::bus::testing
