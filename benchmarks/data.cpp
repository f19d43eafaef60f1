// The generated data: deterministic for a given size, the same for every engine.
#include "common.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <random>

namespace bench {
namespace {

std::string text(std::mt19937_64& rng, std::size_t len) {
    static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
    std::string s(len, ' ');
    for (auto& c : s) c = alphabet[rng() % (sizeof alphabet - 1)];
    return s;
}

std::size_t uniform(std::mt19937_64& rng, std::size_t lo, std::size_t hi) {  // [lo, hi]
    return lo + rng() % (hi - lo + 1);
}

// YCSB's Zipfian generator (Gray et al.), theta 0.99, ranks scrambled over the key space so
// the hot keys are spread out rather than the smallest ones.
class zipfian {
public:
    zipfian(std::size_t n, double theta) : n_(n), theta_(theta) {
        for (std::size_t i = 1; i <= n; ++i) zetan_ += 1.0 / std::pow(double(i), theta);
        double zeta2 = 1.0 + 1.0 / std::pow(2.0, theta);
        alpha_ = 1.0 / (1.0 - theta);
        eta_ = (1.0 - std::pow(2.0 / double(n), 1.0 - theta)) / (1.0 - zeta2 / zetan_);
    }
    std::size_t next(std::mt19937_64& rng) {
        double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        double uz = u * zetan_;
        std::size_t rank;
        if (uz < 1.0)
            rank = 0;
        else if (uz < 1.0 + std::pow(0.5, theta_))
            rank = 1;
        else
            rank = static_cast<std::size_t>(double(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
        if (rank >= n_) rank = n_ - 1;
        return mix(rank) % n_;
    }

private:
    std::size_t n_;
    double theta_, zetan_ = 0, alpha_ = 0, eta_ = 0;
};

void generate(Dataset& d, std::size_t n) {
    std::mt19937_64 rng(20240601 + n);
    d.n = n;

    // Category: 1000 values with log-uniform weights over [1, 2e4], so that some categories
    // hold ~10 rows and some ~1000 at 100k and 1M rows (a uniform spread would give n/1000).
    std::vector<double> cumulative(1000);
    double total = 0;
    for (int c = 0; c < 1000; ++c) {
        total += std::exp(std::log(2e4) * c / 999.0);
        cumulative[c] = total;
    }
    auto category = [&] {
        double x = std::uniform_real_distribution<double>(0.0, total)(rng);
        auto it = std::lower_bound(cumulative.begin(), cumulative.end(), x);
        // A fixed scramble so category order and size are unrelated.
        auto c = static_cast<std::uint32_t>(std::min<std::ptrdiff_t>(it - cumulative.begin(), 999));
        return static_cast<std::uint32_t>((c * 617u) % 1000u);
    };

    d.rows.resize(n);
    d.docs.resize(n);
    std::vector<std::size_t> per_category(1000);
    for (std::size_t i = 0; i < n; ++i) {
        Row& r = d.rows[i];
        r.id = 2 * (i + 1);
        r.category = category();
        r.code = static_cast<std::uint32_t>(rng());
        r.score = std::uniform_real_distribution<double>(0.0, 1000.0)(rng);
        r.name = text(rng, uniform(rng, 56, 64));
        ++per_category[r.category];

        Doc& doc = d.docs[i];
        doc.id = r.id;
        doc.category = r.category;
        doc.code = r.code;
        doc.score = r.score;
        doc.title = text(rng, uniform(rng, 8, 120));
        doc.tags.resize(uniform(rng, 0, 16));
        for (auto& t : doc.tags) t = static_cast<std::uint32_t>(rng() % 5000);
        doc.body = text(rng, uniform(rng, 20, 600));
    }

    std::size_t extra = std::max<std::size_t>(n, 100'000);  // batch writes insert 100 x 1000
    d.extra.resize(extra);
    for (std::size_t i = 0; i < extra; ++i) {
        Row& r = d.extra[i];
        r.id = 2 * (rng() % (extra + n)) + 1;  // odd: never an existing key; repeats are upserts
        r.category = category();
        r.code = static_cast<std::uint32_t>(rng());
        r.score = std::uniform_real_distribution<double>(0.0, 1000.0)(rng);
        r.name = text(rng, uniform(rng, 56, 64));
    }

    d.seq.resize(n);
    std::iota(d.seq.begin(), d.seq.end(), 0u);
    d.shuffled = d.seq;
    std::shuffle(d.shuffled.begin(), d.shuffled.end(), rng);

    constexpr std::size_t lookups = 10'000;
    zipfian z(n, 0.99);
    for (std::size_t i = 0; i < lookups; ++i) {
        d.uniform_hits.push_back(d.rows[rng() % n].id);
        d.zipf_hits.push_back(d.rows[z.next(rng)].id);
        d.misses.push_back(2 * (rng() % n) + 1);  // odd keys inside the key range
        d.code_lookups.push_back(d.rows[rng() % n].code);
    }
    std::size_t ranges = 10'000;
    for (std::size_t i = 0; i < ranges; ++i)
        d.range_starts.push_back(2 * (1 + rng() % (n > Dataset::range_rows ? n - Dataset::range_rows : 1)));

    // Categories whose size is nearest 10 and nearest 1000 (in log distance), up to 16 each.
    auto pick = [&](double target, std::vector<std::uint32_t>& out, double& avg) {
        std::vector<std::uint32_t> cats(1000);
        std::iota(cats.begin(), cats.end(), 0u);
        std::stable_sort(cats.begin(), cats.end(), [&](auto a, auto b) {
            auto dist = [&](std::uint32_t c) { return std::abs(std::log((per_category[c] + 0.5) / target)); };
            return dist(a) < dist(b);
        });
        out.assign(cats.begin(), cats.begin() + 16);
        double sum = 0;
        for (auto c : out) sum += double(per_category[c]);
        avg = sum / double(out.size());
    };
    pick(10, d.cat_small, d.cat_small_rows);
    pick(1000, d.cat_large, d.cat_large_rows);

    for (std::size_t i = 0; i < std::min<std::size_t>(n, 10'000); ++i) d.update_keys.push_back(d.rows[d.shuffled[i]].id);
    for (std::size_t i = 0; i < n / 2; ++i) d.remove_keys.push_back(d.rows[d.shuffled[i]].id);
}

}  // namespace

const Dataset& Dataset::get(std::size_t n) {
    static std::mutex mu;
    static std::map<std::size_t, std::unique_ptr<Dataset>> cache;
    std::lock_guard lock(mu);
    auto& slot = cache[n];
    if (!slot) {
        slot = std::make_unique<Dataset>();
        generate(*slot, n);
    }
    return *slot;
}

}  // namespace bench
