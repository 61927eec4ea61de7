#include "exe/bench_procfs.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace ovoflow::exe {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      pids.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return pids;
}

// Fields of /proc/<pid>/stat after the "(comm)" field, which may contain spaces.
std::vector<std::string> StatFields(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(stat.substr(close + 1));
  std::vector<std::string> fields;
  std::string f;
  while (rest >> f) fields.push_back(f);
  return fields;  // fields[0] is field 3 (state)
}

pid_t ParentPid(pid_t pid) {
  auto f = StatFields(pid);
  return f.size() > 1 ? static_cast<pid_t>(std::stol(f[1])) : -1;
}

std::string Comm(pid_t pid) {
  std::string comm = ReadFile("/proc/" + std::to_string(pid) + "/comm");
  while (!comm.empty() && (comm.back() == '\n' || comm.back() == '\r')) comm.pop_back();
  return comm;
}

std::string Cmdline(pid_t pid) {
  std::string cmd = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::replace(cmd.begin(), cmd.end(), '\0', ' ');
  return cmd;
}

// Socket inodes listening on TCP `port` (IPv4 and IPv6).
std::set<std::string> ListeningInodes(int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream in(ReadFile(table));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream row(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      if (!(row >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode)) continue;
      if (state != "0A") continue;  // TCP_LISTEN
      std::size_t colon = local.rfind(':');
      if (colon == std::string::npos) continue;
      if (std::stoi(local.substr(colon + 1), nullptr, 16) == port) inodes.insert(inode);
    }
  }
  return inodes;
}

bool HoldsSocket(pid_t pid, const std::set<std::string>& inodes) {
  if (inodes.empty()) return false;
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code lec;
    std::string target = fs::read_symlink(fd.path(), lec).string();
    if (lec || target.rfind("socket:[", 0) != 0) continue;
    if (inodes.count(target.substr(8, target.size() - 9))) return true;
  }
  return false;
}

}  // namespace

ProcessCpu ReadProcessCpu(pid_t pid) {
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  ProcessCpu cpu;
  auto f = StatFields(pid);
  // utime, stime, cutime, cstime are fields 14-17 of stat: f[11..14].
  if (f.size() < 15) return cpu;
  cpu.found = true;
  cpu.own_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  cpu.children_seconds = (std::stod(f[13]) + std::stod(f[14])) / ticks;
  return cpu;
}

double GroupCpuSeconds(const ProcessGroup& group) {
  double total = 0;
  for (pid_t pid : group.members) {
    ProcessCpu cpu = ReadProcessCpu(pid);
    if (!cpu.found) continue;
    total += cpu.own_seconds;
    if (std::find(group.roots.begin(), group.roots.end(), pid) != group.roots.end()) total += cpu.children_seconds;
  }
  return total;
}

ProcessGroup FindKafkaBrokers(const std::vector<int>& ports) {
  ProcessGroup group{"kafka", "", {}, {}};
  if (ports.empty()) return group;  // a remote cluster: nothing here to measure
  std::vector<pid_t> jvms;
  for (pid_t pid : AllPids())
    if (Cmdline(pid).find("kafka.Kafka") != std::string::npos) jvms.push_back(pid);
  for (int port : ports) {
    std::set<std::string> inodes = ListeningInodes(port);
    for (pid_t pid : jvms)
      if (HoldsSocket(pid, inodes) && std::find(group.members.begin(), group.members.end(), pid) == group.members.end())
        group.members.push_back(pid);
  }
  if (!group.members.empty()) {
    group.matched_by = "kafka.Kafka process listening on the --brokers port";
  } else if (!jvms.empty()) {
    group.members = jvms;
    group.matched_by = "every local kafka.Kafka process (none found listening on the --brokers port)";
  }
  group.roots = group.members;
  return group;
}

ProcessGroup FindPostgres(int port) {
  ProcessGroup group{"postgres", "", {}, {}};
  std::vector<pid_t> all;
  for (pid_t pid : AllPids())
    if (Comm(pid) == "postgres") all.push_back(pid);
  std::set<std::string> inodes = ListeningInodes(port);
  for (pid_t pid : all)
    if (HoldsSocket(pid, inodes)) group.roots.push_back(pid);
  if (!group.roots.empty()) {
    group.matched_by = "postmaster listening on port " + std::to_string(port) + " and its children";
    for (pid_t pid : all) {
      bool root = std::find(group.roots.begin(), group.roots.end(), pid) != group.roots.end();
      if (root || std::find(group.roots.begin(), group.roots.end(), ParentPid(pid)) != group.roots.end())
        group.members.push_back(pid);
    }
  } else if (!all.empty()) {
    group.members = all;
    group.matched_by = "every local postgres process (none found listening on port " + std::to_string(port) + ")";
    for (pid_t pid : all)
      if (Comm(ParentPid(pid)) != "postgres") group.roots.push_back(pid);
  }
  return group;
}

double MachineBusySeconds() {
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::istringstream in(ReadFile("/proc/stat"));
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return (user + nice + system + irq + softirq + steal) / ticks;
}

std::string MachineInfo::Describe() const {
  char buf[256];
  (void)std::snprintf(buf, sizeof buf, "%s, %d CPUs, %.1f GiB", cpu_model.c_str(), cpus,
                      static_cast<double>(mem_total_bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

MachineInfo ReadMachineInfo() {
  MachineInfo m;
  std::istringstream cpuinfo(ReadFile("/proc/cpuinfo"));
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    std::size_t colon = line.find(':');
    if (colon != std::string::npos) m.cpu_model = line.substr(line.find_first_not_of(" \t", colon + 1));
    break;
  }
  if (m.cpu_model.empty()) m.cpu_model = "unknown CPU";
  m.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  std::istringstream meminfo(ReadFile("/proc/meminfo"));
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream row(line.substr(9));
    int64_t kib = 0;
    row >> kib;
    m.mem_total_bytes = kib * 1024;
    break;
  }
  std::istringstream load(ReadFile("/proc/loadavg"));
  load >> m.loadavg_1m;
  return m;
}

std::vector<int> LocalBrokerPorts(const std::string& brokers) {
  char host_name[256] = {};
  gethostname(host_name, sizeof host_name - 1);
  std::vector<int> ports;
  std::istringstream list(brokers);
  std::string entry;
  while (std::getline(list, entry, ',')) {
    std::size_t scheme = entry.find("://");
    if (scheme != std::string::npos) entry = entry.substr(scheme + 3);
    std::size_t colon = entry.rfind(':');
    if (colon == std::string::npos) continue;
    std::string host = entry.substr(0, colon);
    if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
    bool local = host.rfind("127.", 0) == 0 || host == "localhost" || host == "::1" || host == "0.0.0.0" ||
                 host.empty() || host == host_name;
    if (!local) continue;
    try {
      ports.push_back(std::stoi(entry.substr(colon + 1)));
    } catch (const std::exception&) {
      // not a port: not ours to measure
    }
  }
  return ports;
}

}  // namespace ovoflow::exe
