// netabase::position: a point in the key space of one table or one index, as bytes that can be
// stored and handed back later, in another transaction, to resume a scan (Rows::after).
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/detail/crc32c.hpp"
#include "netabase/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace netabase {

class position;

namespace detail {

// What a position points at: a primary key, a unique index's key, or a non-unique index's
// entry (its key and the primary key that tells its duplicates apart).
enum class position_kind : std::uint8_t { primary = 0, unique_index = 1, index = 2 };

struct position_parts {
    position_kind kind = position_kind::primary;
    std::string_view table, index;  // index: empty for the primary key
    std::span<const std::byte> key, pk;  // pk: only for position_kind::index
};

// The layout, all lengths big-endian:
//   u8 format (1) | u8 kind | u16 n, table name | u16 n, index name ("" for the primary key)
//   | u16 n, key | (kind index) u16 n, primary key | u32 crc32c of every byte before it.
// The names make a position from another table or index a clear error when it is used; the
// checksum makes a damaged or cut one a clear error when it is read back.
inline constexpr std::uint8_t position_format = 1;

inline std::string position_where(std::string_view table, std::string_view index) {
    if (index.empty()) return "the primary key of table '" + std::string(table) + "'";
    return "index '" + std::string(index) + "' of table '" + std::string(table) + "'";
}

// Reads bytes laid out as above; nullptr when they are, else what is wrong (out.table and
// out.index are set as soon as they have been read).
inline const char* read_position(std::span<const std::byte> b, position_parts& out) noexcept {
    std::size_t at = 0;
    auto u8 = [&](std::uint8_t& v) {
        if (b.size() - at < 1) return false;
        v = static_cast<std::uint8_t>(b[at++]);
        return true;
    };
    auto part = [&](std::span<const std::byte>& s) {
        if (b.size() - at < 2) return false;
        std::size_t n = (static_cast<std::size_t>(b[at]) << 8) | static_cast<std::size_t>(b[at + 1]);
        at += 2;
        if (b.size() - at < n) return false;
        s = b.subspan(at, n);
        at += n;
        return true;
    };
    auto text = [](std::span<const std::byte> s) {
        return std::string_view(reinterpret_cast<const char*>(s.data()), s.size());
    };
    if (b.empty()) return "it is empty";
    std::uint8_t format = 0, kind = 0;
    if (!u8(format) || format != position_format) return "its format byte is not one this netabase writes";
    if (!u8(kind) || kind > static_cast<std::uint8_t>(position_kind::index)) return "its kind byte is unknown";
    out.kind = static_cast<position_kind>(kind);
    std::span<const std::byte> table, index;
    if (!part(table) || table.empty()) return "it is cut short before the end of its table name";
    out.table = text(table);
    if (!part(index)) return "it is cut short before the end of its index name";
    out.index = text(index);
    if (index.empty() != (out.kind == position_kind::primary)) return "its kind does not match its index name";
    if (!part(out.key) || out.key.empty()) return "it is cut short before the end of its key";
    if (out.kind == position_kind::index && (!part(out.pk) || out.pk.empty()))
        return "it is cut short before the end of its primary key";
    if (b.size() - at != 4) return b.size() - at < 4 ? "it is cut short before its checksum" : "it has bytes after its checksum";
    std::uint32_t stored = 0;
    for (int i = 0; i < 4; ++i) stored = (stored << 8) | static_cast<std::uint8_t>(b[at + i]);
    if (crc32c(b.data(), at) != stored) return "its checksum does not match (the bytes were damaged)";
    return nullptr;
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_bad_position(std::size_t size, const char* why,
                                                                      const position_parts& p) {
    std::string msg = "malformed netabase::position (" + std::to_string(size) + " bytes): " + why;
    if (!p.table.empty()) msg += "; it names " + position_where(p.table, p.index);
    throw error(errc::invalid_argument, msg, std::string(p.table), std::string(p.index));
}

struct position_access;

}  // namespace detail

// Where a scan is, as bytes: the key of one table entry, or for a non-unique index the entry's
// key and primary key, tagged with the table and index it belongs to. Neither a direction nor
// bounds: `rows.after(p)` resumes any scan of the same table or index strictly after p, in
// that scan's direction and within its bounds. Bytes are stable across transactions and
// processes; they hold the key bytes themselves, so they are as private as the keys.
class position {
public:
    // The encoded position, to store (as a page token, in a file, ...).
    std::span<const std::byte> bytes() const noexcept { return {bytes_.data(), bytes_.size()}; }

    // A position from bytes() of an earlier one. Malformed bytes (empty, cut short, damaged,
    // not a position) are errc::invalid_argument, naming the table and index the bytes claim
    // where they can still be read.
    static position from_bytes(std::span<const std::byte> b) {
        detail::position_parts p;
        if (const char* why = detail::read_position(b, p)) detail::throw_bad_position(b.size(), why, p);
        position out;
        out.bytes_.assign(b.begin(), b.end());
        return out;
    }

