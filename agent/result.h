// The one error model (STYLE.md #6): recoverable errors are values, exceptions are for
// fatal start-up failures only. Every message says what failed, why, and what to do.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace homeostat {

struct Error {
    std::string message;
    int err = 0; // errno where one applies

    std::string describe() const {
        return err ? message + " [errno " + std::to_string(err) + "]" : message;
    }
};

template <typename T>
class Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error e) : v_(std::move(e)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T* operator->() { return &value(); }
    T& operator*() { return value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

template <>
class Result<void> {
public:
    Result() = default;
    Result(Error e) : e_(std::move(e)), ok_(false) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return e_; }

private:
    Error e_;
    bool ok_ = true;
};

} // namespace homeostat
