// NativeLun's static entry points, format() and open(), and the workers that run them on the
// libuv pool: formatting reports progress; opening recovers the LUN and then builds the
// JavaScript object around it.
#include <atomic>
#include <memory>
#include <string>

#include "js_convert.h"
#include "js_lun.h"
#include "workers.h"

namespace sanmq {

using namespace format;

namespace {

class OpenWorker : public PromiseWorker {
 public:
  OpenWorker(Napi::Env env, std::string path, OpenOptions options, Napi::Function onComplete,
             AddonData* data)
      : PromiseWorker(env),
        path_(std::move(path)),
        options_(std::move(options)),
        onComplete_(Napi::Persistent(onComplete)),
        data_(data) {}

 protected:
  void run() override {
    try {
      // The writer's notifications go to a thread-safe function that exists only once the
      // JavaScript object does; until then `target` stays null and nothing can complete.
      lun_ = Lun::open(path_, options_, [target = target_]() {
        if (NativeLun* t = target->load()) t->notifyFromWriter();
      });
    } catch (const CorruptLunError& e) {
      report_ = std::make_unique<RecoveryReport>(e.report());
      throw;
    }
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Object object = data_->lunConstructor.New({});
    NativeLun* native = NativeLun::Unwrap(object);
    native->adopt(env, std::move(lun_), onComplete_.Value());
    target_->store(native);
    return object;
  }
  void decorate(Napi::Error& error) override {
    if (report_) error.Set("report", reportObject(Env(), *report_));
  }

 private:
  std::string path_;
  OpenOptions options_;
  Napi::FunctionReference onComplete_;
  AddonData* data_;
  std::unique_ptr<Lun> lun_;
  std::unique_ptr<RecoveryReport> report_;
  // Shared with the writer's notify callback, which outlives this worker.
  std::shared_ptr<std::atomic<NativeLun*>> target_ =
      std::make_shared<std::atomic<NativeLun*>>(nullptr);
};

struct Progress {
  uint64_t done;
  uint64_t total;
};

class FormatWorker : public Napi::AsyncProgressQueueWorker<Progress> {
 public:
  FormatWorker(Napi::Env env, std::string path, FormatOptions options, Napi::Value onProgress)
      : Napi::AsyncProgressQueueWorker<Progress>(env, "sanmq-format"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        options_(std::move(options)) {
    if (onProgress.IsFunction()) onProgress_ = Napi::Persistent(onProgress.As<Napi::Function>());
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    options_.progress = [&progress](uint64_t done, uint64_t total) {
      Progress p{done, total};
      progress.Send(&p, 1);
    };
    std::string message;
    if (!runCoded([this] { geometry_ = formatLun(path_, options_); }, &code_, &message)) {
      SetError(message);
    }
  }
  void OnProgress(const Progress* data, size_t count) override {
    if (onProgress_.IsEmpty() || count == 0) return;
    Napi::HandleScope scope(Env());
    onProgress_.Call({Napi::Number::New(Env(), double(data[count - 1].done)),
                      Napi::Number::New(Env(), double(data[count - 1].total))});
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    deferred_.Resolve(geometryObject(Env(), geometry_));
  }
  void OnError(const Napi::Error& e) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(codedError(Env(), code_, e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  FormatOptions options_;
  Napi::FunctionReference onProgress_;
  Geometry geometry_;
  const char* code_ = code::E_INTERNAL;
};


}  // namespace

Napi::Value NativeLun::open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsFunction()) {
    throwCoded(env, code::E_INVALID_ARGUMENT, "open(path, options, onComplete)");
  }
  auto* worker = new OpenWorker(env, info[0].As<Napi::String>().Utf8Value(),
                                openOptionsOf(env, info[1].As<Napi::Object>()),
                                info[2].As<Napi::Function>(), env.GetInstanceData<AddonData>());
  worker->Queue();
  return worker->promise();
}

Napi::Value NativeLun::format(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
    throwCoded(env, code::E_INVALID_ARGUMENT, "format(path, options[, onProgress])");
  }
  Napi::Object o = info[1].As<Napi::Object>();
  FormatOptions options;
  options.geometry.lunBytes = uint64Option(env, o, "sizeBytes", 0);
  options.geometry.blockBytes = uint32Option(env, o, "blockBytes", 4096);
  options.geometry.segmentBytes = uint32Option(env, o, "segmentBytes", kSegmentBytesDefault);
  options.geometry.casSlots = uint32Option(env, o, "casSlots", kCasSlotsDefault);
  options.geometry.casSlotBytes = uint32Option(env, o, "casSlotBytes", kCasSlotBytesDefault);
  options.geometry.label = stringOption(o, "label");
  options.force = boolOption(o, "force", false);
  options.prefill = boolOption(o, "prefill", false);
  options.direct = boolOption(o, "direct", false);
  auto* worker = new FormatWorker(env, info[0].As<Napi::String>().Utf8Value(),
                                  std::move(options), info.Length() > 2 ? info[2] : env.Undefined());
  worker->Queue();
  return worker->promise();
}


}  // namespace sanmq