    friend bool operator==(const position&, const position&) = default;

private:
    friend struct detail::position_access;
    position() = default;
    std::vector<std::byte> bytes_;
};

namespace detail {

struct position_access {
    static position make(position_kind kind, std::string_view table, std::string_view index,
                         std::span<const std::byte> key, std::span<const std::byte> pk) {
        if (table.size() > 0xffff || index.size() > 0xffff) [[unlikely]]
            throw error(errc::invalid_argument, "netabase::position: a table or index name over 65535 bytes",
                        std::string(table), std::string(index));
        position p;
        auto& b = p.bytes_;
        b.reserve(2 + 2 + table.size() + 2 + index.size() + 2 + key.size() + (pk.empty() ? 0 : 2 + pk.size()) + 4);
        auto push = [&](std::size_t v) { b.push_back(static_cast<std::byte>(v & 0xff)); };
        auto part = [&](const void* data, std::size_t n) {
            push(n >> 8);
            push(n);
            auto* s = static_cast<const std::byte*>(data);
            b.insert(b.end(), s, s + n);
        };
        push(position_format);
        push(static_cast<std::uint8_t>(kind));
        part(table.data(), table.size());
        part(index.data(), index.size());
        part(key.data(), key.size());
        if (kind == position_kind::index) part(pk.data(), pk.size());
        std::uint32_t crc = crc32c(b.data(), b.size());
        for (int shift = 24; shift >= 0; shift -= 8) push(crc >> shift);
        return p;
    }

    // The parts of p, checked against the table or index a scan walks; throws
    // errc::invalid_argument naming both when p belongs elsewhere.
    static position_parts parts_for(const position& p, const std::string& table, const std::string* index,
                                    bool dupsort, std::size_t max_key) {
        position_parts parts;
        auto b = p.bytes();
        if (const char* why = read_position(b, parts)) throw_bad_position(b.size(), why, parts);
        std::string_view want_index = index ? std::string_view(*index) : std::string_view();
        position_kind want = !index ? position_kind::primary : dupsort ? position_kind::index : position_kind::unique_index;
        if (parts.table != table || parts.index != want_index)
            throw error(errc::invalid_argument,
                        "a netabase::position of " + position_where(parts.table, parts.index) +
                            " cannot resume a scan of " + position_where(table, want_index) +
                            ": a position belongs to the table or index whose scan it came from",
                        table, std::string(want_index));
        if (parts.kind != want)
            throw error(errc::invalid_argument,
                        "a netabase::position of " + position_where(table, want_index) + " was taken when the index " +
                            (parts.kind == position_kind::index ? "was not unique" : "was unique") +
                            ", and it is no longer: take a new position",
                        table, std::string(want_index));
        if (parts.key.size() > max_key || parts.pk.size() > max_key)
            throw error(errc::invalid_argument,
                        "malformed netabase::position of " + position_where(table, want_index) + ": a key of " +
                            std::to_string(std::max(parts.key.size(), parts.pk.size())) +
                            " bytes is over LMDB's limit of " + std::to_string(max_key),
                        table, std::string(want_index));
        return parts;
    }
};

// A scan's resume point, held by its Rows: the key and (for a non-unique index) the primary
// key of the entry to resume after, behind one pointer (their two sizes first). Empty for a
// scan that starts at its bound, which is every scan but after()'s: then it is a null pointer,
// which a Rows copies, and destroys, for a test of it.
class resume_key {
public:
    resume_key() noexcept = default;
    resume_key(std::span<const std::byte> key, std::span<const std::byte> pk)
        : data_(std::make_unique_for_overwrite<std::byte[]>(header + key.size() + pk.size())) {
        const std::uint32_t sizes[2] = {static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(pk.size())};
        std::memcpy(data_.get(), sizes, header);
        std::memcpy(data_.get() + header, key.data(), key.size());
        if (!pk.empty()) std::memcpy(data_.get() + header + key.size(), pk.data(), pk.size());
    }
    resume_key(const resume_key& o) {
        if (o.data_) [[unlikely]]
            copy_from(o);
    }
    resume_key& operator=(const resume_key& o) {
        if (this == &o) return *this;
        if (o.data_)
            copy_from(o);
        else
            data_.reset();
        return *this;
    }
    resume_key(resume_key&&) noexcept = default;
    resume_key& operator=(resume_key&&) noexcept = default;

    bool empty() const noexcept { return !data_; }
    std::span<const std::byte> key() const noexcept { return {data_.get() + header, size(0)}; }
    std::span<const std::byte> pk() const noexcept { return {data_.get() + header + size(0), size(1)}; }

private:
    static constexpr std::size_t header = 2 * sizeof(std::uint32_t);

    std::size_t size(int i) const noexcept {
        std::uint32_t n;
        std::memcpy(&n, data_.get() + i * sizeof n, sizeof n);
        return n;
    }
    [[gnu::noinline]] void copy_from(const resume_key& o) {
        const std::size_t n = header + o.size(0) + o.size(1);
        data_ = std::make_unique_for_overwrite<std::byte[]>(n);
        std::memcpy(data_.get(), o.data_.get(), n);
    }

    std::unique_ptr<std::byte[]> data_;
};

}  // namespace detail
}  // namespace netabase
