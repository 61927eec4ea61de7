// Status and Result<T>: how expected failures travel on the data path.
//
// A Status is either OK or an error with a code, a message and whether a retry
// may succeed (broker away, database busy) or not (malformed message).
// Broken invariants are not Statuses: they abort loudly.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ovoflow {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the input is malformed; retrying cannot help
  kNotFound,
  kAlreadyExists,
  kUnavailable,  // a dependency is away; retry later
  kDeadlineExceeded,
  kResourceExhausted,  // queue full, too large
  kFailedPrecondition,
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // True when the same call may succeed later without changing its input.
  bool retryable() const {
    return code_ == StatusCode::kUnavailable || code_ == StatusCode::kDeadlineExceeded ||
           code_ == StatusCode::kResourceExhausted;
  }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Holds a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(implicit)
    if (std::get<Status>(v_).ok()) std::abort();   // a Result error must be an error
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define OVOFLOW_RETURN_IF_ERROR(expr) \
  do {                                \
    ::ovoflow::Status _st = (expr);   \
    if (!_st.ok()) return _st;        \
  } while (0)

#define OVOFLOW_CONCAT_INNER_(a, b) a##b
#define OVOFLOW_CONCAT_(a, b) OVOFLOW_CONCAT_INNER_(a, b)

// OVOFLOW_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (a Result<T>); on
// error returns its Status from the enclosing function, else moves the value
// into `lhs`, which may be a declaration (`auto x`, `const Foo& y` is not
// allowed: the value is moved) or an existing variable. Not for use inside
// an unbraced if/else.
// `lhs` may be a declaration (`auto x`) and `result` is the name being
// declared, so neither can be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define OVOFLOW_ASSIGN_OR_RETURN(lhs, expr) \
  OVOFLOW_ASSIGN_OR_RETURN_IMPL_(OVOFLOW_CONCAT_(_ovoflow_result_, __LINE__), lhs, expr)
#define OVOFLOW_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                   \
  if (!result.ok()) return result.status();               \
  lhs = std::move(result).value()
// NOLINTEND(bugprone-macro-parentheses)

// Stops the process with a message saying what to fix. For broken
// invariants and unusable start-up configuration only.
[[noreturn]] void Fatal(const std::string& message);

}  // namespace ovoflow
