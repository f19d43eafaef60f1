// Loading 100,000 rows with put_many, then reading them back: one write transaction, rows
// made on the fly by a range, progress on stdout and timings on stderr (they vary from run
// to run, and the test suite compares stdout exactly).
#include <netabase/netabase.hpp>

#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <ranges>
#include <string>

struct Reading {
    std::uint64_t id;
    std::uint32_t sensor;
    double celsius;
    std::string note;
};

constexpr auto netabase_model(netabase::tag<Reading>) {
    return netabase::model<Reading>("readings").primary_key(&Reading::id).secondary_key(&Reading::sensor);
}

using Schema = netabase::definition<Reading>;

constexpr std::uint64_t total = 100'000;
constexpr std::uint64_t batch = 25'000;

Reading make_reading(std::uint64_t id) {
    return Reading{id, static_cast<std::uint32_t>(id % 100), static_cast<double>(id % 1000) / 10.0, "ok"};
}

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

int main() {
    // A bulk load need not fsync: no_sync skips it on commit, and one sync() at the end makes
    // the whole load durable.
    auto store = netabase::Store<Schema>::temporary(netabase::options{.durability = netabase::durability::no_sync});

    auto start = clock_type::now();
    // One write transaction. If the map filled up, store.write() would grow it and run this
    // lambda again from the start (so the progress lines would start again too).
    store.write([](netabase::WriteTransaction<Schema>& txn) {
        auto readings = txn.open_tree<Reading>();
        for (std::uint64_t first = 0; first < total; first += batch) {
            // Ascending keys past the table's end take LMDB's append path.
            auto rows = std::views::iota(first, first + batch) | std::views::transform(make_reading);
            readings.put_many(rows);
            std::cout << "loaded " << first + batch << " of " << total << " rows\n";
        }
    });
    store.sync();
    double load_ms = ms_since(start);
    std::cerr << "load: " << load_ms << " ms, " << static_cast<double>(total) / load_ms * 1000.0 << " rows/s\n";

    store.read([](netabase::ReadTransaction<Schema>& txn) {
        auto readings = txn.open_tree<Reading>();
        std::cout << "rows: " << readings.size() << ", first id " << readings.first()->key() << ", last id "
                  << readings.last()->key() << "\n";

        auto by_sensor = readings.index(&Reading::sensor);
        double sum = 0;
        for (const auto& row : by_sensor.equal_range(42)) sum += row.view().get<&Reading::celsius>();
        std::cout << std::fixed << std::setprecision(1);
        std::cout << "sensor 42: " << by_sensor.count(42) << " readings, mean " << sum / 1000.0 << " C\n";

        auto scan_start = clock_type::now();
        double all = 0;  // every row read in place: no allocation per row
        for (const auto& row : readings) all += row.view().get<&Reading::celsius>();
        std::cerr << "scan: " << ms_since(scan_start) << " ms\n";
        std::cout << "sum of all readings: " << all << " C\n";
    });

    auto removed = store.write([](netabase::WriteTransaction<Schema>& txn) {
        return txn.open_tree<Reading>().remove_many(std::views::iota(std::uint64_t{0}, std::uint64_t{10'000}));
    });
    auto left = store.read([](netabase::ReadTransaction<Schema>& txn) {
        auto readings = txn.open_tree<Reading>();
        return std::pair{readings.size(), readings.index(&Reading::sensor).count(42)};
    });
    std::cout << "removed " << removed << " rows; " << left.first << " left, " << left.second << " from sensor 42\n";
}
