// The native half of the wasm-vs-native benchmark: runs the simulator on the same
// workload as bench_wasm.mjs and prints one JSON line (events, wall time, trace hash).
//
//   bench_native CONFIG_JSON CLIENT_RATE SECONDS
//
// CONFIG_JSON is what rb.Simulation takes (core/sim/sim_json.h reads both). Virtual
// time runs in one-second advances, as the wasm half does.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <exception>

#include "core/sim/sim_json.h"
#include "core/sim/simulator.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: bench_native CONFIG_JSON CLIENT_RATE SECONDS\n");
        return 2;
    }
    try {
        raftbook::Simulator sim(raftbook::sim_config_from_json(argv[1]));
        sim.set_client_rate(std::atof(argv[2]));
        const int seconds = std::atoi(argv[3]);
        const auto start = std::chrono::steady_clock::now();
        const std::clock_t cpu_start = std::clock();
        for (int i = 0; i < seconds; i++) sim.advance(1000);
        const double cpu_ms = 1000.0 * double(std::clock() - cpu_start) / CLOCKS_PER_SEC;
        const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::printf("{\"events\": %llu, \"wall_ms\": %.1f, \"cpu_ms\": %.1f, \"trace_hash\": \"%s\", \"committed\": %zu}\n",
                    static_cast<unsigned long long>(sim.stats().events), wall_ms, cpu_ms,
                    raftbook::trace_hash_hex(sim).c_str(), sim.checker().committed().size());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_native: %s\n", e.what());
        return 1;
    }
    return 0;
}
