// Store, read, index and remove a few users and posts.
#include <netabase/netabase.hpp>

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

struct User {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t age;
};

// Keys are declared beside the model, found by argument-dependent lookup.
constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age);
}

struct Post {  // no declaration: the first field is the primary key
    std::uint64_t id;
    std::uint64_t author;
    std::string body;
    std::vector<std::string> tags;
};

using Schema = netabase::definition<User, Post>;

int main() {
    auto store = netabase::Store<Schema>::temporary();

    store.write([](netabase::WriteTransaction<Schema>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{1, "alice@example.com", "Alice", 30});
        users.put(User{2, "bob@example.com", "Bob", 25});
        users.put(User{3, "carol@example.com", "Carol", 30});
        txn.open_tree<Post>().put(Post{7, 1, "hello", {"intro"}});
    });

    store.read([](netabase::ReadTransaction<Schema>& txn) {
        auto users = txn.open_tree<User>();
        std::cout << "users: " << users.size() << "\n";
        if (auto alice = users.get(1)) std::cout << "get(1): " << alice->value().name << "\n";
        if (auto bob = users.index(&User::email).get("bob@example.com"))
            std::cout << "by email: " << bob->value().name << "\n";
        std::cout << "aged 30:";
        for (const auto& row : users.index(&User::age).equal_range(30)) std::cout << " " << row.value().name;
        std::cout << "\n";
        for (const auto& row : users) std::cout << row.key() << " " << row.value().email << "\n";
    });

    {
        auto txn = store.begin_write();
        auto users = txn.open_tree<User>();
        users.update(2, [](User& u) { u.age += 1; });
        users.remove(3);
        txn.commit();
    }

    auto n = store.read(
        [](netabase::ReadTransaction<Schema>& txn) { return txn.open_tree<User>().index(&User::age).count(30); });
    std::cout << "aged 30 after remove: " << n << "\n";
}
