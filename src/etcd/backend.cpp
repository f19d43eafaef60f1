// netabase::etcd, the compiled part: fetching spaces, the cursor moves over them, the
// buffered writes, and the commit Txn. See netabase/etcd.hpp and docs/SCALE-OUT.md.
#include "netabase/etcd.hpp"

#include "client.hpp"

#include <atomic>
#include <cstdio>
#include <random>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

namespace netabase::etcd_detail {

struct session {
    etcd_wire::client client;
    std::string prefix;
    std::vector<bool> dupsort;
    std::vector<std::pair<std::string, std::string>> names;  // (table, index) by space

    session(etcd_wire::options o, std::string p, std::vector<bool> d, std::vector<std::pair<std::string, std::string>> n)
        : client(std::move(o)), prefix(std::move(p)), dupsort(std::move(d)), names(std::move(n)) {}

    std::string tag(char kind, unsigned space) const {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%c%04u", kind, space);
        return prefix + buf;
    }
    std::string data_prefix(unsigned space) const { return tag('d', space) + "/"; }

    // A commit's token: unique per commit (a random session id and a counter).
    std::string token() {
        char buf[48];
        std::snprintf(buf, sizeof buf, "%016llx-%llu", static_cast<unsigned long long>(id),
                      static_cast<unsigned long long>(++commits));
        return buf;
    }
    std::uint64_t id = std::random_device{}() * 0x100000000ull ^ std::random_device{}();
    std::atomic<std::uint64_t> commits{0};
};

std::shared_ptr<session> connect(const std::vector<std::string>& endpoints, const std::string& prefix,
                                 std::chrono::milliseconds deadline, std::vector<bool> dupsort,
                                 std::vector<std::pair<std::string, std::string>> names) {
    if (endpoints.empty()) throw error(errc::invalid_argument, "netabase::etcd::options: no endpoints");
    etcd_wire::options o;
    o.endpoints = endpoints;
    o.deadline = deadline;
    o.token_prefix = prefix + "t/";  // the commit tokens live under the store's prefix too
    return std::make_shared<session>(std::move(o), prefix, std::move(dupsort), std::move(names));
}

std::pair<std::string, std::string> space_name(const session& s, unsigned space) {
    if (space < s.names.size()) return s.names[space];
    return {"space #" + std::to_string(space), {}};
}

bool is_own(const error& e) noexcept {
    return e.code().category() == lmdb_category() || e.code().category() == etcd_wire::etcd_category();
}

void core::fail(int rc, std::string_view what, std::string_view table, std::string_view index) {
    if (write) failed = true;
    detail::throw_lmdb(rc, what, table, index);
}

bool core::dupsort(unsigned space) const { return space < sess->dupsort.size() && sess->dupsort[space]; }

std::string core::etcd_key(unsigned space, std::string_view k, std::string_view v) const {
    std::string out = sess->data_prefix(space);
    out += k;
    if (dupsort(space)) out += v;
    return out;
}

space_data& core::data(unsigned space) {
    if (spaces.size() <= space) spaces.resize(space + 1);
    if (!spaces[space]) spaces[space] = std::make_unique<space_data>();
    return *spaces[space];
}

namespace {

// A Range at the transaction's revision; the first read fixes it.
etcd_wire::range_result range_at(core& t, etcd_wire::range_request r) {
    r.revision = t.revision;
    etcd_wire::range_result out = t.sess->client.range(r);
    if (t.revision == 0) t.revision = out.revision;
    return out;
}

void apply(space_data& sd, const pending_op& op, bool dup) {
    if (!dup) {
        auto it = sd.entries.find(op.key);
        if (it != sd.entries.end()) {
            sd.count -= it->second.size();
            sd.entries.erase(it);
        }
        if (op.put) {
            sd.entries[op.key].insert(op.value);
            ++sd.count;
        }
        return;
    }
    if (op.put) {
        if (sd.entries[op.key].insert(op.value).second) ++sd.count;
        return;
    }
    auto it = sd.entries.find(op.key);
    if (it == sd.entries.end()) return;
    if (it->second.erase(op.value)) --sd.count;
    if (it->second.empty()) sd.entries.erase(it);
}

}  // namespace

space_data& core::whole(unsigned space) {
    space_data& old = data(space);
    if (old.whole) return old;
    auto sd = std::make_unique<space_data>();
    sd->whole = true;
    sd->written = old.written;
    etcd_wire::range_request vr;
    vr.key = sess->tag('v', space);
    etcd_wire::range_result v = range_at(*this, vr);
    if (!v.kvs.empty()) sd->version_mod = v.kvs.front().mod_revision;
    etcd_wire::range_request dr;
    dr.key = sess->data_prefix(space);
    dr.range_end = etcd_wire::prefix_end(dr.key);
    etcd_wire::range_result d = range_at(*this, dr);
    const bool dup = dupsort(space);
    for (auto& kv : d.kvs) {
        std::string suffix = kv.key.substr(dr.key.size());
        if (dup) {
            if (kv.value.size() > suffix.size()) continue;  // not an entry of this layout
            suffix.resize(suffix.size() - kv.value.size());
        }
        sd->entries[std::move(suffix)].insert(std::move(kv.value));
        ++sd->count;
    }
    for (const auto& [k, op] : pending)  // this transaction's writes, on the snapshot
        if (op.space == space) apply(*sd, op, dup);
    dropped_spaces.push_back(std::move(spaces[space]));  // vals may still point into it
    spaces[space] = std::move(sd);
    return *spaces[space];
}

void core::know(unsigned space, space_data& sd, const std::string& key, const std::string& pk) {
    if (sd.whole) return;
    const bool dup = dupsort(space);
    std::string suffix = dup ? key + pk : key;
    if (sd.known.contains(suffix)) return;
    etcd_wire::range_request r;
    r.key = sess->data_prefix(space) + suffix;
    etcd_wire::range_result got = range_at(*this, r);
    std::int64_t mod = 0;
    if (!got.kvs.empty()) {
        mod = got.kvs.front().mod_revision;
        auto& kv = got.kvs.front();
        if (!dup || kv.value == pk) sd.entries[key].insert(std::move(kv.value));
    }
    sd.known.emplace(std::move(suffix), mod);
}

namespace {

void read_count(core& t, unsigned space, space_data& sd) {
    if (sd.count_read) return;
    etcd_wire::range_request r;
    r.key = t.sess->tag('n', space);
    etcd_wire::range_result got = range_at(t, r);
    if (!got.kvs.empty()) {
        sd.count_mod = got.kvs.front().mod_revision;
        sd.count_base = static_cast<std::size_t>(std::stoull(got.kvs.front().value));
    }
    sd.count_read = true;
}

}  // namespace

std::size_t core::entries(unsigned space) {
    space_data& sd = data(space);
    if (sd.whole) return sd.count;
    read_count(*this, space, sd);
    return static_cast<std::size_t>(static_cast<std::int64_t>(sd.count_base) + sd.delta);
}

void core::reset() noexcept {
    spaces.clear();
    pending.clear();
    savepoints.clear();
    graveyard.clear();
    value_graveyard.clear();
    dropped_spaces.clear();
    revision = 0;
}

namespace {

std::string str(const MDB_val& v) { return std::string(static_cast<const char*>(v.mv_data), v.mv_size); }

void out(MDB_val* k, MDB_val* v, const std::string& key, const std::string& value) {
    if (k) *k = MDB_val{key.size(), const_cast<char*>(key.data())};
    if (v) *v = MDB_val{value.size(), const_cast<char*>(value.data())};
}

using map_it = space_data::map::iterator;
using val_it = space_data::values::iterator;

int at(cursor_state& c, map_it it, val_it vit, MDB_val* k, MDB_val* v) {
    c.pos = cursor_state::where::at;
    c.key = it->first;
    c.value = *vit;
    out(k, v, it->first, *vit);
    return 0;
}

int at_last(cursor_state& c, map_it it, MDB_val* k, MDB_val* v) {
    return at(c, it, std::prev(it->second.end()), k, v);
}

int cursor_move(cursor_state& c, MDB_val* k, MDB_val* v, MDB_cursor_op op) {
    core& t = *c.c;
    space_data* sdp = &t.data(c.space);
    // A table's or a unique index's exact-key moves stay point reads; the rest need the order.
    if (!sdp->whole && !t.dupsort(c.space) && (op == MDB_SET || op == MDB_SET_KEY || op == MDB_GET_CURRENT)) {
        if (op == MDB_GET_CURRENT) {
            if (c.pos != cursor_state::where::at) return MDB_NOTFOUND;
            t.know(c.space, *sdp, c.key, {});
        } else {
            t.know(c.space, *sdp, str(*k), {});
        }
    } else {
        sdp = &t.whole(c.space);
    }
    space_data& sd = *sdp;
    auto& m = sd.entries;
    using W = cursor_state::where;
    auto first = [&]() -> int {
        if (m.empty()) return MDB_NOTFOUND;
        return at(c, m.begin(), m.begin()->second.begin(), k, v);
    };
    auto last = [&]() -> int {
        if (m.empty()) return MDB_NOTFOUND;
        return at_last(c, std::prev(m.end()), k, v);
    };
    switch (op) {
        case MDB_FIRST:
            return first();
        case MDB_LAST:
            return last();
        case MDB_NEXT: {
            if (c.pos == W::unset) return first();
            if (c.pos == W::eof) return MDB_NOTFOUND;
            auto it = m.find(c.key);
            map_it next;
            if (it != m.end()) {
                auto vit = it->second.upper_bound(c.value);
                if (vit != it->second.end()) return at(c, it, vit, k, v);
                next = std::next(it);
            } else {
                next = m.upper_bound(c.key);
            }
            if (next == m.end()) {
                c.pos = W::eof;
                return MDB_NOTFOUND;
            }
            return at(c, next, next->second.begin(), k, v);
        }
        case MDB_PREV: {
            if (c.pos != W::at) return last();
            auto it = m.find(c.key);
            map_it before;
            if (it != m.end()) {
                auto vit = it->second.lower_bound(c.value);
                if (vit != it->second.begin()) return at(c, it, std::prev(vit), k, v);
                before = it;
            } else {
                before = m.lower_bound(c.key);
            }
            if (before == m.begin()) return MDB_NOTFOUND;
            return at_last(c, std::prev(before), k, v);
        }
        case MDB_SET:
        case MDB_SET_KEY: {
            auto it = m.find(std::string_view(static_cast<const char*>(k->mv_data), k->mv_size));
            if (it == m.end()) {
                c.pos = W::unset;
                return MDB_NOTFOUND;
            }
            return at(c, it, it->second.begin(), k, v);
        }
        case MDB_SET_RANGE: {
            auto it = m.lower_bound(std::string_view(static_cast<const char*>(k->mv_data), k->mv_size));
            if (it == m.end()) {
                c.pos = W::eof;
                return MDB_NOTFOUND;
            }
            return at(c, it, it->second.begin(), k, v);
        }
        case MDB_GET_BOTH_RANGE: {
            auto it = m.find(std::string_view(static_cast<const char*>(k->mv_data), k->mv_size));
            if (it == m.end()) {
                c.pos = W::unset;
                return MDB_NOTFOUND;
            }
            auto vit = it->second.lower_bound(std::string_view(static_cast<const char*>(v->mv_data), v->mv_size));
            if (vit == it->second.end()) {
                c.pos = W::unset;
                return MDB_NOTFOUND;
            }
            return at(c, it, vit, k, v);
        }
        case MDB_GET_CURRENT: {
            if (c.pos != W::at) return MDB_NOTFOUND;
            auto it = m.find(c.key);
            if (it == m.end()) return MDB_NOTFOUND;
            auto vit = it->second.find(c.value);
            if (vit == it->second.end()) return MDB_NOTFOUND;
            return at(c, it, vit, k, v);
        }
        case MDB_NEXT_DUP: {
            if (c.pos != W::at) return MDB_NOTFOUND;
            auto it = m.find(c.key);
            if (it == m.end()) return MDB_NOTFOUND;
            auto vit = it->second.upper_bound(c.value);
            if (vit == it->second.end()) return MDB_NOTFOUND;
            return at(c, it, vit, k, v);
        }
        case MDB_PREV_DUP: {
            if (c.pos != W::at) return MDB_NOTFOUND;
            auto it = m.find(c.key);
            if (it == m.end()) return MDB_NOTFOUND;
            auto vit = it->second.lower_bound(c.value);
            if (vit == it->second.begin()) return MDB_NOTFOUND;
            return at(c, it, std::prev(vit), k, v);
        }
        case MDB_LAST_DUP: {
            if (c.pos != W::at) return MDB_NOTFOUND;
            auto it = m.find(c.key);
            if (it == m.end()) return MDB_NOTFOUND;
            return at_last(c, it, k, v);
        }
        case MDB_NEXT_NODUP: {
            if (c.pos == W::unset) return first();
            if (c.pos == W::eof) return MDB_NOTFOUND;
            auto it = m.upper_bound(c.key);
            if (it == m.end()) {
                c.pos = W::eof;
                return MDB_NOTFOUND;
            }
            return at(c, it, it->second.begin(), k, v);
        }
        case MDB_PREV_NODUP: {
            if (c.pos != W::at) return last();
            auto it = m.lower_bound(c.key);
            if (it == m.begin()) return MDB_NOTFOUND;
            return at_last(c, std::prev(it), k, v);
        }
        default:
            return EINVAL;
    }
}

// A put into space s; positions c (when given) on the entry written.
int put_entry(core& t, unsigned s, MDB_val* kv, MDB_val* vv, unsigned flags, cursor_state* c) {
    if (!t.write) return EACCES;
    std::string key = str(*kv), value = str(*vv);  // copies first: they may point into the space
    const bool dup = t.dupsort(s);
    space_data* sdp = &t.data(s);
    if (!sdp->whole && ((flags & MDB_APPEND) || (dup && (flags & MDB_NOOVERWRITE)))) sdp = &t.whole(s);
    space_data& sd = *sdp;
    t.know(s, sd, key, dup ? value : std::string());
    auto& m = sd.entries;
    auto it = m.find(key);
    if (it != m.end() && (flags & MDB_NOOVERWRITE)) {
        *vv = MDB_val{it->second.begin()->size(), const_cast<char*>(it->second.begin()->data())};
        return MDB_KEYEXIST;
    }
    if ((flags & MDB_APPEND) && !m.empty()) {
        auto& lastk = std::prev(m.end())->first;
        if (dup ? (key < lastk || (key == lastk && value <= *std::prev(m.rbegin()->second.end())))
                : key <= lastk)
            return MDB_KEYEXIST;
    }
    sd.written = true;
    if (!dup && it != m.end()) {  // replace the value (the old node stays alive)
        t.value_graveyard.push_back(it->second.extract(it->second.begin()));
        --sd.count;
        --sd.delta;
    }
    if (it == m.end()) it = m.emplace(key, space_data::values{}).first;
    auto [vit, added] = it->second.insert(value);
    if (added) {
        ++sd.count;
        ++sd.delta;
    }
    t.pending[t.etcd_key(s, key, value)] = pending_op{s, key, value, true};
    if (c) at(*c, it, vit, nullptr, nullptr);
    return 0;
}

int del_entry(core& t, unsigned s, const std::string& key, const std::string* value) {
    if (!t.write) return EACCES;
    const bool dup = t.dupsort(s);
    space_data* sdp = &t.data(s);
    if (!sdp->whole && dup && !value) sdp = &t.whole(s);  // every value of the key
    space_data& sd = *sdp;
    t.know(s, sd, key, dup && value ? *value : std::string());  // (a whole space: nothing to look up)
    auto& m = sd.entries;
    auto it = m.find(key);
    if (it == m.end()) return MDB_NOTFOUND;
    if (dup && value) {
        auto vit = it->second.find(*value);
        if (vit == it->second.end()) return MDB_NOTFOUND;
        t.pending[t.etcd_key(s, key, *value)] = pending_op{s, key, *value, false};
        t.value_graveyard.push_back(it->second.extract(vit));
        --sd.count;
        --sd.delta;
    } else {
        for (auto& v : it->second) t.pending[t.etcd_key(s, key, v)] = pending_op{s, key, v, false};
        sd.count -= it->second.size();
        sd.delta -= static_cast<std::int64_t>(it->second.size());
    }
    if (it->second.empty() || !(dup && value)) t.graveyard.push_back(m.extract(it));
    sd.written = true;
    return 0;
}

}  // namespace

bool cursor::move(MDB_val& k, MDB_val& v, MDB_cursor_op op) { return etcd::move(s_.get(), k, v, op); }

}  // namespace netabase::etcd_detail

