// NativeLun: the JavaScript object of an open LUN (the TypeScript facade in
// src/storage/lun.ts is its only user). Appends are staged on the JS thread, handed to the
// writer thread by kick(), and completed through one thread-safe function call per flush.
#pragma once

#include <napi.h>

#include <memory>
#include <set>

#include "lun.h"

namespace sanmq {

class NativeLun;

// Per-environment state: each worker thread that loads the addon gets its own.
struct AddonData {
  Napi::FunctionReference lunConstructor;
  std::set<NativeLun*> open;
};

class NativeLun : public Napi::ObjectWrap<NativeLun> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit NativeLun(const Napi::CallbackInfo& info);
  ~NativeLun() override;

  // Called on the JS thread once open() succeeded on the pool thread.
  void adopt(Napi::Env env, std::unique_ptr<Lun> lun, Napi::Function onComplete);
  // Stops everything at environment teardown (worker exit, process exit).
  void shutdown();
  // Writer thread: completions are ready.
  void notifyFromWriter();
  void detachFromAddon() { data_ = nullptr; }

  static Napi::Value open(const Napi::CallbackInfo& info);
  static Napi::Value format(const Napi::CallbackInfo& info);

 private:
  Napi::Value geometry(const Napi::CallbackInfo& info);
  Napi::Value recovery(const Napi::CallbackInfo& info);
  Napi::Value submit(const Napi::CallbackInfo& info);
  Napi::Value compact(const Napi::CallbackInfo& info);
  Napi::Value measure(const Napi::CallbackInfo& info);
  Napi::Value kick(const Napi::CallbackInfo& info);
  Napi::Value read(const Napi::CallbackInfo& info);
  Napi::Value liveRecords(const Napi::CallbackInfo& info);
  Napi::Value readHeads(const Napi::CallbackInfo& info);
  Napi::Value pageSetOf(const Napi::CallbackInfo& info);
  Napi::Value space(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value slotRead(const Napi::CallbackInfo& info);
  Napi::Value slotCas(const Napi::CallbackInfo& info);
  Napi::Value faultCounters(const Napi::CallbackInfo& info);
  Napi::Value faultCrash(const Napi::CallbackInfo& info);
  Napi::Value faultFlipBit(const Napi::CallbackInfo& info);
  Napi::Value faultArm(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);

  Lun& lun(Napi::Env env);
  Writer& writer(Napi::Env env);
  FaultyDevice& faulty(Napi::Env env);
  uint64_t enqueue(Napi::Env env, std::unique_ptr<Request> request);
  void drain(Napi::Env env);
  static void deliver(Napi::Env env, Napi::Function callback, NativeLun* self, void* data);

  std::unique_ptr<Lun> lun_;
  Napi::FunctionReference onComplete_;
  Napi::ObjectReference self_;
  Napi::TypedThreadSafeFunction<NativeLun, void, deliver> tsfn_;
  bool tsfnLive_ = false;
  bool closed_ = true;
  uint64_t nextId_ = 1;
  uint64_t pending_ = 0;
  AddonData* data_ = nullptr;
};

}  // namespace sanmq
