// A hash map from ops to values, for the side tables passes keep per op
// (use counts, users, marks). std::unordered_map allocates a node per
// entry, so on a network of 100,000 layers a pass spent most of its time
// in malloc and in cache misses to scattered nodes; here keys and values
// sit in one array (open addressing, linear probing), and a lookup is
// usually one cache line. Entries are never erased.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace soma::ir {

class Op;

template <class T> class OpMap {
public:
  OpMap() = default;
  /// A map that takes `expected` entries without growing.
  explicit OpMap(size_t expected) { reserve(expected); }

  void reserve(size_t expected) {
    if (2 * expected > slots.size())
      rehash(capacityFor(expected));
  }
  size_t size() const { return count; }
  bool empty() const { return count == 0; }

  /// The value of `key`, default-constructed when it is new.
  T &operator[](const Op *key) {
    assert(key && "a null op cannot be a key");
    if (2 * (count + 1) > slots.size())
      rehash(capacityFor(count + 1));
    Slot &slot = slots[probe(key)];
    if (!slot.key) {
      slot.key = key;
      ++count;
    }
    return slot.value;
  }
  /// The value of `key`, or null when it has none (a null key has none).
  T *find(const Op *key) {
    if (!key || slots.empty())
      return nullptr;
    Slot &slot = slots[probe(key)];
    return slot.key ? &slot.value : nullptr;
  }
  const T *find(const Op *key) const { return const_cast<OpMap *>(this)->find(key); }
  bool contains(const Op *key) const { return find(key) != nullptr; }
  /// The value of `key`, or `fallback` when it has none.
  T get(const Op *key, T fallback = T()) const {
    const T *value = find(key);
    return value ? *value : fallback;
  }

private:
  struct Slot {
    const Op *key = nullptr;
    T value{};
  };

  static size_t capacityFor(size_t expected) {
    size_t capacity = 16;
    while (capacity < 2 * expected) // at most half full
      capacity *= 2;
    return capacity;
  }
  /// The slot holding `key`, or the empty one where it would go.
  size_t probe(const Op *key) const {
    const size_t mask = slots.size() - 1;
    // Fibonacci hashing of the address (its low bits are alignment).
    size_t i = static_cast<size_t>((reinterpret_cast<uintptr_t>(key) * 0x9E3779B97F4A7C15ull) >>
                                   (64 - shift)) &
               mask;
    while (slots[i].key && slots[i].key != key)
      i = (i + 1) & mask;
    return i;
  }
  void rehash(size_t capacity) {
    std::vector<Slot> old = std::move(slots);
    slots = std::vector<Slot>(capacity);
    shift = 0;
    while ((size_t{1} << shift) < capacity)
      ++shift;
    for (Slot &slot : old)
      if (slot.key)
        slots[probe(slot.key)] = std::move(slot);
  }

  std::vector<Slot> slots;
  size_t count = 0;
  unsigned shift = 0; // log2 of the capacity
};

/// A set of ops (OpMap's layout, no values).
class OpSet {
public:
  OpSet() = default;
  explicit OpSet(size_t expected) : map(expected) {}
  void reserve(size_t expected) { map.reserve(expected); }
  /// True when `op` was not in the set yet.
  bool insert(const Op *op) {
    bool &present = map[op];
    return !std::exchange(present, true);
  }
  bool contains(const Op *op) const { return map.contains(op); }
  size_t size() const { return map.size(); }

private:
  OpMap<bool> map;
};

} // namespace soma::ir
