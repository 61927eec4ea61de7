#include "edge/sorter/modbus_sorter.h"

#include <fcntl.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/metrics.h"

namespace ovoflow::edge {

namespace modbus_map {

uint16_t TagOf(std::string_view id) {
  if (!id.empty() && id.size() <= 5 && std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    uint32_t n = 0;
    const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    if (ec == std::errc() && end == id.data() + id.size() && n <= 0xFFFF) return static_cast<uint16_t>(n);
  }
  uint32_t h = 2166136261u;  // FNV-1a 32
  for (const char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return static_cast<uint16_t>((h >> 16) ^ (h & 0xFFFFu));
}

}  // namespace modbus_map

namespace {

namespace mm = modbus_map;

// Function codes whose requests write holding registers.
constexpr uint8_t kWriteSingleRegister = 0x06;
constexpr uint8_t kWriteMultipleRegisters = 0x10;
constexpr uint8_t kMaskWriteRegister = 0x16;
constexpr uint8_t kReadWriteRegisters = 0x17;

Status ValidateOptions(const ModbusSorterOptions& o) {
  if (o.line_id.empty()) return Status::InvalidArgument("modbus sorter: line_id is required");
  if (o.host.empty()) return Status::InvalidArgument("modbus sorter: host is required (0.0.0.0 for every interface)");
  if (o.positions < 1 || o.positions > 4096)
    return Status::InvalidArgument("modbus sorter: positions must be in 1..4096, not " + std::to_string(o.positions));
  if (o.heartbeat_interval_ms < 10 || o.heartbeat_interval_ms > 60'000)
    return Status::InvalidArgument("modbus sorter: heartbeat_interval_ms must be in 10..60000");
  if (o.max_clients < 1 || o.max_clients > 64)
    return Status::InvalidArgument("modbus sorter: max_clients must be in 1..64");
  if (o.frame_timeout_ms < 10 || o.frame_timeout_ms > 5000)
    return Status::InvalidArgument("modbus sorter: frame_timeout_ms must be in 10..5000");
  return Status::Ok();
}

uint16_t Word(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

struct Families {
  prometheus::Family<prometheus::Gauge>& clients;
  prometheus::Family<prometheus::Counter>& requests;

  static Families& Get() {
    static Families* f = new Families{
        prometheus::BuildGauge()
            .Name("ovoflow_sorter_modbus_clients")
            .Help("Modbus TCP clients (PLC, HMI, diagnostics) connected to a line's sorter, by line")
            .Register(MetricsRegistry()),
        prometheus::BuildCounter()
            .Name("ovoflow_sorter_modbus_requests_total")
            .Help("Modbus requests a line's sorter answered, by line and result (ok, exception, dropped)")
            .Register(MetricsRegistry()),
    };
    return *f;
  }
};

}  // namespace

class ModbusSorter::Impl {
 public:
  explicit Impl(const ModbusSorterOptions& o)
      : options_(o),
        clients_gauge_(Families::Get().clients.Add({{"line", o.line_id}})),
        requests_ok_(Families::Get().requests.Add({{"line", o.line_id}, {"result", "ok"}})),
        requests_exception_(Families::Get().requests.Add({{"line", o.line_id}, {"result", "exception"}})),
        requests_dropped_(Families::Get().requests.Add({{"line", o.line_id}, {"result", "dropped"}})) {}

  ~Impl() {
    Stop();
    if (map_ != nullptr) modbus_mapping_free(map_);
    if (ctx_ != nullptr) modbus_free(ctx_);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Open() {
    const std::string service = std::to_string(options_.port);
    ctx_ = modbus_new_tcp_pi(options_.host.c_str(), service.c_str());
    if (ctx_ == nullptr)
      return Status::InvalidArgument("modbus sorter: bad address " + options_.host + ":" + service + ": " +
                                     modbus_strerror(errno));
    const auto frame_us = static_cast<uint32_t>(options_.frame_timeout_ms) * 1000u;
    modbus_set_byte_timeout(ctx_, frame_us / 1'000'000u, frame_us % 1'000'000u);
    modbus_set_indication_timeout(ctx_, frame_us / 1'000'000u, frame_us % 1'000'000u);
    listen_fd_ = modbus_tcp_pi_listen(ctx_, options_.max_clients);
    if (listen_fd_ < 0)
      return Status::Unavailable("modbus sorter: cannot listen on " + options_.host + ":" + service + ": " +
                                 ErrnoMessage());
    // libmodbus opens it blocking and inheritable: neither suits a server
    // thread in a process that starts children.
    if (fcntl(listen_fd_, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(listen_fd_, F_SETFL, fcntl(listen_fd_, F_GETFL) | O_NONBLOCK) != 0)
      return Status::Internal("modbus sorter: fcntl on the listening socket: " + ErrnoMessage());
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return Status::Internal("modbus sorter: getsockname: " + ErrnoMessage());
    port_ = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port
                                             : reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);

    map_ = modbus_mapping_new(0, 0, static_cast<int>(mm::RegisterCount(options_.positions)), 0);
    if (map_ == nullptr) return Status::ResourceExhausted("modbus sorter: no memory for the registers");
    std::random_device rd;
    uint16_t* r = map_->tab_registers;
    r[mm::kRegLayout] = mm::kLayoutVersion;
    r[mm::kRegEpoch] = static_cast<uint16_t>(std::uniform_int_distribution<uint32_t>(1, 0xFFFF)(rd));
    r[mm::kRegStatus] = 1;
    r[mm::kRegPositions] = static_cast<uint16_t>(options_.positions);
    r[mm::kRegWordsPerPosition] = mm::kWordsPerPosition;
    r[mm::kRegFirstPosition] = mm::kFirstPosition;
    r[mm::kRegFirstAck] = mm::AckAddress(options_.positions, 0);
    r[mm::kRegLineTag] = mm::TagOf(options_.line_id);

    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return Status::Internal("modbus sorter: eventfd: " + ErrnoMessage());
    thread_ = std::thread([this] { Serve(); });
    spdlog::info("sorter {}: Modbus TCP server on {}:{} ({} positions, {} registers, epoch {})", options_.line_id,
                 options_.host, port_, options_.positions, mm::RegisterCount(options_.positions), r[mm::kRegEpoch]);
    return Status::Ok();
  }

  void Stop() {
    if (thread_.joinable()) {
      const uint64_t one = 1;
      if (write(wake_fd_, &one, sizeof(one)) != sizeof(one))
        spdlog::error("sorter {}: cannot wake the Modbus thread: {}", options_.line_id, ErrnoMessage());
      thread_.join();
    }
    for (const int fd : clients_) close(fd);
    clients_.clear();
    client_count_ = 0;
    clients_gauge_.Set(0);
    if (listen_fd_ >= 0) close(listen_fd_);
    listen_fd_ = -1;
    if (wake_fd_ >= 0) close(wake_fd_);
    wake_fd_ = -1;
  }

  uint16_t port() const { return port_; }
  int clients() const { return client_count_.load(); }

  Status Apply(const v1::SortDecision& d) {
    if (d.line_id() != options_.line_id)
      return Status::InvalidArgument("modbus sorter: decision of line '" + d.line_id() + "' given to line '" +
                                     options_.line_id + "'");
    if (d.tray_position() >= options_.positions)
      return Status::InvalidArgument("modbus sorter: tray_position " + std::to_string(d.tray_position()) + " beyond " +
                                     std::to_string(options_.positions) + " positions");
    const uint16_t base = mm::PositionAddress(d.tray_position());
    const auto seq16 = static_cast<uint16_t>(d.sequence() & 0xFFFFu);
    const uint16_t tag = mm::TagOf(d.tray_id());
    std::lock_guard lock(mu_);
    uint16_t* r = map_->tab_registers;
    if (d.late()) {
      if (d.sequence() != 0 && r[base + mm::kOffDecision] != 0 && r[base + mm::kOffSequence] == seq16 &&
          r[base + mm::kOffTrayTag] == tag)
        r[base + mm::kOffFlags] = static_cast<uint16_t>(r[base + mm::kOffFlags] | mm::kFlagLate);
      return Status::Ok();
    }
    const int decision = d.actuated();
    if (decision < v1::DECISION_KEEP || decision > v1::DECISION_RECHECK || d.sequence() == 0)
      return Status::InvalidArgument("modbus sorter: an actuation needs a decision and a sequence number");
    r[base + mm::kOffDecision] = static_cast<uint16_t>(decision);
    r[base + mm::kOffSequence] = seq16;
    r[base + mm::kOffTrayTag] = tag;
    r[base + mm::kOffFlags] = static_cast<uint16_t>(d.reason() & 0x0F);
    // Sequence numbers only go up: a decision applied out of order does not
    // move the register back.
    const auto seq32 = static_cast<uint32_t>(d.sequence() & 0xFFFFFFFFu);
    const uint32_t current = (static_cast<uint32_t>(r[mm::kRegSequenceHigh]) << 16) | r[mm::kRegSequenceLow];
    if (static_cast<int32_t>(seq32 - current) > 0) {
      r[mm::kRegSequenceHigh] = static_cast<uint16_t>(seq32 >> 16);
      r[mm::kRegSequenceLow] = static_cast<uint16_t>(seq32 & 0xFFFFu);
    }
    return Status::Ok();
  }

  void SetReady(bool ready) {
    std::lock_guard lock(mu_);
    uint16_t& s = map_->tab_registers[mm::kRegStatus];
    s = static_cast<uint16_t>(ready ? (s | 1u) : (s & ~1u));
  }

  uint16_t acknowledged(uint32_t position) const {
    if (position >= options_.positions) return 0;
    std::lock_guard lock(mu_);
    return map_->tab_registers[mm::AckAddress(options_.positions, position)];
  }

 private:
  // The server thread: poll() over the wake-up eventfd, the listening socket
  // and the clients; the heartbeat advances between.
  void Serve() {
    using SteadyClock = std::chrono::steady_clock;
    const auto interval = std::chrono::milliseconds(options_.heartbeat_interval_ms);
    auto next_beat = SteadyClock::now() + interval;
    std::vector<pollfd> fds;
    while (true) {
      fds.clear();
      fds.push_back({wake_fd_, POLLIN, 0});
      fds.push_back({listen_fd_, POLLIN, 0});
      for (const int fd : clients_) fds.push_back({fd, POLLIN, 0});
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_beat - SteadyClock::now());
      const int rc = poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(wait.count(), 0)));
      if (rc < 0 && errno != EINTR) {
        spdlog::error("sorter {}: Modbus server poll failed: {}; the heartbeat stops", options_.line_id,
                      ErrnoMessage());
        return;
      }
      if (SteadyClock::now() >= next_beat) {
        Beat();
        next_beat += interval;
        if (next_beat < SteadyClock::now()) next_beat = SteadyClock::now() + interval;  // after a stall
      }
      if (rc <= 0) continue;
      if (fds[0].revents != 0) return;
      std::vector<int> gone;
      for (std::size_t i = 2; i < fds.size(); ++i)
        if (fds[i].revents != 0 && !Answer(fds[i].fd)) gone.push_back(fds[i].fd);
      for (const int fd : gone) Drop(fd);
      if (fds[1].revents != 0) Accept();
    }
  }

