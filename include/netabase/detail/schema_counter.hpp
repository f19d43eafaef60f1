// A counter in shared memory (the file `schema.lock` beside data.mdb) that every process
// bumps around a change of a store's schema, so that a transaction can see in two loads that
// no other program changed the schema since this one checked it, instead of reading the
// metadata every time.
//
// Protocol (every change happens in a write transaction, so one change begins at a time):
// begin() before the change's first write makes the counter odd (a new value); end() after the
// commit makes it even again, unless another change began meanwhile. A transaction loads the
// counter before its snapshot (c0) and after (c1): c1 equal to the last value this program
// validated means nothing changed; else it reads the metadata, and only if c0 == c1 and both are
// even may it remember c1 as validated (every change counted in it committed before c0).
#pragma once

#include "netabase/detail/path.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace netabase::detail {

// Maps the first `bytes` bytes of `file` (created zero-filled when missing and this process may
// write) shared between processes; nullptr when it cannot. `writable` says whether the mapping
// may be written.
inline void* map_shared_file(const dir_path& file, std::size_t bytes, bool read_only, unsigned mode,
                             bool& writable) {
    writable = false;
    int fd = read_only ? -1 : ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, static_cast<mode_t>(mode));
    bool can_write = fd >= 0;
    if (fd < 0) fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        can_write = true;
    } else {
        fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return nullptr;
    }
    struct ::stat st {};
    bool ok = ::fstat(fd, &st) == 0;
    if (ok && st.st_size < static_cast<off_t>(bytes))
        ok = can_write && ::ftruncate(fd, static_cast<off_t>(bytes)) == 0;  // zero-filled
    void* m = ok ? ::mmap(nullptr, bytes, PROT_READ | (can_write ? PROT_WRITE : 0), MAP_SHARED, fd, 0) : MAP_FAILED;
    ::close(fd);
    if (m == MAP_FAILED) return nullptr;
    writable = can_write;
    return m;
}

class schema_counter {
public:
    // Never a value of the counter: "not validated" / "no shared counter".
    static constexpr std::uint64_t none = ~std::uint64_t{0};

    schema_counter() = default;
    schema_counter(const schema_counter&) = delete;
    schema_counter& operator=(const schema_counter&) = delete;
    ~schema_counter() {
        if (p_) ::munmap(static_cast<void*>(p_), sizeof(std::uint64_t));
    }

    // Maps the counter; without it (a directory this process may not write, a file system
    // without shared mappings) every transaction reads the metadata instead.
    void open(const dir_path& dir, bool read_only, unsigned mode) {
        p_ = static_cast<std::atomic<std::uint64_t>*>(
            map_shared_file(dir / "schema.lock", sizeof(std::uint64_t), read_only, mode, writable_));
    }

    std::uint64_t load() const noexcept { return p_ ? p_->load(std::memory_order_seq_cst) : none; }

    // What a transaction may remember as validated, given the counter before (c0) and after (c1)
    // its snapshot: c1 when no change began in between and none was under way, else none.
    static std::uint64_t settled(std::uint64_t c0, std::uint64_t c1) noexcept {
        return c0 == c1 && c1 != none && (c1 & 1) == 0 ? c1 : none;
    }

    // Before a schema change's first write, inside its write transaction: the value end() takes.
    std::uint64_t begin() noexcept {
        if (!p_ || !writable_) return none;
        std::uint64_t c = p_->load();
        std::uint64_t odd = (c & 1) ? c + 2 : c + 1;  // odd already: a changer died part way
        p_->store(odd);
        return odd;
    }

    // After the change committed or aborted: even again, unless another change began since.
    // Returns the even value, or none.
    std::uint64_t end(std::uint64_t began) noexcept {
        if (began == none || !p_) return none;
        std::uint64_t expected = began;
        return p_->compare_exchange_strong(expected, began + 1) ? began + 1 : none;
    }

private:
    std::atomic<std::uint64_t>* p_ = nullptr;
    bool writable_ = false;
};

}  // namespace netabase::detail
