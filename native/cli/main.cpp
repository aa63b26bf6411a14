// raftbook: the native binary. Each subcommand lives in its own file (cmd_*.cpp);
// this file only dispatches.
#include <cstdio>
#include <cstring>
#include <string>

#include "native/cli/commands.h"

namespace {

struct Subcommand {
    const char* name;
    int (*run)(int argc, char** argv);
    const char* summary;
};

const Subcommand kSubcommands[] = {
    {"sim", raftbook::cmd_sim, "run a simulated cluster headless and print a summary"},
    {"lincheck", raftbook::cmd_lincheck, "check that a key-value history is linearizable"},
    {"soak", raftbook::cmd_soak, "run the simulator over many seeds in parallel, with faults"},
    {"chaos", raftbook::cmd_chaos, "attack a real loopback cluster (kill -9, pause, partition) and check it"},
    {"serve", raftbook::cmd_serve, "run one member of a cluster (durable log, peer and HTTP APIs)"},
    {"demo", raftbook::cmd_demo, "start a local cluster on loopback and print how to use it"},
    {"put", raftbook::cmd_put, "write a key's value (committed by a majority before it returns; compare-and-swap)"},
    {"get", raftbook::cmd_get, "read a key's value (linearizable)"},
    {"del", raftbook::cmd_del, "delete a key (conditionally with --prev-value / --prev-revision)"},
    {"list", raftbook::cmd_list, "list the keys with a prefix, their values and revisions"},
    {"watch", raftbook::cmd_watch, "print every change to a key or a prefix as it happens"},
    {"status", raftbook::cmd_status, "show a node's view of the cluster: role, term, leader, indexes"},
    {"members", raftbook::cmd_members, "list the members; add, promote or remove one (members --help)"},
    {"transfer-leader", raftbook::cmd_transfer_leader, "hand leadership to another voter"},
    {"bench", raftbook::cmd_bench, "measure durable writes/s and latency at several client counts"},
};

void usage(FILE* out) {
    std::fprintf(out, "usage: raftbook <command> [options]\n\ncommands:\n");
    for (const auto& s : kSubcommands) std::fprintf(out, "  %-16s %s\n", s.name, s.summary);
    std::fprintf(out, "\nRun 'raftbook <command> --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        usage(stdout);
        return 0;
    }
    for (const auto& s : kSubcommands)
        if (cmd == s.name) return s.run(argc - 1, argv + 1);
    std::fprintf(stderr, "raftbook: unknown command '%s'\n\n", cmd.c_str());
    usage(stderr);
    return 2;
}
