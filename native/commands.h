// The raftbook subcommands. Each takes the arguments after the subcommand name
// (argv[0] is the subcommand) and returns the process exit status:
// 0 success, 1 failure (e.g. a safety violation), 2 bad usage.
#pragma once

namespace raftbook {

int cmd_sim(int argc, char** argv);

}  // namespace raftbook
