// Operating a store: how big each table and index is, and a hot backup that opens as a store.
#include <netabase/netabase.hpp>

#include <cstdint>
#include <iostream>
#include <string>

struct Event {
    std::uint64_t id;
    std::uint32_t kind;
    std::string body;
};

constexpr auto netabase_model(netabase::tag<Event>) {
    return netabase::model<Event>("events").secondary_key(&Event::kind);
}

using Schema = netabase::definition<Event>;

int main() {
    netabase::Store<Schema> store{"data/app"};
    store.write([](auto& txn) {
        auto events = txn.template open_tree<Event>();
        for (std::uint64_t i = 0; i < 1000; ++i) events.put(Event{i, static_cast<std::uint32_t>(i % 5), "payload"});
    });

    netabase::store_stats s = store.stats();
    for (const auto& t : s.tables) {
        // t.bytes, t.leaf_pages, t.depth, s.used_bytes, s.free_bytes: sizes, which vary by LMDB version
        std::cout << t.name << ": " << t.entries << " rows, " << (t.bytes > 0 ? "some" : "no") << " pages\n";
        for (const auto& ix : t.indexes) std::cout << "  " << ix.name << ": " << ix.entries << " entries\n";
    }

    store.backup("backups/app", netabase::backup_options{.compact = true});  // while writers may commit
    netabase::Store<Schema> copy{"backups/app"};
    std::cout << "backup: " << copy.read([](auto& txn) { return txn.template open_tree<Event>().size(); })
              << " rows, verify " << (copy.verify().ok() ? "clean" : "FAILED") << "\n";
}
