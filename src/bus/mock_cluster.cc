#include "bus/mock_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace ovoflow::bus {

struct MockCluster::Impl {
  rd_kafka_t* rk = nullptr;  // owns the cluster
  rd_kafka_mock_cluster_t* cluster = nullptr;
};

MockCluster::~MockCluster() {
  if (impl_) {
    rd_kafka_mock_cluster_destroy(impl_->cluster);
    rd_kafka_destroy(impl_->rk);
  }
}

Result<std::unique_ptr<MockCluster>> MockCluster::Create(int brokers) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) return Status::Internal(std::string("mock handle: ") + err);
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    rd_kafka_destroy(rk);
    return Status::Internal("rd_kafka_mock_cluster_new failed");
  }
  std::unique_ptr<MockCluster> mc(new MockCluster());
  mc->impl_ = std::make_unique<Impl>(Impl{rk, cluster});
  mc->bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster);
  return mc;
}

Status MockCluster::CreateTopic(const std::string& topic, int partitions, int replication_factor) {
  rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(impl_->cluster, topic.c_str(), partitions, replication_factor);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Internal(rd_kafka_err2str(e));
  return Status::Ok();
}

void MockCluster::FailNextProduceRequests(int count) {
  constexpr int16_t kProduceApiKey = 0;
  for (int i = 0; i < count; ++i)
    rd_kafka_mock_push_request_errors(impl_->cluster, kProduceApiKey, 1, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
}

void MockCluster::FailNextRequests(int16_t api_key, const std::vector<int>& kafka_error_codes) {
  for (int code : kafka_error_codes)
    rd_kafka_mock_push_request_errors(impl_->cluster, api_key, 1, static_cast<rd_kafka_resp_err_t>(code));
}

void MockCluster::SetBrokerDown(int broker_id, bool down) {
  if (down)
    rd_kafka_mock_broker_set_down(impl_->cluster, broker_id);
  else
    rd_kafka_mock_broker_set_up(impl_->cluster, broker_id);
}

}  // namespace ovoflow::bus
