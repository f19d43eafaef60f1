// netabase: the library under test, used the way its README shows. One translation unit per
// model (engine_netabase_<table>.cpp), as an application's code is spread: the four models in
// one file hit GCC's -O3 inline-unit-growth limit (over a thousand inlining decisions refused),
// so their counts moved with any change anywhere in the library rather than in the code measured.
#pragma once

#include "common.hpp"

#include <netabase/netabase.hpp>

#include <cstdlib>
#include <ranges>
#include <stdexcept>

namespace bench {

template <int K>
constexpr auto netabase_model(netabase::tag<RowT<K>>) {
    auto m = netabase::model<RowT<K>>("rows").primary_key(&RowT<K>::id);
    if constexpr (K == 0)
        return m;
    else if constexpr (K == 1)
        return m.secondary_key(&RowT<K>::category);
    else
        return m.secondary_key(&RowT<K>::category).secondary_key(&RowT<K>::code);
}

constexpr auto netabase_model(netabase::tag<Doc>) {
    return netabase::model<Doc>("docs").primary_key(&Doc::id).secondary_key(&Doc::category).secondary_key(&Doc::code);
}

namespace {

template <class M>
std::uint64_t sum_view(const netabase::View<M>& v) {
    if constexpr (std::is_same_v<M, Doc>) {
        return doc_sum(v.template get<&M::id>(), v.template get<&M::category>(), v.template get<&M::code>(),
                       v.template get<&M::score>(), v.template get<&M::title>(), v.template get<&M::tags>(),
                       v.template get<&M::body>());
    } else {
        return row_sum(v.template get<&M::id>(), v.template get<&M::category>(), v.template get<&M::code>(),
                       v.template get<&M::score>(), v.template get<&M::name>());
    }
}

template <class M>
std::uint64_t sum_owned(const M& m) {
    if constexpr (std::is_same_v<M, Doc>)
        return doc_sum(m.id, m.category, m.code, m.score, m.title, m.tags, m.body);
    else
        return row_sum(m.id, m.category, m.code, m.score, m.name);
}

template <class M>
class netabase_engine final : public Engine {
    using Schema = netabase::definition<M>;
    static constexpr bool is_row = std::is_same_v<M, Row>;

    static bool value_checksum() {
        const char* env = std::getenv("NETABASE_BENCH_VALUE_CHECKSUM");
        return env && *env == '1';
    }

    static bool change_log() {
        const char* env = std::getenv("NETABASE_BENCH_CHANGE_LOG");
        return env && *env == '1';
    }

public:
    netabase_engine(const std::filesystem::path& dir, sync_mode s, const Dataset& ds)
        : dir_(dir),
          store_(dir, netabase::options{.map_size = std::size_t{16} << 30,
                                        .durability = s == sync_mode::none ? netabase::durability::no_sync
                                                                           : netabase::durability::full,
                                        // NETABASE_BENCH_VALUE_CHECKSUM=1 measures options::checksum
                                        .checksum = value_checksum(),
                                        // NETABASE_BENCH_CHANGE_LOG=1 measures options::change_log
                                        .change_log = change_log()}),
          ds_(ds) {
        if constexpr (std::is_same_v<M, Doc>) {
            src_ = &ds.docs;
        } else if constexpr (is_row) {
            src_ = &ds.rows;
        } else {
            converted_.reserve(ds.rows.size());
            for (const Row& r : ds.rows) converted_.push_back(M{r.id, r.category, r.code, r.score, r.name});
            src_ = &converted_;
        }
    }

    std::vector<std::filesystem::path> data_files() const override { return {dir_ / "data.mdb"}; }

    std::uint64_t load(std::span<const std::uint32_t> order) override {
        const std::vector<M>& src = *src_;
        return store_.write([&](netabase::WriteTransaction<Schema>& txn) {
            auto rows = order | std::views::transform([&](std::uint32_t i) -> const M& { return src[i]; });
            return static_cast<std::uint64_t>(txn.template open_tree<M>().put_many(rows));
        });
    }

    std::uint64_t insert_each(std::span<const Row> rows) override {
        if constexpr (is_row) {
            for (const Row& r : rows)
                store_.write([&](netabase::WriteTransaction<Schema>& txn) { txn.template open_tree<M>().put(r); });
            return rows.size();
        } else {
            throw std::logic_error("insert_each: rows2 only");
        }
    }

    std::uint64_t insert_batches(std::span<const Row> rows, std::size_t per_txn) override {
        if constexpr (is_row) {
            for (std::size_t at = 0; at < rows.size(); at += per_txn) {
                auto chunk = rows.subspan(at, std::min(per_txn, rows.size() - at));
                store_.write([&](netabase::WriteTransaction<Schema>& txn) {
                    auto tree = txn.template open_tree<M>();
                    for (const Row& r : chunk) tree.put(r);
                });
            }
            return rows.size();
        } else {
            throw std::logic_error("insert_batches: rows2 only");
        }
    }

