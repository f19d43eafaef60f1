// Guard<M>: one row as LMDB holds it, borrowed from the transaction's snapshot.
#pragma once

#include "netabase/codec.hpp"
#include "netabase/error.hpp"
#include "netabase/key.hpp"
#include "netabase/model.hpp"

#include <span>
#include <string>

namespace netabase {

namespace detail {

// Rethrows a decoding failure with the table and the row's key in the message.
template <class M>
[[noreturn, gnu::cold, gnu::noinline]] void rethrow_corrupt(const error& e, const std::string& table,
                                                            std::span<const std::byte> key) {
    std::string k;
    try {
        describe_key(k, decode_key_bytes<key_of<M>>(key));
    } catch (const error&) {
        k = "<undecodable key of " + std::to_string(key.size()) + " bytes>";
    }
    throw error(e.code(), std::string(e.what()) + " (table '" + table + "', key " + k + ")", table);
}

}  // namespace detail

// Valid until its transaction ends and, in a write transaction, until the next put or remove
// in it: the bytes are LMDB's own pages, which a later write may move.
template <class M>
class Guard {
public:
    using model_type = M;
    using key_type = detail::key_of<M>;

    Guard(std::span<const std::byte> key, std::span<const std::byte> value, const std::string* table) noexcept
        : key_(key), value_(value), table_(table) {}

    // The stored value, version byte first, straight from the memory map.
    std::span<const std::byte> bytes() const noexcept { return value_; }
    // The encoded primary key, straight from the memory map.
    std::span<const std::byte> key_bytes() const noexcept { return key_; }

    // An owned copy of the row.
    M value() const {
        M m{};
        value_into(m);
        return m;
    }

    // Decodes into an existing object, reusing its strings' and vectors' capacity.
    void value_into(M& out) const {
        try {
            detail::decode_row(value_, out);
        } catch (const error& e) {
            detail::rethrow_corrupt<M>(e, *table_, key_);
        }
    }

    // The primary key, decoded.
    key_type key() const {
        try {
            return detail::decode_key_bytes<key_type>(key_);
        } catch (const error& e) {
            throw error(e.code(), std::string(e.what()) + " (table '" + *table_ + "')", *table_);
        }
    }

    const std::string& table() const noexcept { return *table_; }

private:
    std::span<const std::byte> key_;
    std::span<const std::byte> value_;
    const std::string* table_;
};

}  // namespace netabase
