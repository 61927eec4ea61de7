#include "exe/bench_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace ovoflow::exe {
namespace {

// One sample line split into its metric name, label text (without braces) and value.
struct Sample {
  std::string_view name;
  std::string_view labels;
  double value = 0;
};

bool ParseSample(std::string_view line, Sample* s) {
  if (line.empty() || line.front() == '#') return false;
  std::size_t name_end = line.find_first_of("{ ");
  if (name_end == std::string_view::npos) return false;
  s->name = line.substr(0, name_end);
  std::size_t value_start = name_end;
  s->labels = {};
  if (line[name_end] == '{') {
    std::size_t close = line.find('}', name_end);
    if (close == std::string_view::npos) return false;
    s->labels = line.substr(name_end + 1, close - name_end - 1);
    value_start = close + 1;
  }
  std::string value(line.substr(value_start));
  char* end = nullptr;
  s->value = std::strtod(value.c_str(), &end);
  return end != value.c_str();
}

// The value of `label` in `labels` (a="x",b="y"); empty when absent.
std::string LabelValue(std::string_view labels, std::string_view label) {
  std::string key = std::string(label) + "=\"";
  std::size_t pos = 0;
  while ((pos = labels.find(key, pos)) != std::string_view::npos) {
    if (pos == 0 || labels[pos - 1] == ',') {
      std::size_t start = pos + key.size();
      std::size_t end = labels.find('"', start);
      return std::string(labels.substr(start, end == std::string_view::npos ? end : end - start));
    }
    pos += key.size();
  }
  return "";
}

template <typename Fn>
void ForEachSample(std::string_view text, std::string_view name, Fn fn) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    Sample s;
    if (ParseSample(text.substr(pos, eol - pos), &s) && s.name == name) fn(s);
    pos = eol + 1;
  }
}

bool WaitFd(int fd, short events, int64_t deadline_ms) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  if (now >= deadline_ms) return false;
  pollfd p{fd, events, 0};
  return poll(&p, 1, static_cast<int>(deadline_ms - now)) == 1;
}

}  // namespace

Result<std::string> ScrapeMetrics(int port, int timeout_ms) {
  const int64_t deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now().time_since_epoch()).count() + timeout_ms;
  const std::string where = "metrics endpoint 127.0.0.1:" + std::to_string(port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable(where + ": socket: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS)
    return Status::Unavailable(where + ": " + std::strerror(errno));
  if (!WaitFd(fd, POLLOUT, deadline)) return Status::Unavailable(where + ": connect timed out");
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return Status::Unavailable(where + ": " + std::strerror(err));
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    if (!WaitFd(fd, POLLOUT, deadline)) return Status::Unavailable(where + ": send timed out");
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return Status::Unavailable(where + ": send: " + std::strerror(errno));
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buf[16384];
  while (true) {
    if (!WaitFd(fd, POLLIN, deadline)) return Status::Unavailable(where + ": read timed out");
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN) continue;
      return Status::Unavailable(where + ": recv: " + std::strerror(errno));
    }
    response.append(buf, static_cast<std::size_t>(n));
  }
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") == std::string::npos ||
      response.find(" 200 ") > response.find('\n'))
    return Status::Unavailable(where + ": unexpected answer: " + response.substr(0, response.find('\n')));
  std::size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : response.substr(body + 4);
}

double SumSamples(std::string_view text, std::string_view name) {
  double sum = 0;
  ForEachSample(text, name, [&](const Sample& s) { sum += s.value; });
  return sum;
}

std::map<std::string, double> SumByLabel(std::string_view text, std::string_view name, std::string_view label) {
  std::map<std::string, double> out;
  ForEachSample(text, name, [&](const Sample& s) { out[LabelValue(s.labels, label)] += s.value; });
  return out;
}

}  // namespace ovoflow::exe
