// Upgrading a table whose stored rows are at an older version of its model (or lack fields
// appended since): every row is run through the upgrade steps into a new database, the new
// database's indexes are built, and one last transaction swaps it in for the old one.
//
// The old rows are never touched until that swap, so a step that throws, a row that does not
// decode or a unique key that two upgraded rows share leaves the store as it was. The work goes
// in batches of about options::upgrade_batch_bytes, each its own transaction, so a table too
// large for one LMDB transaction (MDB_TXN_FULL) still upgrades; the metadata records how far it
// got ("upgrade:<table>"), so a process killed part way leaves a store that the next open
// finishes. Programs with the old model see the schema change at their next transaction.
#pragma once

#include "netabase/detail/buffer.hpp"
#include "netabase/detail/changes.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/schema.hpp"
#include "netabase/error.hpp"

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netabase::detail {

// How far an upgrade got, as stored under "upgrade:<table>".
struct upgrade_marker {
    std::string db;        // the new rows' database
    std::size_t phase = 0; // 0: rows; i + 1: index i; then the swap
    std::string after;     // the last key done in this phase (empty: none yet)
    std::string target;    // the fingerprint the table gets (without db): which upgrade this is

    [[gnu::cold]] std::string serialize() const {
        std::string s = "netabase-upgrade/1\ndb=" + db + "\nphase=" + std::to_string(phase) + "\nafter=";
        append_hex(s, after, after.size());
        return s + "\ntarget:\n" + target;
    }

    [[gnu::cold]] static upgrade_marker parse(std::string_view s) {
        upgrade_marker m;
        auto t = s.find("\ntarget:\n");
        if (t != std::string_view::npos) m.target = s.substr(t + 9);
        for_each_line(s.substr(0, t), [&](std::string_view line) {
            if (line.starts_with("db=")) {
                m.db = line.substr(3);
            } else if (line.starts_with("phase=")) {
                m.phase = fingerprint::parse_number(line.substr(6));
            } else if (line.starts_with("after=")) {
                auto h = line.substr(6);
                auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
                for (std::size_t i = 0; i + 1 < h.size(); i += 2)
                    m.after += static_cast<char>(nibble(h[i]) * 16 + nibble(h[i + 1]));
            }
        });
        return m;
    }
};

class table_upgrade {
public:
    table_upgrade(environment& env, const upgrade_plan& plan, std::size_t batch_bytes)
        : env_(env), p_(plan), s_(*plan.schema), batch_(batch_bytes ? batch_bytes : std::size_t{64} << 20) {
        fingerprint t = plan.target;
        t.db.clear();
        target_ = t.serialize();
        marker_key_ = "upgrade:" + p_.table;
    }

    // Runs the upgrade to its end. Returns when the table is swapped in, or when another
    // process has taken the upgrade over (the caller opens the tables again either way).
    [[gnu::cold, gnu::noinline]] void run() {
        if (!p_.rewrite) {
            abandon_foreign();
            return;
        }
        if (!start()) return;
        for (;;) {
            int step = batch();
            if (step < 0) return;  // another process finished it or started another
            if (step == 0) break;
        }
        swap();
    }

private:
    MDB_dbi meta(MDB_txn* t) { return open_named_db(env_, t, meta_name, false, true, p_.table); }

    std::optional<upgrade_marker> read_marker(MDB_txn* t, MDB_dbi m) {
        auto raw = meta_get(t, m, marker_key_, p_.table);
        if (!raw) return std::nullopt;
        return upgrade_marker::parse(*raw);
    }

    // The ids of the indexes a marker's target fingerprint declares.
    static std::vector<std::string> index_ids(const std::string& target) {
        std::vector<std::string> ids;
        for (const auto& line : fingerprint::parse(target).indexes) ids.push_back(index_id(line));
        return ids;
    }

    // Deletes the databases that exist among `names`.
    void drop_databases(MDB_txn* t, const std::vector<std::string>& names) {
        for (const auto& name : names) drop_database(env_, t, name, p_.table);
    }

    // Drops a (possibly partial) new database and its indexes.
    void drop_staging(MDB_txn* t, const upgrade_marker& m) {
        std::vector<std::string> names{m.db};
        for (const auto& id : index_ids(m.target)) names.push_back(m.db + "/" + id);
        drop_databases(t, names);
    }

    // One transaction's work: returns what the caller of attempt() needs to know.
    using work = int (table_upgrade::*)(MDB_txn*, schema_change&);

    // Runs (this->*fn)(txn, change) in a write transaction and commits it (work that found
    // nothing to do wrote nothing), growing the map when it is full and halving the batch when
    // the transaction is. Not a template: the upgrade's code is compiled once per program.
    int attempt(work fn) {
        for (;;) {
            std::size_t size = env_.map_size();
            schema_change change(env_);
            struct settle {  // after the transaction ended, however it ended
                schema_change& c;
                ~settle() { c.done(); }
            } settled{change};
            try {
                write_scope t(env_);
                int result = (this->*fn)(t.get(), change);
                int rc = t.commit();
                change.done();
                if (rc == MDB_MAP_FULL) {
                    env_.resize(size * 2);
                    continue;
                }
                if (rc) throw_lmdb(rc, "cannot commit an upgrade transaction", p_.table);
                return result;
            } catch (const error& e) {
                change.done();
                if (e.code() == errc::map_full) {
                    env_.resize(size * 2);
                    continue;
                }
                if (e.code().category() == lmdb_category() && e.code().value() == MDB_TXN_FULL && batch_ > 4096) {
                    batch_ /= 2;  // the batch was too large for one transaction
                    continue;
                }
                throw;
            }
        }
    }

    // Starts the upgrade, or resumes the one the metadata records. false: the table changed
    // since it was planned (open again).
    bool start() { return attempt(&table_upgrade::start_work) != 0; }

    int start_work(MDB_txn* t, schema_change& change) {
        MDB_dbi m = meta(t);
        if (meta_get(t, m, p_.stored_key, p_.table) != p_.stored_raw) return 0;
        auto marker = read_marker(t, m);
        if (marker && marker->target == target_) return 1;  // resume where it stopped
        change.mark(t, m);
        if (marker) drop_staging(t, *marker);  // another program's unfinished upgrade
        upgrade_marker fresh;
        fresh.db = std::string(meta_name) + "~" + p_.table + "~" + std::to_string(meta_generation(t, m));
        fresh.target = target_;
        meta_put(t, m, marker_key_, fresh.serialize(), p_.table);
        return 1;
    }

    // One batch of the current phase. 1: more to do; 0: ready to swap; -1: not ours any more.
    int batch() {
        try {
            return attempt(&table_upgrade::batch_work);
        } catch (const error& e) {
            abandon();
            throw error(e.code(), "cannot upgrade table '" + p_.table + "' from version " +
                                      std::to_string(p_.stored.version) + " to " + std::to_string(p_.target.version) +
                                      ": " + e.description() + "; the store was left as it was",
                        p_.table, e.index());
        } catch (...) {
            abandon();
            throw;
        }
    }

    int batch_work(MDB_txn* t, schema_change&) {
        MDB_dbi m = meta(t);
        auto marker = read_marker(t, m);
        if (!marker || marker->target != target_) return -1;
        if (meta_get(t, m, p_.stored_key, p_.table) != p_.stored_raw) return -1;
        if (marker->phase > s_.index_count) return 0;
        bool done = marker->phase == 0 ? copy_rows(t, *marker) : fill_index(t, *marker);
        if (done) {
            ++marker->phase;
            marker->after.clear();
        }
        meta_put(t, m, marker_key_, marker->serialize(), p_.table);
        return marker->phase > s_.index_count ? 0 : 1;
    }

    // After a failure: the new rows go, the old ones were never touched.
    void abandon() noexcept {
        try {
            drop_any_ = false;
            attempt(&table_upgrade::drop_work);
        } catch (...) {
            // The marker stays: the next open drops the new rows and starts again.
        }
    }

    // An unfinished upgrade to another target that a killed program left: its new rows go.
    void abandon_foreign() {
        drop_any_ = true;
        attempt(&table_upgrade::drop_work);
    }

    int drop_work(MDB_txn* t, schema_change& change) {
        MDB_dbi m = meta(t);
        auto marker = read_marker(t, m);
        if (!marker || (!drop_any_ && marker->target != target_)) return 0;
        change.mark(t, m);
        drop_staging(t, *marker);
        meta_erase(t, m, marker_key_, p_.table);
        return 1;
    }

    // Positions c strictly after `after` (at the first entry when it is empty).
    static bool first_after(cursor& c, const std::string& after, MDB_val& k, MDB_val& v) {
        if (after.empty()) return c.move(k, v, MDB_FIRST);
        k = MDB_val{after.size(), const_cast<char*>(after.data())};
        if (!c.move(k, v, MDB_SET_RANGE)) return false;
        if (to_span(k).size() == after.size() && std::memcmp(k.mv_data, after.data(), after.size()) == 0)
            return c.move(k, v, MDB_NEXT);
        return true;
    }

    // A stored row's key for a message: s_ decodes keys of the new key type only.
    std::string old_key(const MDB_val& k) const {
        if (p_.stored.primary == p_.target.primary) return s_.describe_pk(to_span(k));
        std::string s = "0x";  // the key's type changed in this upgrade: its stored bytes
        append_hex(s, static_cast<const char*>(k.mv_data), k.mv_size);
        return s;
    }

    // Phase 0: old rows through the steps into the new database. true when all are done.
    bool copy_rows(MDB_txn* t, upgrade_marker& marker) {
        MDB_dbi from = open_named_db(env_, t, p_.stored.db, false, false, p_.table);
        MDB_dbi to = open_named_db(env_, t, marker.db, false, true, p_.table);
        // Ascending old keys give ascending new keys when the key did not change: LMDB's
        // append path. A step that changes keys may reorder them.
        const unsigned flags = p_.stored.primary == p_.target.primary ? MDB_APPEND : MDB_NOOVERWRITE;
        cursor c(t, from);
        MDB_val k, v;
        buffer row, pk;
        std::size_t bytes = 0;
        for (bool ok = first_after(c, marker.after, k, v); ok; ok = c.move(k, v, MDB_NEXT)) {
            try {
                s_.upgrade_row(p_.stored.version, p_.stored_fields, to_span(v), row, pk, env_.checksum());
            } catch (const error& e) {
                throw error(e.code(), "the row with key " + old_key(k) + ": " + e.description(),
                            p_.table);
            }
            if (pk.size() > env_.max_key_size())
                throw error(errc::key_too_large,
                            "the row with key " + old_key(k) + " gets a primary key over LMDB's limit",
                            p_.table);
            MDB_val nk = to_val(pk.span()), nv = to_val(row.span());
            int rc = mdb::put(t, to, &nk, &nv, flags);
            if (rc == MDB_KEYEXIST)
                throw error(errc::key_exists,
                            "two stored rows become rows with the same primary key " + s_.describe_pk(pk.span()), p_.table);
            if (rc) throw_lmdb(rc, "cannot write an upgraded row", p_.table);
            bytes += pk.size() + row.size();
            if (bytes >= batch_) {
                marker.after.assign(static_cast<const char*>(k.mv_data), k.mv_size);
                return false;
            }
        }
        return true;
    }

    // Phase i + 1: index i of the new rows. true when all rows are done.
    bool fill_index(MDB_txn* t, upgrade_marker& marker) {
        const std::size_t i = marker.phase - 1;
        const index_schema& is = s_.indexes[i];
        std::string name = p_.table + "/" + std::string(is.id);
        MDB_dbi rows = open_named_db(env_, t, marker.db, false, false, p_.table);
        MDB_dbi ix = open_named_db(env_, t, marker.db + "/" + std::string(is.id), !is.unique, true, p_.table);
        cursor c(t, rows);
        MDB_val k, v;
        erased_row row(s_);
        buffer sk;
        index_filler filler{&env_, t, &p_.table, &name, ix, is.unique, {}};
        const key_sink sink{&index_filler::add, &filler};
        for (bool ok = first_after(c, marker.after, k, v); ok; ok = c.move(k, v, MDB_NEXT)) {
            s_.decode_row(to_span(v), row.get());
            filler.pk = k;
            s_.row_keys(row.get(), i, sk, sink);
            if (filler.bytes >= batch_) {
                marker.after.assign(static_cast<const char*>(k.mv_data), k.mv_size);
                return false;
            }
        }
        return true;
    }

    // The new rows become the table's: its metadata names them, the old database and its
    // indexes are dropped.
    void swap() { attempt(&table_upgrade::swap_work); }

    int swap_work(MDB_txn* t, schema_change& change) {
        MDB_dbi m = meta(t);
        auto marker = read_marker(t, m);
        if (!marker || marker->target != target_ || marker->phase <= s_.index_count) return 0;
        if (meta_get(t, m, p_.stored_key, p_.table) != p_.stored_raw) return 0;
        change.mark(t, m);
        fingerprint now = p_.target;
        now.db = marker->db;
        meta_put(t, m, "table:" + p_.table, now.serialize(), p_.table);
        if (p_.stored_key != "table:" + p_.table) {
            fingerprint tomb;
            tomb.renamed_to = p_.table;
            meta_put(t, m, p_.stored_key, tomb.serialize(), p_.table);
        }
        if (!p_.stored.db.empty()) {
            std::vector<std::string> names{p_.stored.db};
            for (const auto& line : p_.stored.indexes) names.push_back(p_.stored.db + "/" + index_id(line));
            drop_databases(t, names);
        }
        log_rewrite(t, m, marker->db);
        meta_erase(t, m, marker_key_, p_.table);
        return 1;
    }

    // A store with a change log: every row the upgrade rewrote is an update in it.
    void log_rewrite(MDB_txn* t, MDB_dbi m, const std::string& db) {
        MDB_dbi log = open_named_db(env_, t, log_name, false, false, p_.table, true);
        if (log == 0) return;
        change_batch b;
        cursor c(t, open_named_db(env_, t, db, false, false, p_.table));
        MDB_val k, v;
        for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT))
            b.add(&p_.table, change_kind::update, to_span(k), nullptr, nullptr);
        append_to_log(t, log, m, b);
    }

    environment& env_;
    const upgrade_plan& p_;
    const table_schema& s_;
    std::size_t batch_;
    std::string target_;
    std::string marker_key_;
    bool drop_any_ = false;  // drop_work: any marker, or only this upgrade's
};

}  // namespace netabase::detail
