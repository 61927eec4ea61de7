// What `ovoflow bench` reads from /proc: CPU time of processes, the
// processes of a local Kafka broker or PostgreSQL server, and the machine.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ovoflow::exe {

// CPU time of one process from /proc/<pid>/stat, seconds.
struct ProcessCpu {
  bool found = false;           // false when the process is gone
  double own_seconds = 0;       // utime + stime, all its threads
  double children_seconds = 0;  // cutime + cstime: its children that exited and were reaped
};
ProcessCpu ReadProcessCpu(pid_t pid);

// A set of processes measured together (e.g. a PostgreSQL server: the
// postmaster and its backends). `roots` also contribute the CPU time of
// their exited children, so backends that come and go are counted.
struct ProcessGroup {
  std::string name;        // "kafka", "postgres"
  std::string matched_by;  // how the processes were found, for the report
  std::vector<pid_t> roots;
  std::vector<pid_t> members;  // roots included
};
// Seconds of CPU used so far by the group's live members plus the reaped
// children of its roots; differences of two readings give CPU per interval.
double GroupCpuSeconds(const ProcessGroup& group);

// Kafka broker JVMs (cmdline contains "kafka.Kafka") listening on one of
// `ports`; when none listens there (or sockets are unreadable), every local
// broker JVM. Empty `members` when `ports` is empty (no local broker in
// --brokers) or no broker JVM runs here.
ProcessGroup FindKafkaBrokers(const std::vector<int>& ports);
// PostgreSQL server processes (comm "postgres"): the postmaster listening on
// `port` and its children; when none is found that way, every local
// postgres process. Empty `members` when there is none.
ProcessGroup FindPostgres(int port);

// CPU seconds the whole machine spent busy so far (all CPUs, all
// processes: user + nice + system + irq + softirq + steal from /proc/stat).
double MachineBusySeconds();

// "AMD EPYC 7B13, 2 CPUs, 23.4 GiB" from /proc/cpuinfo, nproc, /proc/meminfo.
struct MachineInfo {
  std::string cpu_model;
  int cpus = 0;
  int64_t mem_total_bytes = 0;
  double loadavg_1m = 0;  // at the time of reading
  std::string Describe() const;
};
MachineInfo ReadMachineInfo();

// Ports of a "host:port,host:port" bootstrap list whose host is local
// (127.x, localhost, ::1, this host's name).
std::vector<int> LocalBrokerPorts(const std::string& brokers);

}  // namespace ovoflow::exe