  void Beat() {
    std::lock_guard lock(mu_);
    uint16_t& hb = map_->tab_registers[mm::kRegHeartbeat];
    hb = static_cast<uint16_t>(hb + 1);
  }

  void Accept() {
    while (true) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
          spdlog::warn("sorter {}: Modbus accept failed: {}", options_.line_id, ErrnoMessage());
        return;
      }
      if (fd >= FD_SETSIZE) {  // libmodbus waits for the rest of a request with select()
        spdlog::warn("sorter {}: Modbus client refused: descriptor {} is beyond select()'s FD_SETSIZE",
                     options_.line_id, fd);
        close(fd);
        continue;
      }
      if (clients_.size() >= static_cast<std::size_t>(options_.max_clients)) {
        spdlog::warn("sorter {}: Modbus client refused: {} clients already connected (max_clients)", options_.line_id,
                     clients_.size());
        close(fd);
        continue;
      }
      const int one = 1;
      (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // best effort: replies are small
      clients_.push_back(fd);
      client_count_ = static_cast<int>(clients_.size());
      clients_gauge_.Set(static_cast<double>(clients_.size()));
      spdlog::info("sorter {}: Modbus client connected ({} now)", options_.line_id, clients_.size());
    }
  }

  void Drop(int fd) {
    close(fd);
    clients_.erase(std::remove(clients_.begin(), clients_.end(), fd), clients_.end());
    client_count_ = static_cast<int>(clients_.size());
    clients_gauge_.Set(static_cast<double>(clients_.size()));
    spdlog::info("sorter {}: Modbus client disconnected ({} now)", options_.line_id, clients_.size());
  }

