// A type's name as a stable string, the same from g++ and clang, for default table names.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <utility>

namespace netabase::detail {

template <class T>
constexpr std::string_view raw_type_name() {
#if defined(__clang__) || defined(__GNUC__)
    return __PRETTY_FUNCTION__;
#else
#error "netabase needs __PRETTY_FUNCTION__ (g++ or clang) to name types"
#endif
}

// g++: "... raw_type_name() [with T = ns::Post; std::string_view = ...]"
// clang: "... raw_type_name() [T = ns::Post]"
constexpr std::string_view cut_type_name(std::string_view pretty) {
    auto start = pretty.find("T = ");
    if (start == std::string_view::npos) return pretty;
    start += 4;
    auto end = start;
    int depth = 0;
    for (; end < pretty.size(); ++end) {
        char c = pretty[end];
        if (c == '<' || c == '(' || c == '[')
            ++depth;
        else if (c == '>' || c == ')')
            --depth;
        else if (c == ']' && depth == 0)
            break;
        else if (c == ']')
            --depth;
        else if (c == ';' && depth == 0)
            break;
    }
    return pretty.substr(start, end - start);
}

// Anonymous namespaces print differently ("{anonymous}" vs "(anonymous namespace)"):
// both become "(anonymous)".
template <class T>
struct stable_type_name {
    static constexpr std::string_view cut = cut_type_name(raw_type_name<T>());
    static constexpr auto storage = [] {
        std::array<char, cut.size() + 1> out{};
        std::size_t n = 0;
        constexpr std::string_view gcc_anon = "{anonymous}";
        constexpr std::string_view clang_anon = "(anonymous namespace)";
        constexpr std::string_view ours = "(anonymous)";
        for (std::size_t i = 0; i < cut.size();) {
            std::string_view rest = cut.substr(i);
            if (rest.substr(0, gcc_anon.size()) == gcc_anon || rest.substr(0, clang_anon.size()) == clang_anon) {
                for (char c : ours) out[n++] = c;
                i += rest.substr(0, gcc_anon.size()) == gcc_anon ? gcc_anon.size() : clang_anon.size();
            } else {
                out[n++] = cut[i++];
            }
        }
        out[n] = '\0';
        return std::pair{out, n};
    }();
    static constexpr std::string_view value{storage.first.data(), storage.second};
};

template <class T>
inline constexpr std::string_view type_name_v = stable_type_name<T>::value;

}  // namespace netabase::detail
