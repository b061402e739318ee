// A C++ program with templates and standard containers, compiled by g++ running on pyalloc
// and then run itself; its output must match a build and run under glibc.
#include <algorithm>
#include <cstdio>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

template <typename K, typename V>
class Registry {
  public:
    void add(const K &k, const V &v) { items_[k].push_back(v); }
    template <typename F>
    auto fold(F f) const {
        decltype(f(std::declval<K>(), std::declval<std::vector<V>>())) acc{};
        for (const auto &kv : items_) acc += f(kv.first, kv.second);
        return acc;
    }
    std::size_t size() const { return items_.size(); }

  private:
    std::map<K, std::vector<V>> items_;
};

template <int N>
struct Fib {
    static constexpr long value = Fib<N - 1>::value + Fib<N - 2>::value;
};
template <>
struct Fib<0> {
    static constexpr long value = 0;
};
template <>
struct Fib<1> {
    static constexpr long value = 1;
};

template <typename T>
std::string join(const std::vector<T> &v, const std::string &sep) {
    std::ostringstream out;
    for (std::size_t i = 0; i < v.size(); i++) out << (i ? sep : "") << v[i];
    return out.str();
}

int main() {
    Registry<std::string, int> reg;
    for (int i = 0; i < 50000; i++) reg.add("k" + std::to_string(i % 1231), i);
    long total = reg.fold([](const std::string &k, const std::vector<int> &v) {
        return static_cast<long>(k.size()) * std::accumulate(v.begin(), v.end(), 0L);
    });
    std::unordered_map<std::string, std::set<int>> idx;
    std::vector<std::string> words;
    for (int i = 0; i < 20000; i++) {
        std::string w(1 + i % 17, static_cast<char>('a' + i % 26));
        idx[w].insert(i);
        words.push_back(w);
    }
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    std::vector<long> fibs = {Fib<10>::value, Fib<20>::value, Fib<40>::value};
    std::printf("registry %zu %ld\n", reg.size(), total);
    std::printf("index %zu words %zu first %s\n", idx.size(), words.size(), words.front().c_str());
    std::printf("fib %s\n", join(fibs, ",").c_str());
    return 0;
}
