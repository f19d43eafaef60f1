// Directory names without <filesystem>, which cost every translation unit ~0.45 s and 7.5k
// preprocessed lines with libstdc++ 12 (issue #14). The store keeps its directory as the
// std::string a std::filesystem::path would hold on POSIX; a std::filesystem::path converts in
// (dir_path's constructor) and out (Store::path()) where the caller has <filesystem>.
#pragma once

#include "netabase/error.hpp"

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdio>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#if __has_include(<bits/fs_fwd.h>)  // libstdc++: declares std::filesystem::path without defining it
#include <bits/fs_fwd.h>
#else
#include <filesystem>
#endif

namespace netabase::detail {

class dir_path {
public:
    dir_path() = default;
    dir_path(const char* s) : s_(s) {}
    dir_path(std::string s) : s_(std::move(s)) {}
    dir_path(std::string_view s) : s_(s) {}
    // std::filesystem::path, or anything else with a POSIX native() name.
    template <class P>
        requires requires(const P& p) {
            { p.native() } -> std::convertible_to<std::string_view>;
        }
    dir_path(const P& p) : s_(std::string_view(p.native())) {}

    const std::string& string() const noexcept { return s_; }
    const char* c_str() const noexcept { return s_.c_str(); }
    bool empty() const noexcept { return s_.empty(); }

    // What std::filesystem::path's operator/ gives for a relative name.
    dir_path operator/(std::string_view name) const {
        std::string s = s_;
        if (!s.empty() && s.back() != '/') s += '/';
        s += name;
        return dir_path(std::move(s));
    }

private:
    std::string s_;
};

// Store::path()'s std::filesystem::path, built from the name on first use: the type is complete
// only where the caller included <filesystem>. It lives inside its owner (the environment).
class fs_path_cache {
public:
    fs_path_cache() = default;
    fs_path_cache(const fs_path_cache&) = delete;
    fs_path_cache& operator=(const fs_path_cache&) = delete;
    ~fs_path_cache() {
        if (destroy_) destroy_(storage_);
    }

    template <class P>
        requires std::same_as<P, std::filesystem::path>
    const P& get(const dir_path& name) const {
        static_assert(requires { sizeof(P); }, "Store::path() returns a std::filesystem::path: #include <filesystem>");
        static_assert(sizeof(P) <= sizeof(storage_) && alignof(P) <= alignof(std::max_align_t));
        std::call_once(once_, [&] {
            ::new (static_cast<void*>(storage_)) P(name.string());
            destroy_ = [](void* p) noexcept { static_cast<P*>(p)->~P(); };
        });
        return *std::launder(reinterpret_cast<const P*>(storage_));
    }

private:
    alignas(std::max_align_t) mutable unsigned char storage_[64];
    mutable std::once_flag once_;
    mutable void (*destroy_)(void*) noexcept = nullptr;
};

inline bool exists(const dir_path& p) noexcept {
    struct ::stat st {};
    return ::stat(p.c_str(), &st) == 0;
}

// std::filesystem::create_directories: each missing directory of `dir`, in turn.
inline bool create_directories(const dir_path& dir, std::error_code& ec) {
    ec.clear();
    const std::string& s = dir.string();
    if (s.empty()) {
        ec = std::make_error_code(std::errc::no_such_file_or_directory);
        return false;
    }
    std::string prefix;
    for (std::size_t i = 1; i <= s.size(); ++i) {
        if (i < s.size() && s[i] != '/') continue;
        prefix.assign(s, 0, i);
        if (::mkdir(prefix.c_str(), 0777) == 0) continue;
        int err = errno;
        struct ::stat st {};
        if (::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;  // there already
        ec = std::error_code(err == EEXIST ? ENOTDIR : err, std::generic_category());
        return false;
    }
    return true;
}

// std::filesystem::remove_all, errors ignored: `dir` and everything under it.
inline void remove_all(const dir_path& dir) noexcept {
    ::nftw(
        dir.c_str(), [](const char* p, const struct ::stat*, int, struct ::FTW*) { return std::remove(p), 0; }, 16,
        FTW_DEPTH | FTW_PHYS);
}

// std::filesystem::temp_directory_path as libstdc++ finds it: $TMPDIR, $TMP, $TEMP, $TEMPDIR, /tmp.
inline dir_path temp_directory_path() {
    const char* dir = nullptr;
    for (const char* name : {"TMPDIR", "TMP", "TEMP", "TEMPDIR"})
#ifdef __GLIBC__
        if ((dir = ::secure_getenv(name))) break;
#else
        if ((dir = ::getenv(name))) break;
#endif
    dir_path p(dir ? dir : "/tmp");
    struct ::stat st {};
    if (::stat(p.c_str(), &st) != 0)
        throw error(std::error_code(errno, std::generic_category()),
                    "cannot create a temporary directory: " + p.string() + " does not exist");
    if (!S_ISDIR(st.st_mode))
        throw error(std::make_error_code(std::errc::not_a_directory),
                    "cannot create a temporary directory: " + p.string() + " is not a directory");
    return p;
}

}  // namespace netabase::detail
