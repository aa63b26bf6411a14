// raftbook: the native binary. Each subcommand lives in its own file (cmd_*.cpp);
// this file only dispatches.
#include <cstdio>
#include <cstring>
#include <string>

#include "native/commands.h"

namespace {

struct Subcommand {
    const char* name;
    int (*run)(int argc, char** argv);
    const char* summary;
};

const Subcommand kSubcommands[] = {
    {"sim", raftbook::cmd_sim, "run a simulated cluster headless and print a summary"},
};

void usage(FILE* out) {
    std::fprintf(out, "usage: raftbook <command> [options]\n\ncommands:\n");
    for (const auto& s : kSubcommands) std::fprintf(out, "  %-10s %s\n", s.name, s.summary);
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