  // Reads and answers one request of client `fd`; false when the client is
  // to be dropped (it closed, sent garbage, was too slow or does not read
  // its replies: its socket is non-blocking, so a full send buffer fails the
  // reply instead of holding the registers' lock).
  bool Answer(int fd) {
    std::array<uint8_t, MODBUS_TCP_MAX_ADU_LENGTH> req{};
    modbus_set_socket(ctx_, fd);
    const int n = modbus_receive(ctx_, req.data());
    if (n < 0) return false;
    if (n == 0) return true;  // not for this server (libmodbus filtered it)
    const int hl = modbus_get_header_length(ctx_);
    std::lock_guard lock(mu_);
    const int rc = WritesOutsideAck(req.data(), hl, n)
                       ? modbus_reply_exception(ctx_, req.data(), MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS)
                       : modbus_reply(ctx_, req.data(), n, map_);
    if (rc < 0) {
      requests_dropped_.Increment();
      return false;
    }
    // modbus_reply answers bad addresses and functions with an exception
    // itself: function code | 0x80 and the exception code, nothing else.
    if (rc == hl + 2) {
      requests_exception_.Increment();
    } else {
      requests_ok_.Increment();
    }
    return true;
  }

  // True when the request writes a register outside the acknowledge area
  // (the PLC may write only its acknowledgements).
  bool WritesOutsideAck(const uint8_t* req, int hl, int n) const {
    const uint8_t fc = req[hl];
    uint32_t addr = 0;
    uint32_t count = 0;
    switch (fc) {
      case kWriteSingleRegister:
      case kMaskWriteRegister:
        if (n < hl + 3) return true;
        addr = Word(req + hl + 1);
        count = 1;
        break;
      case kWriteMultipleRegisters:
        if (n < hl + 5) return true;
        addr = Word(req + hl + 1);
        count = Word(req + hl + 3);
        break;
      case kReadWriteRegisters:
        if (n < hl + 9) return true;
        addr = Word(req + hl + 5);
        count = Word(req + hl + 7);
        break;
      default:
        return false;
    }
    const uint32_t first_ack = mm::AckAddress(options_.positions, 0);
    return addr < first_ack || addr + count > first_ack + options_.positions;
  }

