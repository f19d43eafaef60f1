// A growable byte buffer. The first 512 bytes live inside the object, so encoding any valid
// LMDB key (at most 511 bytes) never allocates; larger contents move to the heap.
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

namespace netabase::detail {

class buffer {
public:
    static constexpr std::size_t inline_capacity = 512;

    buffer() noexcept : data_(inline_) {}
    buffer(const buffer&) = delete;
    buffer& operator=(const buffer&) = delete;

    void clear() noexcept { size_ = 0; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    const std::byte* data() const noexcept { return data_; }
    std::byte* data() noexcept { return data_; }
    std::span<const std::byte> span() const noexcept { return {data_, size_}; }

    // n more bytes at the end, uninitialised; the pointer is valid until the next extend.
    std::byte* extend(std::size_t n) {
        if (cap_ - size_ < n) [[unlikely]]
            grow(n);
        std::byte* p = data_ + size_;
        size_ += n;
        return p;
    }
    void append(const void* p, std::size_t n) {
        if (n) std::memcpy(extend(n), p, n);
    }
    void push(std::byte b) { *extend(1) = b; }
    void assign(std::span<const std::byte> s) {
        clear();
        append(s.data(), s.size());
    }

private:
    // Out of line, so that extend() (every field and key byte written) stays small enough to
    // inline.
    [[gnu::noinline]] void grow(std::size_t n) {
        std::size_t cap = cap_ * 2;
        while (cap - size_ < n) cap *= 2;
        auto fresh = std::make_unique_for_overwrite<std::byte[]>(cap);
        if (size_) std::memcpy(fresh.get(), data_, size_);
        heap_ = std::move(fresh);
        data_ = heap_.get();
        cap_ = cap;
    }

    std::byte* data_;
    std::size_t size_ = 0;
    std::size_t cap_ = inline_capacity;
    std::unique_ptr<std::byte[]> heap_;
    std::byte inline_[inline_capacity];
};

// Up to 511 key bytes held by value, so ranges that carry their bounds stay copyable.
struct key_bytes {
    std::size_t size = 0;
    std::byte data[buffer::inline_capacity];

    key_bytes() noexcept = default;
    // Copies the bytes in use only: a range's bounds are copied with it, and keys are short.
    key_bytes(const key_bytes& o) noexcept : size(o.size) { std::memcpy(data, o.data, size); }
    key_bytes& operator=(const key_bytes& o) noexcept {
        size = o.size;
        std::memmove(data, o.data, size);
        return *this;
    }

    std::span<const std::byte> span() const noexcept { return {data, size}; }
    void assign(std::span<const std::byte> s) noexcept {  // callers check s.size() first
        size = s.size() <= sizeof data ? s.size() : sizeof data;
        std::memcpy(data, s.data(), size);
    }
};

}  // namespace netabase::detail
