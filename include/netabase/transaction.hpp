// ReadTransaction and WriteTransaction: a snapshot to read, or the one writer's changes.
#pragma once

#include "netabase/error.hpp"
#include "netabase/lmdb.hpp"
#include "netabase/tree.hpp"
#include "netabase/watch.hpp"  // change_log_range (B::changes_since)

#include <cstdint>
#include <memory>
#include <utility>

namespace netabase {

namespace detail {

template <class M>
inline constexpr bool model_not_in_definition = false;

}  // namespace detail

// A consistent snapshot: later commits stay invisible to it. Readers never block the writer.
// Ends (and its guards, views and trees with it) at commit(), abort() or destruction.
template <class Def, class B>
class ReadTransaction {
public:
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;
    ~ReadTransaction() { B::end_read(core_); }

    template <class M>
    auto open_tree() {
        if constexpr (!Def::template contains<M>) {
            static_assert(detail::model_not_in_definition<M>,
                          "netabase: open_tree<M>(): M is not one of the models of this Store's netabase::definition");
        } else {
            core_.live();
            return Tree<M, access::read, B>(&core_, &state_->template table<M>());
        }
    }

    bool is_open() const noexcept { return B::is_open(core_); }

    // The durable change log after sequence `seq`, oldest first (options{.change_log = true}).
    auto changes_since(std::uint64_t seq) const { return B::changes_since(core_, seq); }

    // A read transaction has nothing to commit: both end the snapshot.
    void commit() { finish(); }
    void abort() { finish(); }

private:
    friend class Store<Def, B>;

    [[gnu::always_inline]] explicit ReadTransaction(const std::shared_ptr<typename B::template state<Def>>& state)
        : state_(state) {
        B::begin_read(*state_, core_);
    }

    void finish() {
        core_.live();
        B::end_read(core_);
    }

    std::shared_ptr<typename B::template state<Def>> state_;
    typename B::txn core_;
};

// The one write transaction of the store (LMDB admits one writer at a time, process-wide and
// across processes). Destroyed without commit() it aborts.
template <class Def, class B>
class WriteTransaction {
public:
    WriteTransaction(const WriteTransaction&) = delete;
    WriteTransaction& operator=(const WriteTransaction&) = delete;
    ~WriteTransaction() { B::abort(*state_, core_); }

    template <class M>
    auto open_tree() {
        if constexpr (!Def::template contains<M>) {
            static_assert(detail::model_not_in_definition<M>,
                          "netabase: open_tree<M>(): M is not one of the models of this Store's netabase::definition");
        } else {
            core_.live();
            return Tree<M, access::write, B>(&core_, &state_->template table<M>());
        }
    }

    bool is_open() const noexcept { return B::is_open(core_); }

    // Makes every change durable (per the store's durability option) and visible. Throws, and
    // leaves nothing applied, when an earlier operation in this transaction failed inside the
    // storage or was stopped part way by an exception (see Tree::put_many).
    void commit() { B::commit(*state_, core_); }

    void abort() {
        core_.live();
        B::abort(*state_, core_);
    }

private:
    friend class Store<Def, B>;

    explicit WriteTransaction(std::shared_ptr<typename B::template state<Def>> state) : state_(std::move(state)) {
        B::begin_write(*state_, core_);
    }

    std::shared_ptr<typename B::template state<Def>> state_;
    typename B::txn core_;
};

}  // namespace netabase
