// The raftbook subcommands. Each takes the arguments after the subcommand name
// (argv[0] is the subcommand) and returns the process exit status:
// 0 success, 1 failure (e.g. a safety violation), 2 bad usage.
#pragma once

#include <cstdint>

namespace raftbook {

// `raftbook demo` puts node 1's HTTP API here; the client subcommands talk to it by default.
constexpr uint16_t kDemoPort = 8080;

int cmd_sim(int argc, char** argv);
int cmd_lincheck(int argc, char** argv);
int cmd_soak(int argc, char** argv);
int cmd_chaos(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_put(int argc, char** argv);
int cmd_get(int argc, char** argv);
int cmd_del(int argc, char** argv);
int cmd_list(int argc, char** argv);
int cmd_watch(int argc, char** argv);
int cmd_status(int argc, char** argv);
int cmd_members(int argc, char** argv);
int cmd_transfer_leader(int argc, char** argv);
int cmd_demo(int argc, char** argv);
int cmd_bench(int argc, char** argv);

}  // namespace raftbook
