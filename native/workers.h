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
    try {
      run();
    } catch (const LunError& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = code::E_INTERNAL;
      SetError(e.what());
    }
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
