// Allocation counts of the read paths, with real LMDB files.
//
// A program of its own: it replaces the global operator new/delete (every form) and interposes
// C's malloc family on glibc's __libc_* entry points, so that LMDB's own mallocs (a read
// transaction's first begin, each mdb_cursor_open) are counted along with C++ allocations.
// That interposition clashes with AddressSanitizer's, so CMake builds this only without
// sanitizers.
//
// Every measurement reads the counters before and after the code under test and asserts
// afterwards: Catch's own assertion machinery may allocate, so no REQUIRE sits inside a
// measured stretch. Each measured operation first runs once to warm up (caches, pools,
// function-local statics), except where the cost of that first run is what is measured.
// Each row of the table printed to stdout is one measurement: operation, then allocations
// through operator new, C malloc/calloc/realloc/memalign, and their total. Bytes asked for, and
// the largest single request, are counted too (the corrupt-count test bounds them).

#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "seam_scope.hpp"
#include "support.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

// ---- counting allocators ----------------------------------------------------------------

namespace alloc_count {

std::atomic<std::size_t> news{0};     // operator new, every form
std::atomic<std::size_t> mallocs{0};  // malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign
std::atomic<std::size_t> bytes{0};    // bytes asked for by all of them
std::atomic<std::size_t> largest{0};  // the largest single request since a test last set it to 0

inline void asked(std::size_t n) noexcept {
    bytes.fetch_add(n, std::memory_order_relaxed);
    std::size_t l = largest.load(std::memory_order_relaxed);
    while (n > l && !largest.compare_exchange_weak(l, n, std::memory_order_relaxed)) {
    }
}

}  // namespace alloc_count

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) noexcept {
    alloc_count::mallocs.fetch_add(1, std::memory_order_relaxed);
    alloc_count::asked(n);
    return __libc_malloc(n);
}
void* calloc(std::size_t a, std::size_t b) noexcept {
    alloc_count::mallocs.fetch_add(1, std::memory_order_relaxed);
    alloc_count::asked(a * b);
    return __libc_calloc(a, b);
}
void* realloc(void* p, std::size_t n) noexcept {
    alloc_count::mallocs.fetch_add(1, std::memory_order_relaxed);
    alloc_count::asked(n);
    return __libc_realloc(p, n);
}
void* memalign(std::size_t alignment, std::size_t n) noexcept {
    alloc_count::mallocs.fetch_add(1, std::memory_order_relaxed);
    alloc_count::asked(n);
    return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) noexcept {
    alloc_count::mallocs.fetch_add(1, std::memory_order_relaxed);
    alloc_count::asked(n);
    return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) noexcept {
    alloc_count::mallocs.fetch_add(1, std::memory_order_relaxed);
    alloc_count::asked(n);
    if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return 22;  // EINVAL
    void* p = __libc_memalign(alignment, n);
    if (!p) return 12;  // ENOMEM
    *out = p;
    return 0;
}
void free(void* p) noexcept { __libc_free(p); }
}

namespace {

void* counted_new(std::size_t n) noexcept {
    alloc_count::news.fetch_add(1, std::memory_order_relaxed);
    alloc_count::asked(n);
    return __libc_malloc(n ? n : 1);
}
void* counted_new_aligned(std::size_t n, std::align_val_t al) noexcept {
    alloc_count::news.fetch_add(1, std::memory_order_relaxed);
    alloc_count::asked(n);
    std::size_t a = static_cast<std::size_t>(al);
    if (a < sizeof(void*)) a = sizeof(void*);
    return __libc_memalign(a, n ? n : 1);
}

}  // namespace