namespace netabase {

using etcd_detail::core;

int etcd::get(handle t, space s, val* k, val* v) {
    std::string key = etcd_detail::str(*k);
    etcd_detail::space_data* sd = &t->data(s);
    if (t->dupsort(s))
        sd = &t->whole(s);  // the first of the key's values
    else
        t->know(s, *sd, key, {});
    auto& m = sd->entries;
    auto it = m.find(key);
    if (it == m.end()) return MDB_NOTFOUND;
    const std::string& value = *it->second.begin();
    *v = MDB_val{value.size(), const_cast<char*>(value.data())};
    return 0;
}

int etcd::put(handle t, space s, val* k, val* v, unsigned flags) { return etcd_detail::put_entry(*t, s, k, v, flags, nullptr); }

int etcd::del(handle t, space s, val* k, val* v) {
    std::string key = etcd_detail::str(*k);
    if (v) {
        std::string value = etcd_detail::str(*v);
        return etcd_detail::del_entry(*t, s, key, &value);
    }
    return etcd_detail::del_entry(*t, s, key, nullptr);
}

int etcd::drop(handle t, space s) {
    if (!t->write) return EACCES;
    etcd_detail::space_data& sd = t->whole(s);
    for (auto& [k, vs] : sd.entries)
        for (auto& v : vs) t->pending[t->etcd_key(s, k, v)] = etcd_detail::pending_op{s, k, v, false};
    auto fresh = std::make_unique<etcd_detail::space_data>();
    fresh->whole = true;
    fresh->version_mod = sd.version_mod;
    fresh->written = true;
    t->dropped_spaces.push_back(std::move(t->spaces[s]));
    t->spaces[s] = std::move(fresh);
    return 0;
}

int etcd::stat_entries(handle t, space s, std::size_t& n) {
    n = t->entries(s);
    return 0;
}

int etcd::cursor_get(raw_cursor c, val* k, val* v, cursor_op o) {
    c->c->live();
    return etcd_detail::cursor_move(*c, k, v, o);
}

int etcd::cursor_put(raw_cursor c, val* k, val* v, unsigned flags) {
    c->c->live();
    if (flags & MDB_CURRENT) flags &= ~MDB_CURRENT;  // in place: a plain overwrite of the same key
    return etcd_detail::put_entry(*c->c, c->space, k, v, flags, c);
}

int etcd::cursor_del(raw_cursor c) {
    c->c->live();
    if (c->pos != etcd_detail::cursor_state::where::at) return EINVAL;
    std::string key = c->key, value = c->value;
    return etcd_detail::del_entry(*c->c, c->space, key, c->c->dupsort(c->space) ? &value : nullptr);
}

int etcd::cursor_count(raw_cursor c, std::size_t& n) {
    n = 0;
    if (c->pos != etcd_detail::cursor_state::where::at) return EINVAL;
    auto& m = c->c->whole(c->space).entries;
    auto it = m.find(c->key);
    if (it == m.end()) return MDB_NOTFOUND;
    n = it->second.size();
    return 0;
}

bool etcd::move(raw_cursor c, val& k, val& v, cursor_op o) {
    int rc = cursor_get(c, &k, &v, o);
    if (rc == 0) return true;
    if (rc == MDB_NOTFOUND) return false;
    throw_on_cursor(rc, "cursor move", c);
}

etcd::handle etcd::begin_nested(txn& t, std::string_view) {
    t.live();
    core::savepoint sp;
    sp.spaces.resize(t.spaces.size());
    for (std::size_t i = 0; i < t.spaces.size(); ++i)
        if (t.spaces[i]) sp.spaces[i] = std::make_unique<etcd_detail::space_data>(*t.spaces[i]);
    sp.pending = t.pending;
    t.savepoints.push_back(std::move(sp));
    return &t;
}

void etcd::commit_nested(txn& t, handle, std::string_view) {
    if (!t.savepoints.empty()) t.savepoints.pop_back();
}

void etcd::abort_nested(txn& t, handle) noexcept {
    if (t.savepoints.empty()) return;
    core::savepoint& sp = t.savepoints.back();
    for (auto& s : t.spaces)
        if (s) t.dropped_spaces.push_back(std::move(s));  // guards may still point into them
    t.spaces = std::move(sp.spaces);
    t.pending = std::move(sp.pending);
    t.savepoints.pop_back();
}

void etcd::throw_error(int rc, std::string_view what, std::string_view table, std::string_view index) {
    detail::throw_lmdb(rc, what, table, index);
}

void etcd::throw_on_space(int rc, std::string_view what, handle t, space s) {
    auto [table, index] = etcd_detail::space_name(*t->sess, s);
    detail::throw_lmdb(rc, what, table, index);
}

void etcd::throw_on_cursor(int rc, std::string_view what, raw_cursor c) {
    throw_on_space(rc, what, c->c, c->space);
}

void etcd::begin(const std::shared_ptr<etcd_detail::session>& s, etcd_detail::env_t* env, txn& t, bool write) {
    t.sess = s;
    t.env = env;
    t.write = write;
    t.revision = 0;
    t.txn = &t;
    t.life.begin();
}

void etcd::end_read(txn& t) noexcept {
    if (!t.txn) return;
    t.life.end();
    t.txn = nullptr;
    t.reset();
}

void etcd::commit_core(txn& t) {
    t.live();
    if (!t.write) {
        end_read(t);
        return;
    }
    if (t.failed) {
        const bool interrupted = t.interrupted;
        end_read(t);
        throw error(errc::transaction_finished,
                    std::string("cannot commit: an earlier operation in this transaction ") +
                        (interrupted ? "was interrupted part way by an exception" : "failed in the etcd backend") +
                        ", so the transaction was aborted");
    }
    struct ender {
        txn& t;
        ~ender() { end_read(t); }
    } end{t};
    bool any = !t.pending.empty();
    for (auto& s : t.spaces) any = any || (s && s->written);
    if (!any) return;
    std::vector<etcd_wire::compare> cmps;
    std::vector<etcd_wire::op> ops;
    for (unsigned i = 0; i < t.spaces.size(); ++i) {
        if (!t.spaces[i]) continue;
        etcd_detail::space_data& sd = *t.spaces[i];
        using R = etcd_wire::compare::result;
        if (sd.whole) {  // read in order: no write to the space since the snapshot
            cmps.push_back(etcd_wire::compare::mod_revision(t.sess->tag('v', i), R::equal, sd.version_mod));
            if (sd.written) {
                ops.push_back(etcd_wire::put_op{t.sess->tag('v', i), std::to_string(t.revision), 0});
                ops.push_back(etcd_wire::put_op{t.sess->tag('n', i), std::to_string(sd.count), 0});
            }
            continue;
        }
        // Read key by key: each key as it was (absent: 0), and the count when read or changed.
        for (const auto& [suffix, mod] : sd.known)
            cmps.push_back(etcd_wire::compare::mod_revision(t.sess->data_prefix(i) + suffix, R::equal, mod));
        if (sd.delta != 0) etcd_detail::read_count(t, i, sd);
        if (sd.count_read) cmps.push_back(etcd_wire::compare::mod_revision(t.sess->tag('n', i), R::equal, sd.count_mod));
        if (sd.delta != 0)
            ops.push_back(etcd_wire::put_op{
                t.sess->tag('n', i), std::to_string(static_cast<std::int64_t>(sd.count_base) + sd.delta), 0});
        if (sd.written) ops.push_back(etcd_wire::put_op{t.sess->tag('v', i), std::to_string(t.revision), 0});
    }
    for (auto& [k, op] : t.pending) {
        if (op.put)
            ops.push_back(etcd_wire::put_op{k, op.value, 0});
        else
            ops.push_back(etcd_wire::delete_op{k, {}});
    }
    // commit_once: a reply lost in flight is settled (fenced, or found applied), never applied
    // twice; only when no member can be reached to find out does it throw unknown_outcome.
    etcd_wire::commit_result r = t.sess->client.commit_once(t.sess->token(), cmps, ops);
    if (!r.succeeded)
        throw error(errc::conflict,
                    "commit failed: another client wrote to a table or index this transaction used since revision " +
                        std::to_string(t.revision) + "; nothing was applied (store.write(fn) runs fn again)");
}

}  // namespace netabase
