// Debug checks of the borrowing rules. With NETABASE_CHECK_LIFETIMES on (the default when
// NDEBUG is unset), every guard, view, iterator and tree remembers its transaction and the
// number of writes made in it; using one after its transaction ended, or after a later put or
// remove in its write transaction, aborts with a message naming the rule. With it off, the
// stamp is an empty member and the checks compile to nothing. Every translation unit of a
// program must agree on the setting.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#ifndef NETABASE_CHECK_LIFETIMES
#ifdef NDEBUG
#define NETABASE_CHECK_LIFETIMES 0
#else
#define NETABASE_CHECK_LIFETIMES 1
#endif
#endif

namespace netabase::detail {

#if NETABASE_CHECK_LIFETIMES

// Slots are never freed, so a stale stamp reads a live atomic, never freed memory.
struct lifetime_slot {
    std::atomic<std::uint64_t> txn{0};     // the transaction in the slot now, 0 if none
    std::atomic<std::uint64_t> writes{0};  // puts and removes made in it so far
};

inline constexpr std::size_t lifetime_slot_count = 4096;

struct lifetime_registry {
    lifetime_slot slots[lifetime_slot_count];
    std::mutex mu;
    std::vector<std::uint32_t> free;
    std::uint32_t next_unused = 1;  // slot 0 is never used: a zero stamp means "no transaction"
    std::atomic<std::uint64_t> next_txn{1};

    static lifetime_registry& get() {
        static lifetime_registry r;
        return r;
    }
};

// What a transaction holds: its slot.
class lifetime_owner {
public:
    void begin() {
        auto& r = lifetime_registry::get();
        std::lock_guard lock(r.mu);
        if (!r.free.empty()) {
            slot_ = r.free.back();
            r.free.pop_back();
        } else if (r.next_unused < lifetime_slot_count) {
            slot_ = r.next_unused++;
        } else {
            slot_ = 0;  // more live transactions than slots: this one goes unchecked
            return;
        }
        r.slots[slot_].writes.store(0, std::memory_order_relaxed);
        r.slots[slot_].txn.store(txn_ = r.next_txn.fetch_add(1), std::memory_order_release);
    }
    void wrote() noexcept {
        if (slot_) lifetime_registry::get().slots[slot_].writes.fetch_add(1, std::memory_order_relaxed);
    }
    void end() noexcept {
        if (!slot_) return;
        auto& r = lifetime_registry::get();
        r.slots[slot_].txn.store(0, std::memory_order_release);
        std::lock_guard lock(r.mu);
        r.free.push_back(slot_);
        slot_ = 0;
    }
    std::uint32_t slot() const noexcept { return slot_; }
    std::uint64_t txn() const noexcept { return txn_; }
    std::uint64_t writes() const noexcept {
        return slot_ ? lifetime_registry::get().slots[slot_].writes.load(std::memory_order_relaxed) : 0;
    }

private:
    std::uint32_t slot_ = 0;
    std::uint64_t txn_ = 0;
};

[[noreturn, gnu::cold, gnu::noinline]] inline void lifetime_violation(const char* what, const char* rule) {
    std::fprintf(stderr, "netabase: lifetime rule broken: %s %s\n", what, rule);
    std::fflush(stderr);
    std::abort();
}

// What a borrowed thing holds: which transaction, and how many writes it had seen.
struct stamp {
    std::uint32_t slot = 0;
    std::uint64_t txn = 0;
    std::uint64_t writes = 0;

    static stamp of(const lifetime_owner& o) noexcept { return {o.slot(), o.txn(), o.writes()}; }

    // Transaction still open?
    void check_open(const char* what) const noexcept {
        if (!slot) return;
        if (lifetime_registry::get().slots[slot].txn.load(std::memory_order_acquire) != txn) [[unlikely]]
            lifetime_violation(what, "was used after its transaction ended (commit, abort or destruction)");
    }
    // Transaction open and no write since this was taken?
    void check_fresh(const char* what) const noexcept {
        if (!slot) return;
        check_open(what);
        if (lifetime_registry::get().slots[slot].writes.load(std::memory_order_relaxed) != writes) [[unlikely]]
            lifetime_violation(what,
                               "taken in a write transaction was used after a later put or remove in it "
                               "(LMDB may have moved or freed its page)");
    }
    bool open() const noexcept {
        return !slot || lifetime_registry::get().slots[slot].txn.load(std::memory_order_acquire) == txn;
    }
};

#else

class lifetime_owner {
public:
    void begin() noexcept {}
    void wrote() noexcept {}
    void end() noexcept {}
};

struct stamp {
    static stamp of(const lifetime_owner&) noexcept { return {}; }
    void check_open(const char*) const noexcept {}
    void check_fresh(const char*) const noexcept {}
    bool open() const noexcept { return true; }
};

#endif

}  // namespace netabase::detail
