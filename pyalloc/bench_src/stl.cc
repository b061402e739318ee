// C++ containers: the allocation pattern of typical C++ code, where operator new (and so
// malloc) is called by std::string, std::vector, node-based maps and shared_ptr. Each
// round inserts and erases entries in an ordered map of string -> vector, an unordered
// map of id -> string and a list of shared objects; totals kept in plain integers on the
// side must match what the containers hold at the end of every round.
#include "bench.h"

#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Record {
    std::string name;
    std::vector<uint64_t> values;
};

// Longer than the small-string buffer (15 chars in libstdc++), so each is a heap block.
std::string make_key(uint64_t id) {
    std::string s = "key-" + std::to_string(id) + "-";
    s.append(16 + id % 24, static_cast<char>('a' + id % 26));
    return s;
}

}  // namespace

int main(int argc, char **argv) {
    bench_args a = bench_parse(argc, argv, 300);
    uint64_t rng = a.seed, checksum = 0;
    std::map<std::string, std::vector<uint64_t>> ordered;
    std::unordered_map<uint64_t, std::string> by_id;
    std::list<std::shared_ptr<Record>> shared;
    uint64_t ordered_sum = 0, by_id_bytes = 0;
    for (long round = 0; round < a.work; round++) {
        for (int i = 0; i < 2000; i++) {
            uint64_t id = rng_next(&rng) % 20000;
            auto &vec = ordered[make_key(id)];
            size_t n = 1 + rng_next(&rng) % 12;
            for (size_t k = 0; k < n; k++) {
                vec.push_back(id + k);
                ordered_sum += id + k;
            }
            std::string text = make_key(id * 7);
            auto it = by_id.find(id);
            if (it != by_id.end()) by_id_bytes -= it->second.size();
            by_id_bytes += text.size();
            by_id[id] = std::move(text);
            auto rec = std::make_shared<Record>();
            rec->name = make_key(id);
            rec->values.assign(n, id);
            shared.push_back(rec);
        }
        // Erase about half of what exists, leaving holes among long-lived entries.
        for (int i = 0; i < 1500 && !ordered.empty(); i++) {
            auto it = ordered.lower_bound(make_key(rng_next(&rng) % 20000));
            if (it == ordered.end()) it = ordered.begin();
            for (uint64_t v : it->second) ordered_sum -= v;
            ordered.erase(it);
            auto jt = by_id.find(rng_next(&rng) % 20000);
            if (jt != by_id.end()) {
                by_id_bytes -= jt->second.size();
                by_id.erase(jt);
            }
        }
        while (shared.size() > 3000) shared.pop_front();

        uint64_t sum = 0, bytes = 0;
        for (const auto &kv : ordered)
            for (uint64_t v : kv.second) sum += v;
        for (const auto &kv : by_id) {
            if (kv.second != make_key(kv.first * 7)) bench_corrupt("stl: string of id %llu changed", (unsigned long long)kv.first);
            bytes += kv.second.size();
        }
        for (const auto &rec : shared)
            if (rec->values.empty() || rec->name.compare(0, 4, "key-")) bench_corrupt("stl: shared record changed");
        if (sum != ordered_sum || bytes != by_id_bytes) bench_corrupt("stl: container contents differ from the totals");
        checksum = mix64(checksum ^ sum ^ (bytes << 20));
    }
    bench_ok("stl", checksum);
    return 0;
}
