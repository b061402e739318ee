// C++ allocation: aligned new/delete (std::align_val_t), sized delete (-fsized-deallocation),
// arrays, nothrow new, over-aligned types in containers, and ordinary STL use.
#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#define CHECK(cond, msg)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            std::fprintf(stderr, "CHECK failed at line %d: %s\n", __LINE__, msg); \
            std::exit(1);                                                     \
        }                                                                     \
    } while (0)

struct alignas(64) Line {
    char bytes[64];
};
struct alignas(4096) Page {
    char bytes[100];
};

int main() {
    for (std::size_t align = 16; align <= (std::size_t(1) << 20); align *= 2) {
        for (std::size_t n : {std::size_t(1), std::size_t(100), std::size_t(5000), std::size_t(300000)}) {
            void *p = ::operator new(n, std::align_val_t(align));
            CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0, "aligned operator new misaligned");
            CHECK(malloc_usable_size(p) >= n, "aligned new usable size");
            std::memset(p, 0x11, n);
            ::operator delete(p, n, std::align_val_t(align));
            void *a = ::operator new[](n, std::align_val_t(align));
            CHECK(reinterpret_cast<std::uintptr_t>(a) % align == 0, "aligned operator new[] misaligned");
            std::memset(a, 0x22, n);
            ::operator delete[](a, std::align_val_t(align));
            void *q = ::operator new(n, std::align_val_t(align), std::nothrow);
            CHECK(q && reinterpret_cast<std::uintptr_t>(q) % align == 0, "nothrow aligned new");
            ::operator delete(q, std::align_val_t(align));
        }
    }
    for (std::size_t n = 1; n < 2000000; n = n * 3 + 1) {
        void *p = ::operator new(n);
        CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0, "operator new misaligned");
        std::memset(p, 0x33, n);
        ::operator delete(p, n);  // sized delete
        char *arr = new char[n];
        std::memset(arr, 0x44, n);
        delete[] arr;
    }
    std::vector<Line *> lines;
    for (int i = 0; i < 1000; i++) {
        Line *l = new Line();
        CHECK(reinterpret_cast<std::uintptr_t>(l) % 64 == 0, "alignas(64) new misaligned");
        std::memset(l->bytes, i & 0xff, sizeof l->bytes);
        lines.push_back(l);
    }
    for (int i = 0; i < 1000; i++) {
        CHECK(lines[i]->bytes[63] == static_cast<char>(i & 0xff), "Line damaged");
        delete lines[i];
    }
    std::vector<Page> pages(37);
    for (auto &pg : pages) CHECK(reinterpret_cast<std::uintptr_t>(&pg) % 4096 == 0, "Page misaligned");
    auto up = std::make_unique<Page[]>(5);
    CHECK(reinterpret_cast<std::uintptr_t>(up.get()) % 4096 == 0, "Page[] misaligned");

    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 20000; i++) m["key" + std::to_string(i % 997)].push_back(i);
    long sum = 0;
    for (auto &kv : m) sum += static_cast<long>(kv.second.size()) * static_cast<long>(kv.first.size());
    bool threw = false;
    try {
        void *p = ::operator new(std::size_t(-1) / 2);
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw, "operator new of an impossible size did not throw bad_alloc");
    std::printf("OK %ld\n", sum);
    return 0;
}
