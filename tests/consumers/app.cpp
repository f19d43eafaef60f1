// The program every consumer test builds (find_package, FetchContent, add_subdirectory, a
// plain compiler command): writes a store in a temporary directory, reopens it, reads it
// back, and prints one line that the test checks.
#include <netabase/netabase.hpp>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>

#include <unistd.h>

struct Note {
    std::uint64_t id;
    std::string author;
    std::string text;
};

constexpr auto netabase_model(netabase::tag<Note>) {
    return netabase::model<Note>("notes").primary_key(&Note::id).secondary_key(&Note::author);
}

using Schema = netabase::definition<Note>;

int main() {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("netabase-consumer-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    {
        netabase::Store<Schema> store{dir};
        store.write([](netabase::WriteTransaction<Schema>& txn) {
            auto notes = txn.open_tree<Note>();
            notes.put(Note{1, "ada", "first"});
            notes.put(Note{2, "grace", "second"});
            notes.put(Note{3, "ada", "third"});
        });
    }
    std::size_t rows = 0, by_ada = 0;
    std::string text;
    {
        netabase::Store<Schema> store{dir};  // reopened: the rows were committed to disk
        auto txn = store.begin_read();
        auto notes = txn.open_tree<Note>();
        rows = notes.size();
        by_ada = notes.index(&Note::author).count("ada");
        if (auto n = notes.get(2)) text = n->value().text;
    }
    fs::remove_all(dir);
    std::cout << "netabase consumer: " << rows << " rows, " << by_ada << " by ada, note 2 is " << text << "\n";
    return rows == 3 && by_ada == 2 && text == "second" ? 0 : 1;
}
