// lossy_fs: a FUSE file system over a backing directory that loses, at a power cut, every write
// that was not made durable, and leaves the backing directory as a disk would be after power
// loss. Built for tests/test_durability.cpp.
//
//   lossy_fs [--ready-fd=FD] [--cut-file=NAME --cut-at=N [--cut-applies] [--cut-report=PATH]]
//            BACKING MOUNTPOINT [FUSE options]
//
// The model:
// - A write changes at once what every reader sees (read(2) and mmap, the page cache), but
//   reaches the backing file only when it is made durable: by fsync/fdatasync of the file (all
//   of its pending pages, whichever descriptor wrote them), or by the write itself when it is
//   synchronous (a descriptor opened with O_SYNC/O_DSYNC, or pwritev2's RWF_DSYNC; LMDB writes
//   its meta page through such a descriptor): then the pages it covered. Pages reach the backing
//   file whole (4096 bytes, as a page cache writes back), cut at the file's size.
// - Everything else (create, mkdir, unlink, rename, truncate, chmod, utimens) is applied to the
//   backing directory at once, as a journaling file system that commits metadata first.
// - A power cut is SIGKILL of this process: what is in its memory is gone, the backing directory
//   holds exactly what was durable. With --cut-at the file system cuts by itself, at the N-th
//   write or fsync request on a file named NAME (counted from the mount; writes of dirty mmap
//   pages are not counted): it writes one line to --cut-report (what the request was, whether
//   it was applied, how many pages of that file were pending), SIGKILLs the process that made
//   the request, and exits with status 3 without answering it. The request is dropped, or with
//   --cut-applies carried out first (a sync write or fsync is then durable: the disk finished
//   it, the process never learned; a plain write is pending and lost like the rest).
// - A clean unmount (fusermount3 -u, SIGTERM, SIGINT) writes everything back first, as an OS
//   does at shutdown.
// - Readers are served from memory, so the kernel must not cache across opens: no
//   writeback_cache, no kernel_cache, no direct_io (LMDB maps its data file read-only, shared,
//   which needs the page cache).
// --ready-fd: one byte is written to FD once the kernel has initialised the mount.
// Always single-threaded (-s): the state below has no locks.
#define FUSE_USE_VERSION 31
#include <fuse.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

constexpr off_t page_size = 4096;
constexpr int cut_exit_status = 3;

using page = std::array<char, page_size>;

// A file with writes that are not durable yet. Its backing file holds what is.
struct pending_file {
    int fd = -1;                                   // the backing file, read-write (closed when everything is durable)
    off_t size = 0;                                // the size readers see
    std::map<off_t, std::unique_ptr<page>> pages;  // page number -> the page as readers see it
};

struct handle {
    int fd = -1;  // the backing file
    ino_t ino = 0;
    bool sync = false;  // opened with O_SYNC or O_DSYNC
};

struct options {
    std::string backing;
    int ready_fd = -1;
    std::string cut_file;
    std::uint64_t cut_at = 0;
    bool cut_applies = false;
    std::string cut_report;
};

options opt;
std::uint64_t counted = 0;  // write and fsync requests on files named opt.cut_file
std::unordered_map<ino_t, pending_file> pending;
std::unordered_map<ino_t, int> open_handles;
// Owns every open handle: one still open when the file system exits (a file the kernel had not
// released yet) is freed with it, not leaked (LeakSanitizer runs this program in the asan preset).
std::unordered_map<const handle*, std::unique_ptr<handle>> live_handles;

std::string real(const char* path) { return opt.backing + path; }

handle* handle_of(const fuse_file_info* fi) { return reinterpret_cast<handle*>(static_cast<std::uintptr_t>(fi->fh)); }

int fail() { return -errno; }

