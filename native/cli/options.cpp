// The subcommands' flag parser; see options.h.
#include "native/cli/options.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace raftbook {

Options::Options(std::string command, std::string synopsis)
    : command_(std::move(command)), synopsis_(std::move(synopsis)) {}

void Options::flag(const std::string& name, const std::string& value_name, const std::string& help,
                   const std::string& default_value) {
    Flag f;
    f.name = name;
    f.value_name = value_name;
    f.help = help;
    f.default_value = default_value;
    flags_.push_back(f);
}

void Options::flag_switch(const std::string& name, const std::string& help) {
    Flag f;
    f.name = name;
    f.help = help;
    f.is_switch = true;
    flags_.push_back(f);
}

void Options::positionals(const std::string& names, size_t min, size_t max) {
    positional_names_ = names;
    min_args_ = min;
    max_args_ = max;
}

Options::Flag* Options::find(const std::string& name) {
    for (auto& f : flags_)
        if (f.name == name) return &f;
    return nullptr;
}

const Options::Flag* Options::find(const std::string& name) const {
    return const_cast<Options*>(this)->find(name);
}

bool Options::parse(int argc, char** argv, int* exit_code) {
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            usage(stdout);
            *exit_code = 0;
            return false;
        }
        if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
            args_.push_back(a);
            continue;
        }
        const size_t eq = a.find('=');
        const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
        Flag* f = find(name);
        if (!f) {
            *exit_code = usage_error("unknown flag '--" + name + "'");
            return false;
        }
        if (f->is_switch) {
            if (eq != std::string::npos) {
                *exit_code = usage_error("--" + name + " takes no value");
                return false;
            }
        } else if (eq != std::string::npos) {
            f->value = a.substr(eq + 1);
        } else if (i + 1 < argc) {
            f->value = argv[++i];
        } else {
            *exit_code = usage_error("--" + name + " needs a value (" + f->value_name + ")");
            return false;
        }
        f->given = true;
    }
    if (args_.size() < min_args_ || args_.size() > max_args_) {
        *exit_code = usage_error(args_.size() < min_args_ ? "missing arguments"
                                                          : "unexpected argument '" + args_[max_args_] + "'");
        return false;
    }
    return true;
}

std::string Options::get(const std::string& name) const {
    const Flag* f = find(name);
    if (!f) return "";
    return f->given ? f->value : f->default_value;
}

bool Options::given(const std::string& name) const {
    const Flag* f = find(name);
    return f && f->given;
}

bool Options::get_uint(const std::string& name, uint64_t min, uint64_t max, uint64_t* out,
                       int* exit_code) const {
    const std::string text = get(name);
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || v < min || v > max) {
        *exit_code = usage_error("--" + name + " must be a whole number from " + std::to_string(min) +
                                 " to " + std::to_string(max) + ", got '" + text + "'");
        return false;
    }
    *out = v;
    return true;
}

void Options::usage(FILE* out) const {
    std::fprintf(out, "usage: raftbook %s [options]%s%s\n\n%s\n\noptions:\n", command_.c_str(),
                 positional_names_.empty() ? "" : " ", positional_names_.c_str(), synopsis_.c_str());
    for (const auto& f : flags_) {
        const std::string left = "--" + f.name + (f.is_switch ? "" : " " + f.value_name);
        if (left.size() > 24) {
            std::fprintf(out, "  %s\n  %-24s %s", left.c_str(), "", f.help.c_str());
        } else {
            std::fprintf(out, "  %-24s %s", left.c_str(), f.help.c_str());
        }
        if (!f.default_value.empty()) std::fprintf(out, " (default %s)", f.default_value.c_str());
        std::fprintf(out, "\n");
    }
    std::fprintf(out, "  %-24s %s\n", "--help", "print this help and exit");
}

int Options::usage_error(const std::string& message) const {
    std::fprintf(stderr, "raftbook %s: %s\n\n", command_.c_str(), message.c_str());
    usage(stderr);
    return 2;
}

bool read_token_file(const std::string& path, std::string* token, std::string* error) {
    std::ifstream f(path);
    if (!f) {
        *error = "cannot read the token file '" + path + "': " + std::strerror(errno);
        return false;
    }
    std::string line;
    std::getline(f, line);
    line.erase(line.find_last_not_of(" \t\r\n\v\f") + 1);
    if (line.empty()) {
        *error = "the token file '" + path + "' is empty; put the cluster's token on its first line";
        return false;
    }
    *token = line;
    return true;
}

bool parse_host_port(const std::string& text, std::string* host, uint16_t* port, std::string* error) {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
        *error = "'" + text + "' is not HOST:PORT (e.g. 127.0.0.1:9001)";
        return false;
    }
    const std::string p = text.substr(colon + 1);
    char* end = nullptr;
    const unsigned long v = std::strtoul(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || v == 0 || v > 65535 || p[0] == '-' || p[0] == '+') {
        *error = "'" + text + "' has no valid port (1-65535) after the ':'";
        return false;
    }
    *host = text.substr(0, colon);
    *port = uint16_t(v);
    return true;
}

bool parse_node_faults(const std::string& text, int nodes, std::map<int, Faults>* out, std::string* error) {
    std::stringstream list(text);
    std::string item;
    while (std::getline(list, item, ',')) {
        const size_t colon = item.find(':');
        uint64_t n = 0;
        try {
            n = colon == std::string::npos ? 0 : std::stoull(item.substr(0, colon));
        } catch (const std::exception&) {
            n = 0;
        }
        if (n < 1 || n > uint64_t(nodes) || !(*out)[int(n)].set(item.substr(colon + 1), true)) {
            std::string names;
            for (const auto& f : Faults::names()) names += " " + f;
            *error = "--fault takes NODE:NAME with a node from 1 to " + std::to_string(nodes) +
                     " and a name among:" + names + "; got '" + item + "'";
            return false;
        }
    }
    return true;
}

}  // namespace raftbook
