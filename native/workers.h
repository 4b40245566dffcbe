// The JavaScript side of the addon's asynchronous calls: a promise-returning AsyncWorker whose
// Execute() runs core code on a libuv pool thread and turns LunError into a coded rejection.
// Code in run() never touches JavaScript values.
#pragma once

#include <napi.h>

#include <functional>
#include <string>

#include "errors.h"

namespace sanmq {

// An Error whose `code` is one of the stable codes of errors.h.
inline Napi::Error codedError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

// Runs `work` on a pool thread; on an exception, returns false with its code (E_INTERNAL for
// anything but a LunError) and message, for the worker to report on the JS thread.
template <typename Work>
bool runCoded(Work work, const char** code, std::string* message) {
  try {
    work();
    return true;
  } catch (const LunError& e) {
    *code = e.code();
    *message = e.what();
  } catch (const std::exception& e) {
    *code = code::E_INTERNAL;
    *message = e.what();
  }
  return false;
}

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env)
      : Napi::AsyncWorker(env, "sanmq"), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  virtual void run() = 0;
  virtual Napi::Value result(Napi::Env env) { return env.Undefined(); }
  // Lets a subclass decorate the rejection (for example with a recovery report).
  virtual void decorate(Napi::Error&) {}

  void Execute() override {
    std::string message;
    if (!runCoded([this] { run(); }, &code_, &message)) SetError(message);
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    Napi::Value value;
    try {
      value = result(Env());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
      return;
    }
    deferred_.Resolve(value);
  }
  void OnError(const Napi::Error& e) override {
    Napi::HandleScope scope(Env());
    Napi::Error error = codedError(Env(), code_, e.Message());
    decorate(error);
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  const char* code_ = code::E_INTERNAL;
};

// A PromiseWorker from two lambdas: `work` on the pool thread, `done` on the JS thread.
class LambdaWorker : public PromiseWorker {
 public:
  LambdaWorker(Napi::Env env, std::function<void()> work,
               std::function<Napi::Value(Napi::Env)> done)
      : PromiseWorker(env), work_(std::move(work)), done_(std::move(done)) {}

 protected:
  void run() override { work_(); }
  Napi::Value result(Napi::Env env) override { return done_ ? done_(env) : env.Undefined(); }

 private:
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
};

}  // namespace sanmq