// Reads `n` bytes of the backing file at `off`, zeros past its end.
int read_backing(int fd, char* buf, std::size_t n, off_t off) {
    std::size_t done = 0;
    while (done < n) {
        ssize_t r = ::pread(fd, buf + done, n - done, off + static_cast<off_t>(done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail();
        if (r == 0) break;
        done += static_cast<std::size_t>(r);
    }
    std::memset(buf + done, 0, n - done);
    return 0;
}

int write_backing(int fd, const char* buf, std::size_t n, off_t off) {
    std::size_t done = 0;
    while (done < n) {
        ssize_t w = ::pwrite(fd, buf + done, n - done, off + static_cast<off_t>(done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return fail();
        done += static_cast<std::size_t>(w);
    }
    return 0;
}

// The pending state of a file, created on its first write since it was last durable.
pending_file* pending_of(const handle& h) {
    auto it = pending.find(h.ino);
    if (it != pending.end()) return &it->second;
    struct stat st {};
    if (::fstat(h.fd, &st) != 0) return nullptr;
    int fd = ::dup(h.fd);
    if (fd < 0) return nullptr;
    pending_file& f = pending[h.ino];
    f.fd = fd;
    f.size = st.st_size;
    return &f;
}

void forget(ino_t ino) {
    auto it = pending.find(ino);
    if (it == pending.end()) return;
    ::close(it->second.fd);
    pending.erase(it);
}

// Makes pages first..last of a file durable (all of them when last < 0); forgets the file once
// nothing of it is pending.
int make_durable(ino_t ino, off_t first, off_t last) {
    auto it = pending.find(ino);
    if (it == pending.end()) return 0;
    pending_file& f = it->second;
    for (auto p = f.pages.lower_bound(first); p != f.pages.end() && (last < 0 || p->first <= last);) {
        off_t at = p->first * page_size;
        off_t n = std::min<off_t>(page_size, f.size - at);
        if (n > 0)
            if (int rc = write_backing(f.fd, p->second->data(), static_cast<std::size_t>(n), at)) return rc;
        p = f.pages.erase(p);
    }
    if (!f.pages.empty()) return 0;
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) return fail();
    if (st.st_size != f.size && ::ftruncate(f.fd, f.size) != 0) return fail();
    forget(ino);
    return 0;
}

std::size_t pending_pages(ino_t ino) {
    auto it = pending.find(ino);
    return it == pending.end() ? 0 : it->second.pages.size();
}

std::string_view basename_of(const char* path) {
    std::string_view p(path ? path : "");
    auto slash = p.rfind('/');
    return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

// The power cut of --cut-at. With --cut-applies the request is carried out first, as it would
// have been (a plain write stays pending, and is lost with the rest), but never answered.
template <class Apply>
[[noreturn]] void power_cut(const char* kind, off_t offset, std::size_t size, ino_t ino, Apply apply) {
    if (opt.cut_applies) (void)apply();
    if (!opt.cut_report.empty()) {
        char line[256];
        int n =
            std::snprintf(line, sizeof line, "request=%llu kind=%s applied=%d offset=%lld size=%zu pending_pages=%zu\n",
                          static_cast<unsigned long long>(counted), kind, opt.cut_applies ? 1 : 0,
                          static_cast<long long>(offset), size, pending_pages(ino));
        int fd = ::open(opt.cut_report.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            (void)write_backing(fd, line, static_cast<std::size_t>(n), 0);
            ::close(fd);
        }
    }
    // Kill the writer first, then lose the memory: nothing it does can reach the disk after.
    if (pid_t who = fuse_get_context()->pid; who > 0) ::kill(who, SIGKILL);
    ::_exit(cut_exit_status);
}

bool counts(const char* path) {
    if (opt.cut_at == 0 || basename_of(path) != opt.cut_file) return false;
    return ++counted == opt.cut_at;
}

// ---- operations ------------------------------------------------------------------------------

void* fs_init(fuse_conn_info* conn, fuse_config* cfg) {
    conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
    cfg->direct_io = 0;
    cfg->kernel_cache = 0;
    cfg->auto_cache = 0;
    if (opt.ready_fd >= 0) {
        char c = 'r';
        (void)!::write(opt.ready_fd, &c, 1);
        ::close(opt.ready_fd);
        opt.ready_fd = -1;
    }
    return nullptr;
}

bool written_back = false;  // the clean shutdown wrote everything back

void fs_destroy(void*) {
    std::vector<ino_t> inos;
    for (auto& [ino, f] : pending) inos.push_back(ino);
    written_back = true;
    for (ino_t ino : inos)
        if (make_durable(ino, 0, -1) != 0) {
            std::fprintf(stderr, "lossy_fs: writing back inode %lu failed\n", static_cast<unsigned long>(ino));
            written_back = false;
        }
}

int fs_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
    if ((fi ? ::fstat(handle_of(fi)->fd, st) : ::lstat(real(path).c_str(), st)) != 0) return fail();
    if (auto it = pending.find(st->st_ino); it != pending.end() && S_ISREG(st->st_mode)) {
        st->st_size = it->second.size;
        st->st_blocks = (it->second.size + 511) / 512;
    }
    return 0;
}

int fs_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*, fuse_readdir_flags) {
    DIR* d = ::opendir(real(path).c_str());
    if (!d) return fail();
    while (dirent* e = ::readdir(d)) {
        struct stat st {};
        st.st_ino = e->d_ino;
        st.st_mode = static_cast<mode_t>(e->d_type) << 12;
        if (fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
    }
    ::closedir(d);
    return 0;
}

int fs_mkdir(const char* path, mode_t mode) { return ::mkdir(real(path).c_str(), mode) == 0 ? 0 : fail(); }
int fs_rmdir(const char* path) { return ::rmdir(real(path).c_str()) == 0 ? 0 : fail(); }

// A file about to lose its last name: what it had pending goes with it, unless it is still open.
void unlinking(const std::string& file) {
    struct stat st {};
    if (::lstat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && !open_handles.count(st.st_ino))
        forget(st.st_ino);
}

int fs_unlink(const char* path) {
    std::string file = real(path);
    unlinking(file);
    return ::unlink(file.c_str()) == 0 ? 0 : fail();
}

int fs_rename(const char* from, const char* to, unsigned int flags) {
    std::string target = real(to);
    if (!(flags & (RENAME_EXCHANGE | RENAME_NOREPLACE))) unlinking(target);
    return ::renameat2(AT_FDCWD, real(from).c_str(), AT_FDCWD, target.c_str(), flags) == 0 ? 0 : fail();
}

int fs_chmod(const char* path, mode_t mode, fuse_file_info* fi) {
    return (fi ? ::fchmod(handle_of(fi)->fd, mode) : ::chmod(real(path).c_str(), mode)) == 0 ? 0 : fail();
}

int fs_utimens(const char* path, const struct timespec tv[2], fuse_file_info* fi) {
    if (fi) return ::futimens(handle_of(fi)->fd, tv) == 0 ? 0 : fail();
    return ::utimensat(AT_FDCWD, real(path).c_str(), tv, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : fail();
}

// A size change is metadata: applied to the backing file at once. Pending pages past the new
// end are dropped, and the part of the last one past it zeroed.
int truncate_file(int fd, off_t size) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail();
    if (::ftruncate(fd, size) != 0) return fail();
    auto it = pending.find(st.st_ino);
    if (it == pending.end()) return 0;
    pending_file& f = it->second;
    f.pages.erase(f.pages.lower_bound((size + page_size - 1) / page_size), f.pages.end());
    if (size % page_size != 0)
        if (auto p = f.pages.find(size / page_size); p != f.pages.end())
            std::memset(p->second->data() + size % page_size, 0,
                        static_cast<std::size_t>(page_size - size % page_size));
    f.size = size;
    return 0;
}

int fs_truncate(const char* path, off_t size, fuse_file_info* fi) {
    if (fi) return truncate_file(handle_of(fi)->fd, size);
    int fd = ::open(real(path).c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return fail();
    int rc = truncate_file(fd, size);
    ::close(fd);
    return rc;
}

int open_backing(const char* path, int flags, mode_t mode, fuse_file_info* fi) {
    // The backing file is always opened read-write when it can be (a page is read before it is
    // partly written, and made durable through any descriptor). Sync, append and truncation
    // flags are this file system's business, not the backing file's.
    const int keep = flags & (O_CREAT | O_EXCL | O_NOFOLLOW);
    std::string file = real(path);
    int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC | keep, mode);
    if (fd < 0 && (flags & O_ACCMODE) == O_RDONLY && (errno == EACCES || errno == EROFS))
        fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | keep, mode);
    if (fd < 0) return fail();
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int rc = fail();
        ::close(fd);
        return rc;
    }
    if (flags & O_TRUNC) {
        if (int rc = truncate_file(fd, 0)) {
            ::close(fd);
            return rc;
        }
    }
    auto owned = std::make_unique<handle>(handle{fd, st.st_ino, (flags & O_DSYNC) != 0});  // O_SYNC includes O_DSYNC's bit
    handle* h = owned.get();
    live_handles.emplace(h, std::move(owned));
    ++open_handles[st.st_ino];
    fi->fh = reinterpret_cast<std::uintptr_t>(h);
    fi->direct_io = 0;
    fi->keep_cache = 0;
    return 0;
}

int fs_open(const char* path, fuse_file_info* fi) { return open_backing(path, fi->flags, 0, fi); }
int fs_create(const char* path, mode_t mode, fuse_file_info* fi) {
    return open_backing(path, fi->flags | O_CREAT, mode, fi);
}

int fs_release(const char*, fuse_file_info* fi) {
    handle* h = handle_of(fi);
    struct stat st {};
    bool gone = ::fstat(h->fd, &st) == 0 && st.st_nlink == 0;
    if (--open_handles[h->ino] == 0) {
        open_handles.erase(h->ino);
        if (gone) forget(h->ino);
    }
    ::close(h->fd);
    live_handles.erase(h);
    return 0;
}

int fs_flush(const char*, fuse_file_info*) { return 0; }  // close(2) makes nothing durable

int fs_read(const char*, char* buf, std::size_t size, off_t off, fuse_file_info* fi) {
    handle* h = handle_of(fi);
    size = std::min<std::size_t>(size, INT_MAX);
    auto it = pending.find(h->ino);
    if (it == pending.end()) {
        ssize_t n;
        do n = ::pread(h->fd, buf, size, off);
        while (n < 0 && errno == EINTR);
        return n < 0 ? fail() : static_cast<int>(n);
    }
    const pending_file& f = it->second;
    if (off >= f.size) return 0;
    size = std::min<std::size_t>(size, static_cast<std::size_t>(f.size - off));
    for (std::size_t done = 0; done < size;) {
        off_t at = off + static_cast<off_t>(done);
        auto in = static_cast<std::size_t>(at % page_size);
        std::size_t n = std::min(size - done, static_cast<std::size_t>(page_size) - in);
        if (auto p = f.pages.find(at / page_size); p != f.pages.end())
            std::memcpy(buf + done, p->second->data() + in, n);
        else if (int rc = read_backing(h->fd, buf + done, n, at))
            return rc;
        done += n;
    }
    return static_cast<int>(size);
}

int apply_write(const handle& h, const char* buf, std::size_t size, off_t off) {
    pending_file* f = pending_of(h);
    if (!f) return fail();
    for (std::size_t done = 0; done < size;) {
        off_t at = off + static_cast<off_t>(done);
        off_t number = at / page_size;
        auto in = static_cast<std::size_t>(at % page_size);
        std::size_t n = std::min(size - done, static_cast<std::size_t>(page_size) - in);
        auto& p = f->pages[number];
        if (!p) {
            p = std::make_unique<page>();
            // What readers see of it now: the backing file's bytes, zeros past the visible end.
            if (int rc = read_backing(f->fd, p->data(), page_size, number * page_size)) {
                f->pages.erase(number);
                return rc;
            }
            off_t visible = f->size - number * page_size;
            if (visible < page_size)
                std::memset(p->data() + std::max<off_t>(visible, 0), 0,
                            static_cast<std::size_t>(page_size - std::max<off_t>(visible, 0)));
        }
        std::memcpy(p->data() + in, buf + done, n);
        done += n;
    }
    f->size = std::max(f->size, off + static_cast<off_t>(size));
    return 0;
}

int fs_write(const char* path, const char* buf, std::size_t size, off_t off, fuse_file_info* fi) {
    const handle& h = *handle_of(fi);
    const bool sync = h.sync || (fi->flags & O_DSYNC) != 0;
    size = std::min<std::size_t>(size, INT_MAX);
    auto perform = [&] {
        if (int rc = apply_write(h, buf, size, off)) return rc;
        return sync ? make_durable(h.ino, off / page_size, (off + static_cast<off_t>(size) - 1) / page_size) : 0;
    };
    if (!fi->writepage && counts(path)) power_cut(sync ? "sync_write" : "write", off, size, h.ino, perform);
    if (int rc = perform()) return rc;
    return static_cast<int>(size);
}

int fs_fsync(const char* path, int, fuse_file_info* fi) {
    const handle& h = *handle_of(fi);
    if (counts(path)) power_cut("fsync", 0, 0, h.ino, [&] { return make_durable(h.ino, 0, -1); });
    return make_durable(h.ino, 0, -1);
}

int fs_statfs(const char* path, struct statvfs* st) { return ::statvfs(real(path).c_str(), st) == 0 ? 0 : fail(); }

bool take(std::string_view arg, std::string_view name, std::string& value) {
    if (!arg.starts_with(name)) return false;
    value = std::string(arg.substr(name.size()));
    return true;
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "lossy_fs: %s\nusage: lossy_fs [--ready-fd=FD] [--cut-file=NAME --cut-at=N [--cut-applies] "
                 "[--cut-report=PATH]] BACKING MOUNTPOINT [FUSE options]\n",
                 why);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    int i = 1;
    for (; i < argc && std::string_view(argv[i]).starts_with("--"); ++i) {
        std::string_view a = argv[i];
        std::string v;
        if (take(a, "--ready-fd=", v))
            opt.ready_fd = std::atoi(v.c_str());
        else if (take(a, "--cut-file=", v))
            opt.cut_file = v;
        else if (take(a, "--cut-at=", v))
            opt.cut_at = std::strtoull(v.c_str(), nullptr, 10);
        else if (a == "--cut-applies")
            opt.cut_applies = true;
        else if (take(a, "--cut-report=", v))
            opt.cut_report = v;
        else
            usage("unknown option");
    }
    if (argc - i < 2) usage("BACKING and MOUNTPOINT are needed");
    if (opt.cut_at != 0 && opt.cut_file.empty()) usage("--cut-at needs --cut-file");
    char* backing = ::realpath(argv[i], nullptr);
    if (!backing) usage("BACKING is not a directory");
    opt.backing = backing;
    std::free(backing);

    fuse_operations ops{};
    ops.init = fs_init;
    ops.destroy = fs_destroy;
    ops.getattr = fs_getattr;
    ops.readdir = fs_readdir;
    ops.mkdir = fs_mkdir;
    ops.rmdir = fs_rmdir;
    ops.unlink = fs_unlink;
    ops.rename = fs_rename;
    ops.chmod = fs_chmod;
    ops.utimens = fs_utimens;
    ops.truncate = fs_truncate;
    ops.open = fs_open;
    ops.create = fs_create;
    ops.release = fs_release;
    ops.flush = fs_flush;
    ops.read = fs_read;
    ops.write = fs_write;
    ops.fsync = fs_fsync;
    ops.statfs = fs_statfs;

    std::string fsname = "fsname=lossy_fs:" + opt.backing;
    std::vector<char*> args{
        argv[0], argv[i + 1], const_cast<char*>("-f"), const_cast<char*>("-s"), const_cast<char*>("-o"), fsname.data()};
    for (int k = i + 2; k < argc; ++k) args.push_back(argv[k]);
    args.push_back(nullptr);
    int rc = fuse_main(static_cast<int>(args.size()) - 1, args.data(), &ops, nullptr);
    // libfuse records the signal that ended the loop as its error, and fuse_main then returns 8:
    // a shutdown that unmounted and wrote everything back is a success.
    return rc == 8 && written_back ? 0 : rc;
}
