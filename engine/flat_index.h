// An open-addressing hash index from a key to its position in a caller-owned vector.
// The caller keeps the keys (next to the data it updates anyway) and supplies the equality
// test, so a lookup is one probe into a flat array plus the entry the caller was going to
// touch regardless: no nodes, no per-entry allocation, no pointer chasing. That is what
// the per-event series lookup on the ring-buffer thread needs; std::unordered_map costs
// a cache miss per node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace homeostat::engine {

class FlatIndex {
public:
    static constexpr std::uint32_t npos = UINT32_MAX;

    // Position of the entry with this hash for which matches(position) holds, or npos.
    template <typename Matches> std::uint32_t find(std::uint64_t hash, Matches&& matches) const {
        if (slots_.empty()) return npos;
        const auto h = static_cast<std::uint32_t>(hash);
        for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.pos == npos) return npos;
            if (s.hash == h && matches(s.pos)) return s.pos;
        }
    }

    // Adds a position; the caller guarantees its key is not in the index yet.
    void insert(std::uint64_t hash, std::uint32_t pos) {
        // Linear probing stays short below ~70% load.
        if ((size_ + 1) * 10 > slots_.size() * 7) grow();
        place(Slot{static_cast<std::uint32_t>(hash), pos});
        ++size_;
    }

    std::size_t size() const { return size_; }

private:
    struct Slot {
        std::uint32_t hash = 0; // low 32 bits: enough to pick a slot and filter compares
        std::uint32_t pos = npos;
    };

    void place(Slot s) {
        std::size_t i = s.hash & mask_;
        while (slots_[i].pos != npos)
            i = (i + 1) & mask_;
        slots_[i] = s;
    }

    void grow() {
        std::vector<Slot> old;
        old.swap(slots_);
        slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
        mask_ = slots_.size() - 1;
        for (const Slot& s : old)
            if (s.pos != npos) place(s);
    }

    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
};

} // namespace homeostat::engine
