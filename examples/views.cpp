// Zero-copy reads: fields straight out of LMDB's memory map, and how long they live.
#include <netabase/netabase.hpp>

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

struct Address {
    std::string city;
    std::uint32_t zip;
};

struct Customer {
    std::uint64_t id;
    std::string name;
    std::vector<std::string> tags;
    std::vector<double> scores;
    Address address;
};

// One index entry per tag: a row is found under each of its tags.
constexpr auto by_tag = netabase::keys<Customer>("by_tag", [](const Customer& c) { return c.tags; });

constexpr auto netabase_model(netabase::tag<Customer>) {
    return netabase::model<Customer>("customers").primary_key(&Customer::id).secondary_key(by_tag);
}

using Schema = netabase::definition<Customer>;

int main() {
    auto store = netabase::Store<Schema>::temporary();
    store.write([](netabase::WriteTransaction<Schema>& txn) {
        auto customers = txn.open_tree<Customer>();
        customers.put(Customer{1, "Ada", {"vip", "early"}, {9.5, 7.25}, {"London", 10001}});
        customers.put(Customer{2, "Grace", {"early"}, {8.0}, {"Arlington", 22201}});
        customers.put(Customer{3, "Linus", {}, {}, {"Helsinki", 100}});
    });

    auto txn = store.begin_read();  // guards and views below live until txn ends
    auto customers = txn.open_tree<Customer>();

    auto ada = customers.get(1);
    auto view = ada->view();                                 // no allocation, no copy
    std::string_view name = view.get<&Customer::name>();     // points into the map
    auto scores = view.get<&Customer::scores>();             // sequence_view<double>
    auto city = view.get<&Customer::address>().get<&Address::city>();  // nested view
    std::cout << name << " of " << city << ": " << scores.size() << " scores, first " << scores[0] << "\n";
    std::cout << "tags:";
    for (std::string_view tag : view.get<&Customer::tags>()) std::cout << " " << tag;
    std::cout << "\n";

    std::cout << "early, highest id first:";
    for (const auto& row : customers.index(by_tag).equal_range("early").reverse())
        std::cout << " " << row.view().get<&Customer::name>();
    std::cout << "\n";

    std::cout << "ids 2 and up:";
    for (const auto& row : customers.from(2)) std::cout << " " << row.key();
    std::cout << "\n";

    Customer owned = view.to_owned();  // an owned copy outlives the transaction
    txn.commit();
    std::cout << owned.name << " has " << owned.tags.size() << " tags\n";
}
