// Changing your models: release 1 of a program stores users with a birth year; release 2
// replaces it with an age (an upgrade_from step) and appends a country (no step needed);
// release 3 renames the table. Each release opens the same store directory.
#include <netabase/netabase.hpp>

#include <cstdint>
#include <iostream>
#include <string>

namespace release1 {

struct User {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint16_t birth_year;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users").primary_key(&User::id).secondary_key(&User::email, netabase::unique);
}

}  // namespace release1

namespace release2 {

// What release 1 stored stays in the program, unchanged, as the description of old rows.
using UserV1 = release1::User;

struct User {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t age;                // replaces birth_year: needs a step
    std::string country = "unknown";  // appended: old rows get the default
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .upgrade_from<UserV1>([](UserV1 old) {
            return User{old.id, std::move(old.email), std::move(old.name), 2026u - old.birth_year};
        })
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age);
}

}  // namespace release2

namespace release3 {

struct Account {  // release 2's User, kept under a new table name
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t age;
    std::string country = "unknown";
};

constexpr auto netabase_model(netabase::tag<Account>) {
    return netabase::model<Account>("accounts")
        .renamed_from("users")
        .upgrade_from<release1::User>([](release1::User old) {  // a store still at release 1
            return Account{old.id, std::move(old.email), std::move(old.name), 2026u - old.birth_year};
        })
        .primary_key(&Account::id)
        .secondary_key(&Account::email, netabase::unique)
        .secondary_key(&Account::age);
}

}  // namespace release3

int main() {
    {
        netabase::Store<netabase::definition<release1::User>> v1{"data/app"};
        v1.write([](auto& txn) {
            auto users = txn.template open_tree<release1::User>();
            users.put(release1::User{1, "alice@example.com", "Alice", 1996});
            users.put(release1::User{2, "bob@example.com", "Bob", 1981});
        });
    }
    {
        // The first open of release 2 runs the step on every row and builds the new index.
        netabase::Store<netabase::definition<release2::User>> v2{"data/app"};
        v2.read([](auto& txn) {
            auto users = txn.template open_tree<release2::User>();
            for (const auto& row : users) {
                release2::User u = row.value();
                std::cout << u.id << " " << u.name << " age " << u.age << " from " << u.country << "\n";
            }
            std::cout << "aged 30: " << users.index(&release2::User::age).count(30) << "\n";
        });
    }
    try {
        netabase::Store<netabase::definition<release1::User>> old{"data/app"};
    } catch (const netabase::error& e) {  // release 1 must not misread release 2's rows
        std::cout << "release 1 refused: " << (e.code() == netabase::errc::schema_mismatch ? "schema_mismatch" : "?")
                  << " in table " << e.table() << "\n";
    }
    {
        netabase::Store<netabase::definition<release3::Account>> v3{"data/app"};
        std::cout << "accounts: " << v3.read([](auto& txn) { return txn.template open_tree<release3::Account>().size(); })
                  << "\n";
    }
}
