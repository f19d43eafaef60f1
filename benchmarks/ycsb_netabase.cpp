// netabase_ycsb's netabase engine: the library used as its README shows, one store.read or
// store.write per operation; reads through views (get + view(), every field) or owned
// (get + value()); updates and read-modify-writes through tree.update(); the load through one
// put_many.
#include "ycsb.hpp"

#include <netabase/netabase.hpp>

#include <utility>

namespace bench::ycsb {

constexpr auto netabase_model(netabase::tag<UserRow>) {
    return netabase::model<UserRow>("usertable").primary_key(&UserRow::key);
}
constexpr auto netabase_model(netabase::tag<UserInt>) {
    return netabase::model<UserInt>("usertable").primary_key(&UserInt::key);
}

namespace {

template <class R>
std::uint64_t sum_view(const netabase::View<R>& v) {
    record_sum s;
    s.key(v.template get<0>());
    // A comma fold: the fields are read in order.
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (s.add(v.template get<I + 1>()), ...);
    }(std::make_index_sequence<field_count<R>>{});
    return s.done();
}

template <class R>
class netabase_engine final : public Engine {
    using Schema = netabase::definition<R>;
    using Read = netabase::ReadTransaction<Schema>;
    using Write = netabase::WriteTransaction<Schema>;

public:
    netabase_engine(const std::filesystem::path& dir, sync_mode m, const Data& d)
        : dir_(dir),
          store_(dir, netabase::options{.map_size = std::size_t{16} << 30,
                                        .durability = m == sync_mode::none ? netabase::durability::no_sync
                                                                           : netabase::durability::full}),
          rows_(rows_of<R>(d)),
          values_(d.values) {}

    std::uint64_t load(std::size_t n) override {
        return store_.write([&](Write& txn) {
            return static_cast<std::uint64_t>(txn.template open_tree<R>().put_many(std::span(rows_).first(n)));
        });
    }

    std::uint64_t run(std::span<const op> ops, bool owned) override {
        return owned ? run_ops<true>(ops) : run_ops<false>(ops);
    }

    std::uint64_t table_sum() override {
        return store_.read([&](Read& txn) {
            std::uint64_t sum = 0;
            for (const auto& g : txn.template open_tree<R>()) {
                auto v = g.view();
                table_row_hash h;
                h.key(v.template get<0>());
                [&]<std::size_t... I>(std::index_sequence<I...>) {
                    (h.add(v.template get<I + 1>()), ...);
                }(std::make_index_sequence<field_count<R>>{});
                sum += mix(h.h);
            }
            return sum;
        });
    }

    std::optional<std::uint64_t> lmdb_bytes() override {
        return store_.read([&](Read& txn) {
            std::uint64_t h = 0, n = 0;
            for (const auto& g : txn.template open_tree<R>()) {
                auto k = g.key_bytes();
                auto v = g.bytes();
                h = bytes_hash(h, k.data(), k.size());
                h = bytes_hash(h, v.data(), v.size());
                ++n;
            }
            return h ^ mix(n);
        });
    }

    void copy_to(const std::filesystem::path& to) override {
        std::filesystem::copy_file(dir_ / "data.mdb", to / "data.mdb");
    }

private:
    auto key(std::uint32_t keynum) const {
        if constexpr (std::is_same_v<R, UserRow>)
            return std::string_view(rows_[keynum].key);
        else
            return rows_[keynum].key;
    }

    template <bool Owned>
    std::uint64_t run_ops(std::span<const op> ops) {
        std::uint64_t sum = 0;
        for (const op& o : ops) {
            switch (o.kind) {
                case op_kind::read:
                    sum += store_.read([&](Read& txn) -> std::uint64_t {
                        auto g = txn.template open_tree<R>().get(key(o.keynum));
                        if (!g) missing(o.keynum);
                        if constexpr (Owned)
                            return sum_owned(g->value());
                        else
                            return sum_view(g->view());
                    });
                    break;
                case op_kind::update:
                    store_.write([&](Write& txn) {
                        const std::string& nv = values_[o.value];
                        if (!txn.template open_tree<R>().update(key(o.keynum), [&](R& r) { field(r, o.field) = nv; }))
                            missing(o.keynum);
                    });
                    ++sum;
                    break;
                case op_kind::insert:
                    store_.write([&](Write& txn) { txn.template open_tree<R>().put(rows_[o.keynum]); });
                    ++sum;
                    break;
                case op_kind::scan:
                    sum += store_.read([&](Read& txn) -> std::uint64_t {
                        std::uint64_t s = 0;
                        std::size_t left = o.len;
                        for (const auto& g : txn.template open_tree<R>().from(key(o.keynum))) {
                            if constexpr (Owned)
                                s += sum_owned(g.value());
                            else
                                s += sum_view(g.view());
                            if (--left == 0) break;
                        }
                        return s;
                    });
                    break;
                case op_kind::rmw:
                    // Read the whole row and write one field, in one write transaction: update()
                    // hands fn the decoded row, so the read is an owned one in both modes.
                    sum += store_.write([&](Write& txn) -> std::uint64_t {
                        std::uint64_t s = 0;
                        const std::string& nv = values_[o.value];
                        if (!txn.template open_tree<R>().update(key(o.keynum), [&](R& r) {
                                s = sum_owned(r);
                                field(r, o.field) = nv;
                            }))
                            missing(o.keynum);
                        return s + 1;
                    });
                    break;
            }
        }
        return sum;
    }

    std::filesystem::path dir_;
    netabase::Store<Schema> store_;
    const std::vector<R>& rows_;
    const std::vector<std::string>& values_;
};

}  // namespace

std::unique_ptr<Engine> make_netabase(shape s, const std::filesystem::path& dir, sync_mode m, const Data& d) {
    if (s == shape::str10) return std::make_unique<netabase_engine<UserRow>>(dir, m, d);
    return std::make_unique<netabase_engine<UserInt>>(dir, m, d);
}

}  // namespace bench::ycsb
