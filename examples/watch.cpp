// Watching changes: a watcher per table or per index value, and the durable change log that
// other processes (and a later run) can read.
#include <netabase/netabase.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <thread>

struct Order {
    std::uint64_t id;
    std::string customer;
    std::uint32_t cents;
};

constexpr auto netabase_model(netabase::tag<Order>) {
    return netabase::model<Order>("orders").secondary_key(&Order::customer);
}

using Schema = netabase::definition<Order>;

const char* kind_name(netabase::change_kind k) {
    switch (k) {
        case netabase::change_kind::insert: return "insert";
        case netabase::change_kind::update: return "update";
        case netabase::change_kind::remove: return "remove";
    }
    return "?";
}

int main() {
    netabase::Store<Schema> store{"data/shop", netabase::options{.change_log = true}};
    auto all = store.watch<Order>();                              // every change to orders
    auto bob = store.watch<Order>(&Order::customer, "bob");       // only bob's orders

    std::thread writer([&] {
        store.write([](auto& txn) {
            auto orders = txn.template open_tree<Order>();
            orders.put(Order{1, "alice", 1200});
            orders.put(Order{2, "bob", 800});
        });
        store.write([](auto& txn) {
            auto orders = txn.template open_tree<Order>();
            orders.update(2, [](Order& o) { o.cents += 100; });
            orders.remove(1);
        });
    });

    for (int i = 0; i < 4; ++i) {
        auto c = all.next(std::chrono::seconds(10));  // waits for the writer's commits
        if (!c) break;
        std::cout << "all: #" << c->sequence << " " << kind_name(c->kind) << " order " << c->key;
        if (c->row) std::cout << " (" << c->row->customer << ", " << c->row->cents << " cents)";
        std::cout << "\n";
    }
    writer.join();
    while (auto c = bob.try_next()) std::cout << "bob: #" << c->sequence << " " << kind_name(c->kind) << "\n";

    // The log keeps the same changes durably, for a program that starts later or elsewhere.
    auto txn = store.begin_read();
    for (const auto& e : txn.changes_since(2))
        std::cout << "log: #" << e.sequence << " " << e.table << " " << kind_name(e.kind) << " " << e.key<Order>()
                  << "\n";
    txn.abort();
    std::cout << "trimmed " << store.trim_changes(3) << " log entries\n";
}