    std::uint64_t update_score(std::span<const std::uint64_t> keys) override {
        return store_.write([&](netabase::WriteTransaction<Schema>& txn) {
            auto tree = txn.template open_tree<M>();
            std::uint64_t n = 0;
            for (auto k : keys) n += tree.update(k, [](M& m) { m.score += 1; });
            return n;
        });
    }

    std::uint64_t update_category(std::span<const std::uint64_t> keys) override {
        return store_.write([&](netabase::WriteTransaction<Schema>& txn) {
            auto tree = txn.template open_tree<M>();
            std::uint64_t n = 0;
            for (auto k : keys) n += tree.update(k, [](M& m) { m.category = (m.category + 1) % 1000; });
            return n;
        });
    }

    std::uint64_t remove(std::span<const std::uint64_t> keys) override {
        return store_.write([&](netabase::WriteTransaction<Schema>& txn) {
            auto tree = txn.template open_tree<M>();
            std::uint64_t n = 0;
            for (auto k : keys) n += tree.remove(k);
            return n;
        });
    }

    std::uint64_t get_view(std::span<const std::uint64_t> keys) override {
        auto txn = store_.begin_read();
        auto tree = txn.template open_tree<M>();
        std::uint64_t sum = 0;
        for (auto k : keys)
            if (auto g = tree.get(k)) sum += sum_view(g->view());
        return sum;
    }

    std::uint64_t get_owned(std::span<const std::uint64_t> keys) override {
        auto txn = store_.begin_read();
        auto tree = txn.template open_tree<M>();
        std::uint64_t sum = 0;
        for (auto k : keys)
            if (auto g = tree.get(k)) {
                M m = g->value();
                sum += sum_owned(m);
            }
        return sum;
    }

    std::uint64_t get_view_txn_each(std::span<const std::uint64_t> keys) override {
        std::uint64_t sum = 0;
        for (auto k : keys)
            sum += store_.read([&](netabase::ReadTransaction<Schema>& txn) -> std::uint64_t {
                auto g = txn.template open_tree<M>().get(k);
                return g ? sum_view(g->view()) : 0;
            });
        return sum;
    }

    std::uint64_t range_view(std::span<const std::uint64_t> starts, std::uint64_t width) override {
        auto txn = store_.begin_read();
        auto tree = txn.template open_tree<M>();
        std::uint64_t sum = 0;
        for (auto s : starts)
            for (const auto& g : tree.range(s, s + width)) sum += sum_view(g.view());
        return sum;
    }

    std::uint64_t range_owned(std::span<const std::uint64_t> starts, std::uint64_t width) override {
        auto txn = store_.begin_read();
        auto tree = txn.template open_tree<M>();
        std::uint64_t sum = 0;
        for (auto s : starts)
            for (const auto& g : tree.range(s, s + width)) {
                M m = g.value();
                sum += sum_owned(m);
            }
        return sum;
    }

    std::uint64_t scan_view() override {
        auto txn = store_.begin_read();
        std::uint64_t sum = 0;
        for (const auto& g : txn.template open_tree<M>()) sum += sum_view(g.view());
        return sum;
    }

    std::uint64_t scan_owned() override {
        auto txn = store_.begin_read();
        std::uint64_t sum = 0;
        for (const auto& g : txn.template open_tree<M>()) {
            M m = g.value();
            sum += sum_owned(m);
        }
        return sum;
    }

    std::uint64_t by_code(std::span<const std::uint32_t> codes) override {
        if constexpr (netabase::detail::model_traits<M>::index_count == 2) {
            auto txn = store_.begin_read();
            auto ix = txn.template open_tree<M>().index(&M::code);
            std::uint64_t sum = 0;
            for (auto c : codes)
                for (const auto& g : ix.equal_range(c)) sum += sum_view(g.view());
            return sum;
        } else {
            throw std::logic_error("by_code: needs the code index");
        }
    }

    std::uint64_t by_category(std::span<const std::uint32_t> cats) override {
        if constexpr (netabase::detail::model_traits<M>::index_count >= 1) {
            auto txn = store_.begin_read();
            auto ix = txn.template open_tree<M>().index(&M::category);
            std::uint64_t sum = 0;
            for (auto c : cats)
                for (const auto& g : ix.equal_range(c)) sum += sum_view(g.view());
            return sum;
        } else {
            throw std::logic_error("by_category: needs the category index");
        }
    }

    std::uint64_t count_category(std::span<const std::uint32_t> cats) override {
        if constexpr (netabase::detail::model_traits<M>::index_count >= 1) {
            auto txn = store_.begin_read();
            auto ix = txn.template open_tree<M>().index(&M::category);
            std::uint64_t sum = 0;
            for (auto c : cats) sum += ix.count(c);
            return sum;
        } else {
            throw std::logic_error("count_category: needs the category index");
        }
    }

    std::uint64_t size_each(std::size_t times) override {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < times; ++i)
            sum += store_.read(
                [](netabase::ReadTransaction<Schema>& txn) { return txn.template open_tree<M>().size(); });
        return sum;
    }

private:
    std::filesystem::path dir_;
    netabase::Store<Schema> store_;
    const Dataset& ds_;
    std::vector<M> converted_;
    const std::vector<M>* src_ = nullptr;
};

}  // namespace

}  // namespace bench
