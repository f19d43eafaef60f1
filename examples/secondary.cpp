// Secondary keys: a unique key, non-unique keys and a composite key; lookups, counts,
// ranges, prefixes and reverse order on each.
#include <netabase/netabase.hpp>

#include <cstdint>
#include <iostream>
#include <ranges>
#include <string>
#include <tuple>

struct Book {
    std::uint64_t id;
    std::string slug;  // unique
    std::string author;
    std::uint16_t year;
    std::string title;
};

// A composite key: rows by author, then year.
constexpr auto by_author_year = netabase::key<Book>("by_author_year", [](const Book& b) {
    return std::tuple{b.author, b.year};
});

constexpr auto netabase_model(netabase::tag<Book>) {
    return netabase::model<Book>("books")
        .primary_key(&Book::id)
        .secondary_key(&Book::slug, netabase::unique)
        .secondary_key(&Book::author)
        .secondary_key(&Book::year)
        .secondary_key(by_author_year);
}

using Schema = netabase::definition<Book>;

template <class Rows>
void print(const char* what, Rows&& rows) {  // not const: a filtered view is iterated mutably
    std::cout << what << ":";
    for (const auto& row : rows) {
        auto book = row.view();  // read in place, no copy
        std::cout << " " << book.template get<&Book::title>() << " (" << book.template get<&Book::year>() << ")";
    }
    std::cout << "\n";
}

int main() {
    auto store = netabase::Store<Schema>::temporary();

    store.write([](netabase::WriteTransaction<Schema>& txn) {
        auto books = txn.open_tree<Book>();
        books.put(Book{1, "dune", "Frank Herbert", 1965, "Dune"});
        books.put(Book{2, "foundation", "Isaac Asimov", 1951, "Foundation"});
        books.put(Book{3, "foundation-and-empire", "Isaac Asimov", 1952, "Foundation and Empire"});
        books.put(Book{4, "second-foundation", "Isaac Asimov", 1953, "Second Foundation"});
        books.put(Book{5, "i-robot", "Isaac Asimov", 1950, "I, Robot"});
        books.put(Book{6, "left-hand", "Ursula K. Le Guin", 1969, "The Left Hand of Darkness"});
        books.put(Book{7, "dune-messiah", "Frank Herbert", 1969, "Dune Messiah"});
        books.put(Book{8, "dispossessed", "Ursula K. Le Guin", 1974, "The Dispossessed"});

        // A unique key that belongs to another row: the put throws and writes nothing, and the
        // transaction goes on.
        try {
            books.put(Book{9, "dune", "Someone Else", 2000, "Not Dune"});
        } catch (const netabase::error& e) {
            std::cout << "put slug 'dune' again: "
                      << (e.code() == netabase::errc::unique_violation ? "unique violation" : "?") << ", "
                      << books.size() << " books still\n";
        }
    });

    {
        auto txn = store.begin_read();  // guards, views and rows below live until txn ends
        auto books = txn.open_tree<Book>();

        // Unique key: at most one row.
        auto by_slug = books.index(&Book::slug);
        if (auto dune = by_slug.get("dune")) std::cout << "slug dune: " << dune->value().title << "\n";
        std::cout << "slug neuromancer: " << (by_slug.get("neuromancer") ? "found" : "not found") << "\n";

        // Non-unique key: any number of rows, in primary-key order.
        auto by_author = books.index(&Book::author);
        std::cout << "books by Isaac Asimov: " << by_author.count("Isaac Asimov") << "\n";
        print("  equal_range", by_author.equal_range("Isaac Asimov"));
        std::cout << "  primary keys of Frank Herbert's:";
        for (auto id : books.get_by_secondary_key(&Book::author, "Frank Herbert")) std::cout << " " << id;
        std::cout << "\n";

        // Ranges on a key: [lo, hi), from, until; rows in key order, then primary-key order.
        auto by_year = books.index(&Book::year);
        print("1950 to 1959", by_year.range(1950, 1960));
        print("1969 and later", by_year.from(1969));
        print("before 1952", by_year.until(1952));
        print("1950s, newest first", by_year.range(1950, 1960).reverse());
        std::cout << "oldest: " << by_year.first()->value().title << ", newest: " << by_year.last()->value().title
                  << "\n";

        // Prefixes: of a string key, and the leading fields of a composite key.
        print("authors starting with U", by_author.prefix("U"));
        auto by_ay = books.index(by_author_year);
        print("Asimov by year", by_ay.prefix(std::string("Isaac Asimov")));
        print("Asimov by year, newest first", by_ay.prefix(std::string("Isaac Asimov")).reverse());
        print("Herbert in 1969", by_ay.equal_range({"Frank Herbert", 1969}));

        // Rows are C++20 ranges: views compose with them.
        auto recent = by_year.reverse() | std::views::filter([](const auto& row) {
                          return row.view().template get<&Book::author>() != "Frank Herbert";
                      }) |
                      std::views::take(2);
        print("two newest not by Herbert", recent);
    }

    // Indexes follow every write: an update moves the row's entries, a remove drops them.
    store.write([](netabase::WriteTransaction<Schema>& txn) {
        auto books = txn.open_tree<Book>();
        books.update(5, [](Book& b) { b.author = "I. Asimov"; });
        books.remove(1);
    });
    store.read([](netabase::ReadTransaction<Schema>& txn) {
        auto books = txn.open_tree<Book>();
        std::cout << "after update and remove: " << books.index(&Book::author).count("Isaac Asimov")
                  << " by Isaac Asimov, " << books.index(&Book::author).count("I. Asimov") << " by I. Asimov, "
                  << (books.index(&Book::slug).get("dune") ? "dune still there" : "no dune") << "\n";
    });
}
