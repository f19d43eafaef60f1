// Guard<M>: one row as LMDB holds it, borrowed from the transaction's snapshot.
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/codec.hpp"
#include "netabase/detail/lifetime.hpp"
#include "netabase/error.hpp"
#include "netabase/key.hpp"
#include "netabase/model.hpp"
#include "netabase/view.hpp"

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
    throw error(e.code(), e.description() + " (table '" + table + "', key " + k + ")", table);
}

}  // namespace detail

// Valid until its transaction ends and, in a write transaction, until the next put or remove
// in it: the bytes are LMDB's own pages, which a later write may move.
template <class M>
class Guard {
public:
    using model_type = M;
    using key_type = detail::key_of<M>;

    Guard(std::span<const std::byte> key, std::span<const std::byte> value, const std::string* table,
          detail::stamp life = {}) noexcept
        : key_(key), value_(value), table_(table), life_(life) {}

    // The stored value, version byte first, straight from the memory map.
    std::span<const std::byte> bytes() const noexcept {
        life_.check_fresh("a netabase::Guard");
        return value_;
    }
    // The encoded primary key, straight from the memory map.
    std::span<const std::byte> key_bytes() const noexcept {
        life_.check_fresh("a netabase::Guard");
        return key_;
    }

    // The row read in place: no allocation, no copy of string or array payloads.
    View<M> view() const {
        life_.check_fresh("a netabase::Guard");
        try {
            reader r = detail::open_row(value_);
            return View<M>(std::span<const std::byte>(r.position(), r.remaining()), life_);
        } catch (const error& e) {
            detail::rethrow_corrupt<M>(e, *table_, key_);
        }
    }

    // An owned copy of the row.
    M value() const {
        life_.check_fresh("a netabase::Guard");
        try {
            return detail::decode_row_new<M>(value_);
        } catch (const error& e) {
            detail::rethrow_corrupt<M>(e, *table_, key_);
        }
    }

    // Decodes into an existing object, reusing its strings' and vectors' capacity.
    void value_into(M& out) const {
        life_.check_fresh("a netabase::Guard");
        try {
            detail::decode_row(value_, out);
        } catch (const error& e) {
            detail::rethrow_corrupt<M>(e, *table_, key_);
        }
    }

    // The primary key, decoded.
    key_type key() const {
        life_.check_fresh("a netabase::Guard");
        try {
            return detail::decode_key_bytes<key_type>(key_);
        } catch (const error& e) {
            throw error(e.code(), e.description() + " (table '" + *table_ + "')", *table_);
        }
    }

    const std::string& table() const noexcept { return *table_; }

private:
    std::span<const std::byte> key_;
    std::span<const std::byte> value_;
    const std::string* table_;
    [[no_unique_address]] detail::stamp life_;
};

}  // namespace netabase
