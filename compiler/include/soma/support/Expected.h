// A value or an error message: how environment failures (files, the JIT)
// travel to the boundary that reports them. User mistakes in source text go
// through the DiagnosticEngine instead.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace soma {

struct Error {
  std::string message;
};

template <class T> class Expected {
public:
  Expected(T value) : storage(std::move(value)) {}
  Expected(Error error) : storage(std::move(error)) {}

  explicit operator bool() const { return storage.index() == 0; }
  T &operator*() {
    assert(*this && "dereferencing an error");
    return std::get<0>(storage);
  }
  const T &operator*() const {
    assert(*this && "dereferencing an error");
    return std::get<0>(storage);
  }
  T *operator->() { return &**this; }
  const T *operator->() const { return &**this; }
  const std::string &error() const {
    assert(!*this && "no error to read");
    return std::get<1>(storage).message;
  }

private:
  std::variant<T, Error> storage;
};

} // namespace soma