  const ModbusSorterOptions options_;
  prometheus::Gauge& clients_gauge_;
  prometheus::Counter& requests_ok_;
  prometheus::Counter& requests_exception_;
  prometheus::Counter& requests_dropped_;

  modbus_t* ctx_ = nullptr;  // the server thread's only, once started (framing; each client's fd set in turn)
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<int> clients_;  // the server thread's only
  std::atomic<int> client_count_{0};

  mutable std::mutex mu_;
  modbus_mapping_t* map_ = nullptr;  // GUARDED_BY(mu_): the registers (the pointer is set before the thread starts)
};

Result<std::unique_ptr<ModbusSorter>> ModbusSorter::Start(const ModbusSorterOptions& options) {
  OVOFLOW_RETURN_IF_ERROR(ValidateOptions(options));
  auto impl = std::make_unique<Impl>(options);
  OVOFLOW_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<ModbusSorter>(new ModbusSorter(std::move(impl)));
}

ModbusSorter::ModbusSorter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ModbusSorter::~ModbusSorter() = default;

uint16_t ModbusSorter::port() const { return impl_->port(); }
Status ModbusSorter::Apply(const v1::SortDecision& decision) { return impl_->Apply(decision); }
void ModbusSorter::SetReady(bool ready) { impl_->SetReady(ready); }
uint16_t ModbusSorter::acknowledged(uint32_t position) const { return impl_->acknowledged(position); }
int ModbusSorter::clients() const { return impl_->clients(); }
void ModbusSorter::Stop() { impl_->Stop(); }

}  // namespace ovoflow::edge
