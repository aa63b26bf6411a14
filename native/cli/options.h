// A small command-line flag parser shared by the raftbook subcommands.
//
// Every subcommand takes the same shape of arguments: `--flag VALUE` or `--flag=VALUE`
// for flags with a value, `--switch` for booleans, and plain positional words (e.g.
// `put KEY VALUE`). `--help` prints the usage and exits 0; an unknown flag, a flag
// without its value or a wrong number of positional words prints what went wrong and
// the usage, and exits 2 — the convention every subcommand follows.
//
//   Options opts("serve", "run one member of a cluster");
//   opts.flag("id", "ID", "this node's id in --cluster");
//   opts.flag("wire", "FORMAT", "peer frame format: cbor or json", "cbor");
//   int exit_code;
//   if (!opts.parse(argc, argv, &exit_code)) return exit_code;
//   if (opts.get("id").empty()) return opts.usage_error("--id is required");
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/raft/faults.h"

namespace raftbook {

class Options {
public:
    // `command` is the subcommand name; `synopsis` a one-line description.
    Options(std::string command, std::string synopsis);

    // A flag with a value; `value_name` appears in the usage (`--id ID`).
    void flag(const std::string& name, const std::string& value_name, const std::string& help,
              const std::string& default_value = "");
    // A boolean flag that takes no value.
    void flag_switch(const std::string& name, const std::string& help);
    // Positional words, named for the usage line (`KEY VALUE`). The parse fails unless
    // between `min` and `max` of them are given.
    void positionals(const std::string& names, size_t min, size_t max);

    // argv[0] is the subcommand name. Returns true when the command should run; false
    // when it should return *exit_code at once (0 after --help, 2 after bad usage).
    bool parse(int argc, char** argv, int* exit_code);

    // The value of a flag (its default when not given).
    std::string get(const std::string& name) const;
    // Whether a flag or switch appeared on the command line.
    bool given(const std::string& name) const;
    const std::vector<std::string>& args() const { return args_; }

    // Parses a flag's value as an unsigned integer in [min, max]; on failure prints
    // the problem and the usage and returns false with *exit_code = 2.
    bool get_uint(const std::string& name, uint64_t min, uint64_t max, uint64_t* out, int* exit_code) const;

    void usage(FILE* out) const;
    // Prints "raftbook COMMAND: message" and the usage to stderr; returns 2.
    int usage_error(const std::string& message) const;

private:
    struct Flag {
        std::string name, value_name, help, default_value, value;
        bool is_switch = false;
        bool given = false;
    };
    Flag* find(const std::string& name);
    const Flag* find(const std::string& name) const;

    std::string command_, synopsis_;
    std::vector<Flag> flags_;
    std::string positional_names_;
    size_t min_args_ = 0, max_args_ = 0;
    std::vector<std::string> args_;
};

// Splits "HOST:PORT" (the host may be empty, an IPv4 address or a name; the port
// 1..65535). Returns false with a message naming the bad part.
bool parse_host_port(const std::string& text, std::string* host, uint16_t* port, std::string* error);

// Reads the cluster's token from `path` (`--token-file`): its first line, trailing
// whitespace trimmed. Returns false with a message when the file cannot be read or
// that line is empty.
bool read_token_file(const std::string& path, std::string* token, std::string* error);

// Parses the test-only rule faults of `raftbook sim --fault` and `raftbook chaos
// --fault`: "NODE:NAME[,NODE:NAME...]", nodes 1..`nodes`, names as in faults.h.
// Returns false with a message saying what the flag takes.
bool parse_node_faults(const std::string& text, int nodes, std::map<int, Faults>* out, std::string* error);

}  // namespace raftbook