void* operator new(std::size_t n) {
    if (void* p = counted_new(n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    if (void* p = counted_new(n)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_new(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_new(n); }
void* operator new(std::size_t n, std::align_val_t al) {
    if (void* p = counted_new_aligned(n, al)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) {
    if (void* p = counted_new_aligned(n, al)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return counted_new_aligned(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    return counted_new_aligned(n, al);
}

void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { __libc_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { __libc_free(p); }

namespace alloc_test {

// ---- measuring ------------------------------------------------------------------------

struct counts {
    std::size_t news = 0;
    std::size_t mallocs = 0;
    std::size_t total() const { return news + mallocs; }
};

inline counts now() noexcept {
    return {alloc_count::news.load(std::memory_order_relaxed), alloc_count::mallocs.load(std::memory_order_relaxed)};
}
inline counts operator-(counts a, counts b) noexcept { return {a.news - b.news, a.mallocs - b.mallocs}; }

// Keeps a value alive for the optimiser: no allocation is elided because its result looked unused.
template <class T>
inline void keep(const T& v) noexcept {
    asm volatile("" : : "g"(&v) : "memory");
}

void row(const char* operation, counts c) {
    static bool header = false;
    if (!header) {
        header = true;
        std::printf("\n%-78s %5s %7s %6s\n", "operation", "new", "malloc", "total");
        std::printf("%-78s %5s %7s %6s\n", std::string(78, '-').c_str(), "-----", "-------", "------");
    }
    std::printf("%-78s %5zu %7zu %6zu\n", operation, c.news, c.mallocs, c.total());
    std::fflush(stdout);
}

// The LMDB call seam, counting (cursor opens, mainly) while installed.
using netabase_test::seam_scope;

// ---- models -------------------------------------------------------------------------------

struct Address {
    std::string city;
    std::uint32_t zip;
};

struct Person {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t age;
    std::vector<std::uint32_t> scores;
    std::vector<std::string> tags;
    Address address;
    std::optional<std::string> nick;
};

constexpr auto netabase_model(netabase::tag<Person>) {
    return netabase::model<Person>("people")
        .primary_key(&Person::id)
        .secondary_key(&Person::email, netabase::unique)
        .secondary_key(&Person::age);
}

// Two strings and a key: owned copies cost exactly what the strings need beyond SSO.
struct Pair {
    std::uint64_t id;
    std::string a;
    std::string b;
};

using S = netabase::definition<Person, Pair>;

constexpr std::uint64_t rows = 1000;
constexpr std::uint32_t ages = 50;  // age = id % 50: 20 rows per age

// Every string is longer than any SSO buffer (15 chars in libstdc++), so an owned copy of it
// must allocate; tags are short (SSO), so an owned copy of the tag vector allocates once.
Person person(std::uint64_t i) {
    std::string n = std::to_string(i);
    Person p{i,
             "user" + n + "@long-example-domain-name.example.com",
             "A rather long person name number " + n,
             static_cast<std::uint32_t>(i % ages),
             {static_cast<std::uint32_t>(i), 2, 3, 4, 5},
             {"t" + std::to_string(i % 7), "x", "y"},
             {"The City Of Somewhere Far Away " + n, static_cast<std::uint32_t>(10000 + i)},
             std::nullopt};
    if (i % 2 == 0) p.nick = "nickname-long-enough-for-heap-" + n;
    return p;
}

std::string email_of(std::uint64_t i) { return person(i).email; }

void seed(netabase::Store<S>& store) {
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto people = txn.open_tree<Person>();
        for (std::uint64_t i = 0; i < rows; ++i) people.put(person(i));
        auto pairs = txn.open_tree<Pair>();
        pairs.put(Pair{1, std::string(40, 'a'), std::string(40, 'b')});
        pairs.put(Pair{2, "short a", "short b"});
    });
}

netabase::options fast() { return netabase::options{.durability = netabase::durability::no_sync}; }

// Reads every field of a row through its view; returns a checksum of what it read.
std::size_t read_all(const netabase::Guard<Person>& g) {
    auto v = g.view();
    std::size_t sum = v.get<&Person::id>();
    sum += v.get<&Person::email>().size();
    sum += v.get<&Person::name>().size();
    sum += v.get<&Person::age>();
    auto scores = v.get<&Person::scores>();
    for (std::uint32_t s : scores) sum += s;
    sum += scores.size() > 4 ? scores[4] : 0;
    for (std::string_view t : v.get<&Person::tags>()) sum += t.size();
    auto address = v.get<&Person::address>();
    sum += address.get<&Address::city>().size() + address.get<&Address::zip>();
    if (auto nick = v.get<&Person::nick>()) sum += nick->size();
    sum += g.key();
    return sum;
}

// The same checksum from an owned model (computed outside any measured stretch).
std::size_t expected_sum(const Person& p) {
    std::size_t sum = p.id + p.email.size() + p.name.size() + p.age;
    for (auto s : p.scores) sum += s;
    sum += p.scores.size() > 4 ? p.scores[4] : 0;
    for (const auto& t : p.tags) sum += t.size();
    sum += p.address.city.size() + p.address.zip;
    if (p.nick) sum += p.nick->size();
    sum += p.id;
    return sum;
}

// Warms what every process pays once (the debug lifetime registry's free list, the
// function-local statics of View::get) on a store of its own.
void warm_process() {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    for (int round = 0; round < 2; ++round) {
        auto txn = store.begin_read();
        auto people = txn.open_tree<Person>();
        std::size_t sum = 0;
        for (auto g : people) sum += read_all(g);
        keep(sum);
    }
}

// ---- tests --------------------------------------------------------------------------------

TEST_CASE("alloc: begin_read and end allocate nothing after the first read transaction", "[alloc]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    {
        auto warm = store.begin_read();
        auto people = warm.open_tree<Person>();
        keep(people.get(std::uint64_t{1}));
    }

    counts c0 = now();
    { auto txn = store.begin_read(); }
    counts one = now() - c0;

    c0 = now();
    for (int i = 0; i < 1000; ++i) {
        auto txn = store.begin_read();
        txn.commit();
    }
    counts thousand = now() - c0;

    c0 = now();
    std::size_t found = 0;
    for (int i = 0; i < 1000; ++i) {
        auto txn = store.begin_read();
        auto people = txn.open_tree<Person>();
        found += people.get(std::uint64_t{7}) ? 1 : 0;
    }
    counts with_tree = now() - c0;

    c0 = now();
    for (int i = 0; i < 1000; ++i)
        found += store.read([](netabase::ReadTransaction<S>& t) { return t.open_tree<Person>().contains(8) ? 1 : 0; });
    counts with_read = now() - c0;

    row("begin_read + end (1, after warm-up)", one);
    row("begin_read + commit (x1000)", thousand);
    row("begin_read + open_tree + get + end (x1000)", with_tree);
    row("store.read(fn: open_tree + contains) (x1000)", with_read);
    REQUIRE(found == 2000);
    CHECK(one.total() == 0);
    CHECK(thousand.total() == 0);
    CHECK(with_tree.total() == 0);
    CHECK(with_read.total() == 0);
}

TEST_CASE("alloc: get + view + every field allocates nothing", "[alloc]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    std::size_t expected = 0;
    for (std::uint64_t i = 0; i < rows; ++i) expected += expected_sum(person(i));

    auto pass = [&] {
        auto txn = store.begin_read();
        auto people = txn.open_tree<Person>();
        counts c0 = now();
        std::size_t sum = 0, hits = 0;
        for (std::uint64_t i = 0; i < rows; ++i) {
            auto g = people.get(i);
            if (!g) continue;
            ++hits;
            sum += read_all(*g);
        }
        counts d = now() - c0;
        return std::tuple{d, sum, hits};
    };
    auto [warm, warm_sum, warm_hits] = pass();  // the first transaction
    auto [d, sum, hits] = pass();
    row("1000 x (get + view + read every field), first transaction", warm);
    row("1000 x (get + view + read every field), later transaction", d);
    REQUIRE(warm_hits == rows);
    REQUIRE(hits == rows);
    REQUIRE(warm_sum == expected);
    REQUIRE(sum == expected);
    // Tree::get reads through a cursor (so the guard's key is LMDB's copy): the first
    // transaction opens the table's cursor, one malloc in mdb_cursor_open; later ones reuse it.
    CHECK(warm.news == 0);
    CHECK(warm.mallocs == 1);
    CHECK(d.total() == 0);
}

TEST_CASE("alloc: scans of the table and of indexes allocate nothing after warm-up", "[alloc]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    std::size_t expected_all = 0;
    for (std::uint64_t i = 0; i < rows; ++i) expected_all += expected_sum(person(i));

    struct result {
        counts full, full_reverse, range, index_all, index_range, equal, count, unique_get, adaptors;
        std::size_t full_sum = 0, full_n = 0, reverse_n = 0, range_n = 0, index_all_n = 0, index_range_n = 0,
                    equal_n = 0, count_n = 0, unique_found = 0, adaptor_n = 0;
    };
    auto pass = [&] {
        result r;
        auto txn = store.begin_read();
        auto people = txn.open_tree<Person>();
        auto by_age = people.index(&Person::age);
        auto by_email = people.index(&Person::email);
        std::string email = email_of(500);
        counts c0 = now();
        for (auto g : people) {
            r.full_sum += read_all(g);
            ++r.full_n;
        }
        counts c1 = now();
        for (auto g : people.reverse()) r.reverse_n += g.view().get<&Person::age>() < ages ? 1 : 0;
        counts c2 = now();
        for (auto g : people.range(std::uint64_t{100}, std::uint64_t{200}))
            r.range_n += g.view().get<&Person::name>().empty() ? 0 : 1;
        counts c3 = now();
        for (auto g : by_age) r.index_all_n += g.view().get<&Person::email>().empty() ? 0 : 1;
        counts c4 = now();
        for (auto g : by_age.range(10u, 20u)) r.index_range_n += read_all(g) > 0 ? 1 : 0;
        counts c5 = now();
        for (auto g : by_age.equal_range(7u)) r.equal_n += g.view().get<&Person::age>() == 7 ? 1 : 0;
        counts c6 = now();
        for (std::uint32_t a = 0; a < ages; ++a) r.count_n += by_age.count(a);
        counts c7 = now();
        for (int i = 0; i < 100; ++i)
            if (auto g = by_email.get(email)) r.unique_found += g->view().get<&Person::id>() == 500 ? 1 : 0;
        counts c8 = now();
        auto old = [](const netabase::Guard<Person>& g) { return g.view().get<&Person::age>() >= 40; };
        for (auto g : by_age.all() | std::views::filter(old) | std::views::take(50))
            r.adaptor_n += g.view().get<&Person::age>() >= 40 ? 1 : 0;
        counts c9 = now();
        r.full = c1 - c0;
        r.full_reverse = c2 - c1;
        r.range = c3 - c2;
        r.index_all = c4 - c3;
        r.index_range = c5 - c4;
        r.equal = c6 - c5;
        r.count = c7 - c6;
        r.unique_get = c8 - c7;
        r.adaptors = c9 - c8;
        return r;
    };

    result first = pass();
    result r = pass();
    row("first read txn of the store: full table scan (1000 rows, every field)", first.full);
    row("first read txn of the store: index scan by age (1000 rows)", first.index_all);
    row("later read txn: full table scan through views (1000 rows, every field)", r.full);
    row("later read txn: full table scan, reversed (1000 rows)", r.full_reverse);
    row("later read txn: tree.range(100, 200)", r.range);
    row("later read txn: index (age) iteration, all 1000 rows", r.index_all);
    row("later read txn: index (age) range(10, 20), 200 rows, every field", r.index_range);
    row("later read txn: index (age) equal_range(7), 20 rows", r.equal);
    row("later read txn: index (age) count(k) for 50 keys", r.count);
    row("later read txn: unique index (email) get x100", r.unique_get);
    row("later read txn: index all() | views::filter | views::take(50)", r.adaptors);

    for (const result* x : {&first, &r}) {
        REQUIRE(x->full_n == rows);
        REQUIRE(x->full_sum == expected_all);
        REQUIRE(x->reverse_n == rows);
        REQUIRE(x->range_n == 100);
        REQUIRE(x->index_all_n == rows);
        REQUIRE(x->index_range_n == 200);
        REQUIRE(x->equal_n == rows / ages);
        REQUIRE(x->count_n == rows);
        REQUIRE(x->unique_found == 100);
        REQUIRE(x->adaptor_n == 50);
    }
    // The first transaction opens one cursor per database it scans (mdb_cursor_open is one
    // malloc): the table, then the age index.
    CHECK(first.full.total() == 1);
    CHECK(first.full.mallocs == 1);
    CHECK(first.index_all.total() == 1);
    CHECK(first.index_all.mallocs == 1);
    CHECK(r.full.total() == 0);
    CHECK(r.full_reverse.total() == 0);
    CHECK(r.range.total() == 0);
    CHECK(r.index_all.total() == 0);
    CHECK(r.index_range.total() == 0);
    CHECK(r.equal.total() == 0);
    CHECK(r.count.total() == 0);
    CHECK(r.unique_get.total() == 0);
    CHECK(r.adaptors.total() == 0);
}

TEST_CASE("alloc: the first read transaction of a fresh store pays for its cursors and later ones nothing",
          "[alloc]") {
    warm_process();
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    std::string email = email_of(3);

    struct result {
        counts begin, gets, table_scan, table_again, age_scan, age_count, email_get, email_scan, end;
        std::size_t cursor_opens_table = 0, cursor_opens_age = 0, cursor_opens_email = 0, cursor_opens_total = 0;
        std::size_t n = 0;
    };
    auto pass = [&] {
        result r;
        seam_scope seam;
        counts c0 = now();
        auto txn = store.begin_read();
        counts c1 = now();
        auto people = txn.open_tree<Person>();
        auto by_age = people.index(&Person::age);
        auto by_email = people.index(&Person::email);
        for (std::uint64_t i = 0; i < 10; ++i) r.n += people.get(i) ? 1 : 0;
        counts c2 = now();
        for (auto g : people) r.n += g.view().get<&Person::age>() < ages ? 1 : 0;
        counts c3 = now();
        r.cursor_opens_table = seam.count(netabase::detail::call::cursor_open);
        for (auto g : people) r.n += g.view().get<&Person::age>() < ages ? 1 : 0;
        counts c4 = now();
        for (auto g : by_age.range(5u, 6u)) r.n += g.view().get<&Person::age>() == 5 ? 1 : 0;
        counts c5 = now();
        r.cursor_opens_age = seam.count(netabase::detail::call::cursor_open) - r.cursor_opens_table;
        r.n += by_age.count(9u);
        counts c6 = now();
        r.n += by_email.get(email) ? 1 : 0;
        counts c7 = now();
        for (auto g : by_email.equal_range(email)) r.n += g.view().get<&Person::id>() == 3 ? 1 : 0;
        counts c8 = now();
        r.cursor_opens_email = seam.count(netabase::detail::call::cursor_open) - r.cursor_opens_table - r.cursor_opens_age;
        txn.commit();
        counts c9 = now();
        r.cursor_opens_total = seam.count(netabase::detail::call::cursor_open);
        r.begin = c1 - c0;
        r.gets = c2 - c1;
        r.table_scan = c3 - c2;
        r.table_again = c4 - c3;
        r.age_scan = c5 - c4;
        r.age_count = c6 - c5;
        r.email_get = c7 - c6;
        r.email_scan = c8 - c7;
        r.end = c9 - c8;
        return r;
    };

    result first = pass();
    result second = pass();
    result third = pass();

    row("fresh store, 1st read txn: begin_read", first.begin);
    row("fresh store, 1st read txn: 10 gets (open the table's cursor)", first.gets);
    row("fresh store, 1st read txn: first scan of the table (cursor cached)", first.table_scan);
    row("fresh store, 1st read txn: second scan of the table", first.table_again);
    row("fresh store, 1st read txn: first scan of the age index", first.age_scan);
    row("fresh store, 1st read txn: age count(k) (cursor cached)", first.age_count);
    row("fresh store, 1st read txn: unique email get (mdb_get, no cursor)", first.email_get);
    row("fresh store, 1st read txn: first scan of the email index (equal_range)", first.email_scan);
    row("fresh store, 1st read txn: end (txn + cursors go to the pool)", first.end);
    counts second_total{second.begin.news + second.gets.news + second.table_scan.news + second.table_again.news +
                            second.age_scan.news + second.age_count.news + second.email_get.news +
                            second.email_scan.news + second.end.news,
                        second.begin.mallocs + second.gets.mallocs + second.table_scan.mallocs +
                            second.table_again.mallocs + second.age_scan.mallocs + second.age_count.mallocs +
                            second.email_get.mallocs + second.email_scan.mallocs + second.end.mallocs};
    counts third_total{third.begin.news + third.gets.news + third.table_scan.news + third.table_again.news +
                           third.age_scan.news + third.age_count.news + third.email_get.news +
                           third.email_scan.news + third.end.news,
                       third.begin.mallocs + third.gets.mallocs + third.table_scan.mallocs +
                           third.table_again.mallocs + third.age_scan.mallocs + third.age_count.mallocs +
                           third.email_get.mallocs + third.email_scan.mallocs + third.end.mallocs};
    row("fresh store, 2nd read txn: all of the above, begin to end", second_total);
    row("fresh store, 3rd read txn: all of the above, begin to end", third_total);

    std::size_t expected_n = 10 + rows + rows + rows / ages + rows / ages + 1 + 1;
    REQUIRE(first.n == expected_n);
    REQUIRE(second.n == expected_n);
    REQUIRE(third.n == expected_n);

    // LMDB's mdb_txn_begin callocs the read transaction once; netabase renews it afterwards.
    CHECK(first.begin.mallocs == 1);
    CHECK(first.begin.news == 0);
    // One mdb_cursor_open (one malloc) per distinct database read through a cursor, then
    // cached: Tree::get opens the table's, which the table scan then reuses.
    CHECK(first.gets.mallocs == 1);
    CHECK(first.gets.news == 0);
    CHECK(first.cursor_opens_table == 1);
    CHECK(first.cursor_opens_age == 1);
    CHECK(first.cursor_opens_email == 1);
    CHECK(first.cursor_opens_total == 3);
    CHECK(first.table_scan.total() == 0);
    CHECK(first.table_again.total() == 0);
    CHECK(first.age_scan.mallocs == 1);
    CHECK(first.age_scan.news == 0);
    CHECK(first.age_count.total() == 0);
    CHECK(first.email_get.total() == 0);
    CHECK(first.email_scan.mallocs == 1);
    CHECK(first.email_scan.news == 0);
    // The pool of reset read transactions is reserved when the store opens: ending allocates nothing.
    CHECK(first.end.news == 0);
    CHECK(first.end.mallocs == 0);
    // Later transactions renew the pooled one and find its cursors in its cache.
    CHECK(second.cursor_opens_total == 0);
    CHECK(third.cursor_opens_total == 0);
    CHECK(second_total.total() == 0);
    CHECK(third_total.total() == 0);
}

TEST_CASE("alloc: owned copies allocate exactly what their strings need beyond SSO", "[alloc]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    { auto warm = store.begin_read(); }

    auto txn = store.begin_read();
    auto pairs = txn.open_tree<Pair>();
    auto people = txn.open_tree<Person>();
    auto g_long = pairs.get(std::uint64_t{1});
    auto g_short = pairs.get(std::uint64_t{2});
    auto g_person = people.get(std::uint64_t{42});  // even: has a nick
    REQUIRE(g_long);
    REQUIRE(g_short);
    REQUIRE(g_person);

    counts c0 = now();
    std::size_t view_sum = g_long->view().get<&Pair::a>().size() + g_long->view().get<&Pair::b>().size();
    counts view_cost = now() - c0;

    c0 = now();
    Pair owned = g_long->value();
    keep(owned);
    counts value_cost = now() - c0;

    c0 = now();
    Pair from_view = g_long->view().to_owned();
    keep(from_view);
    counts to_owned_cost = now() - c0;

    Pair reused{0, std::string(64, '.'), std::string(64, '.')};  // capacity for both strings
    c0 = now();
    g_long->value_into(reused);
    keep(reused);
    counts value_into_cost = now() - c0;

    c0 = now();
    Pair small = g_short->value();
    keep(small);
    counts short_cost = now() - c0;

    c0 = now();
    Person whole = g_person->value();
    keep(whole);
    counts person_cost = now() - c0;

    Person again = person(44);  // same shapes and lengths as row 42: capacity to reuse
    c0 = now();
    g_person->value_into(again);
    keep(again);
    counts person_into_cost = now() - c0;

    c0 = now();
    std::size_t owned_sum = 0;
    for (std::uint64_t i = 0; i < 100; ++i) {
        Pair p = pairs.get(std::uint64_t{1})->value();
        keep(p);
        owned_sum += p.a.size() + p.b.size();
    }
    counts owned_loop = now() - c0;

    c0 = now();
    std::size_t viewed_sum = 0;
    for (std::uint64_t i = 0; i < 100; ++i) {
        auto v = pairs.get(std::uint64_t{1})->view();
        viewed_sum += v.get<&Pair::a>().size() + v.get<&Pair::b>().size();
    }
    counts viewed_loop = now() - c0;

    row("before/after: Pair (2 x 40-char strings) read through view()", view_cost);
    row("before/after: Pair (2 x 40-char strings) owned value()", value_cost);
    row("Pair (2 x 40-char strings) view().to_owned()", to_owned_cost);
    row("Pair (2 x 40-char strings) value_into(existing, capacity 64)", value_into_cost);
    row("Pair (2 x 7-char strings, SSO) owned value()", short_cost);
    row("Person owned value() (email, name, city, nick long; scores; 3 short tags)", person_cost);
    row("Person value_into(a Person holding a row of the same shape)", person_into_cost);
    row("100 x (get + value()) of the long Pair", owned_loop);
    row("100 x (get + view + both strings) of the long Pair", viewed_loop);

    REQUIRE(view_sum == 80);
    REQUIRE(owned.a == std::string(40, 'a'));
    REQUIRE(owned.b == std::string(40, 'b'));
    REQUIRE(from_view.a == owned.a);
    REQUIRE(from_view.b == owned.b);
    REQUIRE(reused.a == owned.a);
    REQUIRE(reused.b == owned.b);
    REQUIRE(small.a == "short a");
    REQUIRE(small.b == "short b");
    REQUIRE(whole.email == person(42).email);
    REQUIRE(whole.nick == person(42).nick);
    REQUIRE(whole.tags == person(42).tags);
    REQUIRE(again.email == whole.email);
    REQUIRE(again.scores == whole.scores);
    REQUIRE(again.address.city == whole.address.city);
    REQUIRE(owned_sum == 8000);
    REQUIRE(viewed_sum == 8000);

    CHECK(view_cost.total() == 0);
    CHECK(value_cost.total() == 2);
    CHECK(to_owned_cost.total() == 2);
    CHECK(value_into_cost.total() == 0);
    CHECK(short_cost.total() == 0);
    // email, name, address.city, nick: 4 long strings; scores: 1 buffer; tags: 1 buffer of
    // three SSO strings.
    CHECK(person_cost.total() == 6);
    CHECK(person_into_cost.total() == 0);
    CHECK(owned_loop.total() == 200);
    CHECK(viewed_loop.total() == 0);
}

// ---- a stored count larger than the bytes after it --------------------------------------------

// Elements whose decoding goes one by one (a reserve() of the claimed count is the danger).
struct Leaf {
    std::string name;
    double weight;
};

struct WithU64s {
    std::uint32_t tag;
    std::vector<std::uint64_t> values;
};

struct failed_decode {
    bool corrupt = false;  // threw netabase::error with errc::corrupt_value
    std::string other;     // what happened instead, if not
    std::size_t bytes = 0, largest = 0;
};

// Decodes bytes as T, counting what the attempt allocates (its exception and message included).
template <class T>
failed_decode decode_counting(std::span<const std::byte> b) {
    failed_decode out;
    const std::size_t before = alloc_count::bytes.load();
    alloc_count::largest.store(0);
    try {
        T v = netabase::decode<T>(b);
        keep(v);
        out.other = "decoded without an error";
    } catch (const netabase::error& e) {
        out.corrupt = e.code() == netabase::errc::corrupt_value;
        if (!out.corrupt) out.other = e.what();
    } catch (const std::exception& e) {
        out.other = std::string("a non-netabase exception: ") + e.what();
    }
    out.bytes = alloc_count::bytes.load() - before;
    out.largest = alloc_count::largest.load();
    return out;
}

std::vector<std::byte> count_then(std::initializer_list<int> head, std::uint32_t count, std::size_t tail, int fill) {
    std::vector<std::byte> b;
    for (int x : head) b.push_back(static_cast<std::byte>(x));
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::byte>((count >> (8 * i)) & 0xff));
    b.insert(b.end(), tail, static_cast<std::byte>(fill));
    return b;
}

// The count is checked against the bytes left before any element storage is reserved: what a
// failed decode allocates is its error (the exception and its message, well under 1 KiB), not
// the count times the element size (256 MiB and more for these counts).
TEST_CASE("alloc: huge element counts throw before anything is allocated", "[alloc][codec]") {
    std::vector<std::pair<std::string, failed_decode>> results;
    auto all = [&](const std::string& what, std::span<const std::byte> b, auto... types) {
        (results.emplace_back(what + " as " + std::string(netabase::detail::type_name_v<decltype(types)>),
                              decode_counting<decltype(types)>(b)),
         ...);
    };
    // Warm-up: the first throw of a process allocates its exception machinery's buffers.
    (void)decode_counting<std::vector<std::uint64_t>>(count_then({0x01}, 0x7fffffffu, 10, 0x11));

    all("count 0x7fffffff", count_then({0x01}, 0x7fffffffu, 10, 0x11), std::vector<std::uint64_t>{});
    all("field 2's count 0x7fffffff", count_then({0x01, 1, 0, 0, 0}, 0x7fffffffu, 10, 0x11), WithU64s{});
    for (std::uint32_t count : {0x7fffffffu, 0xffffffffu, 0x10000000u}) {
        all("count " + std::to_string(count), count_then({0x01}, count, 10, 0x00), std::vector<std::string>{},
            std::vector<Leaf>{}, std::vector<bool>{}, std::vector<std::optional<std::uint64_t>>{},
            std::vector<std::vector<std::uint64_t>>{}, std::vector<long double>{},
            std::vector<std::array<std::uint64_t, 1000>>{}, std::vector<std::uint8_t>{}, std::string{});
    }
    // A nested vector: one outer element whose own count is huge.
    all("inner count 0x7fffffff", count_then({0x01, 1, 0, 0, 0}, 0x7fffffffu, 10, 0x22),
        std::vector<std::vector<std::uint64_t>>{});

    std::size_t most = 0;
    for (const auto& [what, r] : results) {
        INFO(what << ": " << (r.corrupt ? "corrupt_value" : r.other) << ", " << r.bytes << " bytes allocated, largest "
                  << r.largest);
        CHECK(r.corrupt);
        CHECK(r.largest < 1024);
        CHECK(r.bytes < 4096);
        most = std::max(most, r.bytes);
    }
    std::printf("alloc_test: %zu corrupt counts decoded, each allocating at most %zu bytes (its error)\n",
                results.size(), most);
}

}  // namespace alloc_test
