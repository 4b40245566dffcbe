// NativeLun: argument checks (the TypeScript facade validates first, with its exact messages;
// these are the cheap second line), staging of appends, completion delivery and the async
// calls. Completions reach JavaScript packed in one Float64Array per delivery:
//   [id, status, count, address × count, id, status, count, …]
// where status 0 means success and k > 0 points at extras[k - 1], an error {code, message}
// or the result object of a compaction or a disk measurement.
#include "js_lun.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include "crc32c.h"
#include "endian.h"
#include "format.h"
#include "js_convert.h"
#include "workers.h"

namespace sanmq {

using namespace format;

Napi::Function NativeLun::define(Napi::Env env) {
  return DefineClass(
      env, "NativeLun",
      {InstanceMethod<&NativeLun::geometry>("geometry"),
       InstanceMethod<&NativeLun::recovery>("recovery"),
       InstanceMethod<&NativeLun::submit>("submit"),
       InstanceMethod<&NativeLun::compact>("compact"),
       InstanceMethod<&NativeLun::measure>("measure"),
       InstanceMethod<&NativeLun::kick>("kick"),
       InstanceMethod<&NativeLun::read>("read"),
       InstanceMethod<&NativeLun::liveRecords>("liveRecords"),
       InstanceMethod<&NativeLun::readHeads>("readHeads"),
       InstanceMethod<&NativeLun::pageSetOf>("pageSetOf"),
       InstanceMethod<&NativeLun::space>("space"),
       InstanceMethod<&NativeLun::stats>("stats"),
       InstanceMethod<&NativeLun::slotRead>("slotRead"),
       InstanceMethod<&NativeLun::slotCas>("slotCas"),
       InstanceMethod<&NativeLun::faultCounters>("faultCounters"),
       InstanceMethod<&NativeLun::faultCrash>("faultCrash"),
       InstanceMethod<&NativeLun::faultFlipBit>("faultFlipBit"),
       InstanceMethod<&NativeLun::faultArm>("faultArm"),
       InstanceMethod<&NativeLun::close>("close")});
}

NativeLun::NativeLun(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLun>(info) {
  data_ = info.Env().GetInstanceData<AddonData>();
}

NativeLun::~NativeLun() { shutdown(); }

void NativeLun::adopt(Napi::Env env, std::unique_ptr<Lun> lun, Napi::Function onComplete) {
  lun_ = std::move(lun);
  closed_ = false;
  onComplete_ = Napi::Persistent(onComplete);
  // An open LUN stays reachable until close(): its writer thread may still complete requests.
  self_ = Napi::Persistent(Value());
  if (lun_->writer()) {
    tsfn_ = Napi::TypedThreadSafeFunction<NativeLun, void, deliver>::New(
        env, onComplete, "sanmq-writer", 0, 1, this);
    tsfnLive_ = true;
    tsfn_.Unref(env);  // idle LUNs do not keep the process alive
  }
  data_->open.insert(this);
}

void NativeLun::notifyFromWriter() {
  if (tsfnLive_) tsfn_.NonBlockingCall();
}

void NativeLun::shutdown() {
  if (lun_) {
    try {
      lun_->close();
    } catch (...) {
    }
  }
  if (tsfnLive_) {
    tsfnLive_ = false;
    // Abort, not Release: calls still queued must not run into a dying environment.
    tsfn_.Abort();
  }
  if (data_) data_->open.erase(this);
}

void NativeLun::deliver(Napi::Env env, Napi::Function, NativeLun* self, void*) {
  if (env == nullptr || self == nullptr) return;
  // In a worker being terminated every N-API call fails with a pending exception that is not
  // an object, and node-addon-api aborts the process while wrapping it in a Napi::Error (it
  // cannot be caught). A plain C call tells first whether JavaScript can still run here.
  napi_value probe;
  if (napi_create_object(env, &probe) != napi_ok) return;
  try {
    self->drain(env);
  } catch (const Napi::Error&) {
    // As in drain: a terminating environment cannot take an exception.
  }
}

void NativeLun::drain(Napi::Env env) {
  if (!lun_ || !lun_->writer() || onComplete_.IsEmpty()) return;
  std::vector<std::unique_ptr<Request>> done = lun_->writer()->takeCompleted();
  if (done.empty()) return;
  Napi::HandleScope scope(env);
  size_t slots = 0;
  for (const auto& r : done) slots += 3 + r->addresses.size();
  Napi::Float64Array packed = Napi::Float64Array::New(env, slots);
  Napi::Array extras = Napi::Array::New(env);
  double* out = packed.Data();
  for (const auto& r : done) {
    *out++ = double(r->id);
    Napi::Object extra;
    if (r->errorCode) {
      extra = codedError(env, r->errorCode, r->errorMessage).Value();
    } else if (r->kind == RequestKind::Compact) {
      extra = Napi::Object::New(env);
      Napi::Float64Array from = Napi::Float64Array::New(env, r->movedFrom.size());
      Napi::Float64Array to = Napi::Float64Array::New(env, r->movedTo.size());
      for (size_t i = 0; i < r->movedFrom.size(); i++) {
        from[i] = double(r->movedFrom[i]);
        to[i] = double(r->movedTo[i]);
      }
      Napi::Array victims = Napi::Array::New(env, r->victims.size());
      for (size_t i = 0; i < r->victims.size(); i++) victims.Set(uint32_t(i), r->victims[i]);
      Napi::Array unreadable = Napi::Array::New(env, r->unreadable.size());
      for (size_t i = 0; i < r->unreadable.size(); i++) {
        unreadable.Set(uint32_t(i), double(r->unreadable[i]));
      }
      extra.Set("from", from);
      extra.Set("to", to);
      extra.Set("segments", victims);
      extra.Set("unreadable", unreadable);
    } else if (r->kind == RequestKind::Measure) {
      const MeasureResult& m = r->measured;
      extra = Napi::Object::New(env);
      extra.Set("syncOps", double(m.syncOps));
      extra.Set("syncSeconds", m.syncSeconds);
      extra.Set("syncP50Us", m.syncP50Us);
      extra.Set("syncP99Us", m.syncP99Us);
      extra.Set("sequentialBytes", double(m.sequentialBytes));
      extra.Set("sequentialSeconds", m.sequentialSeconds);
      extra.Set("sparseOps", double(m.sparseOps));
      extra.Set("sparseSeconds", m.sparseSeconds);
      extra.Set("scratchBytes", double(m.scratchBytes));
    }
    if (extra.IsEmpty()) {
      *out++ = 0;
    } else {
      extras.Set(extras.Length(), extra);
      *out++ = double(extras.Length());
    }
    *out++ = double(r->addresses.size());
    for (uint64_t a : r->addresses) *out++ = double(a);
  }
  pending_ -= std::min<uint64_t>(pending_, done.size());
  if (pending_ == 0 && tsfnLive_) tsfn_.Unref(env);
  try {
    onComplete_.Call({packed, extras});
  } catch (const Napi::Error&) {
    // The environment is going away (a worker being terminated): there is no JavaScript
    // left to tell, and throwing here would abort the process.
  }
}

Lun& NativeLun::lun(Napi::Env env) {
  if (closed_ || !lun_) throwCoded(env, code::E_CLOSED, "the LUN is closed");
  return *lun_;
}

Writer& NativeLun::writer(Napi::Env env) {
  Lun& l = lun(env);
  if (l.writer() == nullptr) {
    if (l.mode() == OpenMode::ReadOnly) {
      throwCoded(env, code::E_READ_ONLY, "the LUN was opened read-only");
    }
    throwCoded(env, code::E_NOT_WRITER, "the LUN was attached for slot access only; its log " +
                                            std::string("belongs to its writer"));
  }
  return *l.writer();
}

FaultyDevice& NativeLun::faulty(Napi::Env env) {
  Lun& l = lun(env);
  if (l.faults() == nullptr) {
    throwCoded(env, code::E_INVALID_ARGUMENT, "the LUN was not opened with faults");
  }
  return *l.faults();
}

uint64_t NativeLun::enqueue(Napi::Env env, std::unique_ptr<Request> request) {
  Writer& w = writer(env);
  uint64_t id = nextId_++;
  request->id = id;
  try {
    w.submit(std::move(request));
  } catch (const LunError& e) {
    throwCoded(env, e.code(), e.what());
  }
  if (pending_++ == 0) tsfn_.Ref(env);
  return id;
}

Napi::Value NativeLun::geometry(const Napi::CallbackInfo& info) {
  return geometryObject(info.Env(), lun(info.Env()).geometry());
}

Napi::Value NativeLun::recovery(const Napi::CallbackInfo& info) {
  return reportObject(info.Env(), lun(info.Env()).report());
}

// submit(pageSet, records: Uint8Array[], releases?: Float64Array) -> request id
Napi::Value NativeLun::submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Lun& l = lun(env);
  writer(env);
  bool single = info.Length() >= 2 && info[1].IsTypedArray();
  if (info.Length() < 2 || !info[0].IsNumber() || (!single && !info[1].IsArray())) {
    throwCoded(env, code::E_INVALID_ARGUMENT, "submit(pageSet, records[, releases])");
  }
  uint32_t pageSet = info[0].As<Napi::Number>().Uint32Value();
  if (pageSet >= kPageSetCount) {
    throwCoded(env, code::E_INVALID_ARGUMENT, "pageSet must be an integer from 0 to 1023");
  }
  // One record may come as a Uint8Array of its own: the common case, without an array.
  Napi::Array records = single ? Napi::Array() : info[1].As<Napi::Array>();
  uint32_t count = single ? 1 : records.Length();
  bool releasing = info.Length() > 2 && info[2].IsTypedArray() &&
                   info[2].As<Napi::TypedArray>().ElementLength() > 0;
  if ((count == 0 && !releasing) || count > kAppendRecordsMax) {
    throwCoded(env, code::E_INVALID_ARGUMENT,
               "an append holds 1 to 4096 records (0 when it only releases)");
  }
  // Two passes: sizes first, so the staging buffer is allocated once.
  std::vector<std::pair<const uint8_t*, uint32_t>> views(count);
  uint64_t staged = 0;
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = single ? info[1] : records.Get(i);
    if (!v.IsTypedArray()) throwCoded(env, code::E_INVALID_ARGUMENT, "records must be Uint8Arrays");
    Napi::Uint8Array bytes = v.As<Napi::Uint8Array>();
    if (bytes.ByteLength() > kRecordBytesMax) {
      throwCoded(env, code::E_RECORD_TOO_LARGE, "a record holds at most 16777216 bytes");
    }
    views[i] = {bytes.Data(), uint32_t(bytes.ByteLength())};
    staged += paddedRecordBytes(uint32_t(bytes.ByteLength()));
  }
  auto request = std::make_unique<Request>();
  if (info.Length() > 2 && info[2].IsTypedArray()) {
    Napi::Float64Array releases = info[2].As<Napi::Float64Array>();
    if (releases.ElementLength() > kAppendReleasesMax) {
      throwCoded(env, code::E_INVALID_ARGUMENT, "an append releases at most 4096 records");
    }
    for (size_t i = 0; i < releases.ElementLength(); i++) {
      request->releases.push_back(uint64_t(releases[i]));
    }
  }
  uint64_t releaseBytes = request->releases.empty()
                              ? 0
                              : paddedRecordBytes(uint32_t(request->releases.size() *
                                                           kReleaseEntryBytes));
  uint64_t capacity = l.geometry().segmentBytes - kChunkHeaderBytes;
  if (staged + releaseBytes > capacity) {
    throwCoded(env, code::E_RECORD_TOO_LARGE,
               "the records of one append must fit in one segment: at most " +
                   std::to_string(capacity) + " bytes encoded, got " +
                   std::to_string(staged + releaseBytes));
  }
  request->pageSet = uint16_t(pageSet);
  request->recordCount = count;
  request->stagedBytes = uint32_t(staged);
  request->staged.reset(new uint8_t[std::max<uint64_t>(staged, 1)]);
  uint8_t* p = request->staged.get();
  for (const auto& [data, length] : views) {
    std::memset(p, 0, kRecordHeaderBytes);
    store32(p + record::kLength, length);
    if (length) std::memcpy(p + kRecordHeaderBytes, data, length);
    // The payload's CRC, from the copy (the caller may change its buffer once we return); the
    // writer finishes the record's checksum from it (scan.h, recordChecksum).
    store32(p + record::kCrc, crc32c::value(p + kRecordHeaderBytes, length));
    uint32_t padded = paddedRecordBytes(length);
    std::memset(p + kRecordHeaderBytes + length, 0, padded - kRecordHeaderBytes - length);
    p += padded;
  }
  return Napi::Number::New(env, double(enqueue(env, std::move(request))));
}

Napi::Value NativeLun::compact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  auto request = std::make_unique<Request>();
  request->kind = RequestKind::Compact;
  Napi::Value pageSet = o.Get("pageSet");
  request->compact.pageSet = pageSet.IsNumber() ? pageSet.As<Napi::Number>().Int32Value() : -1;
  Napi::Value ratio = o.Get("liveRatioMax");
  if (ratio.IsNumber()) request->compact.liveRatioMax = ratio.As<Napi::Number>().DoubleValue();
  request->compact.segmentsMax = uint32Option(env, o, "segmentsMax", 4);
  return Napi::Number::New(env, double(enqueue(env, std::move(request))));
}

Napi::Value NativeLun::measure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  auto request = std::make_unique<Request>();
  request->kind = RequestKind::Measure;
  request->measure.durationMs = uint32Option(env, o, "durationMs", 1000);
  request->measure.scratchBytes = uint64Option(env, o, "scratchBytes", 64u << 20);
  request->measure.sparse = boolOption(o, "sparse", false);
  return Napi::Number::New(env, double(enqueue(env, std::move(request))));
}

Napi::Value NativeLun::kick(const Napi::CallbackInfo& info) {
  writer(info.Env()).kick();
  return info.Env().Undefined();
}

Napi::Value NativeLun::space(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Lun& l = lun(env);
  if (!l.table()) throwCoded(env, code::E_NOT_WRITER, "a shared attachment has no log");
  SegmentTable& table = *l.table();
  const Geometry& g = l.geometry();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array segments = Napi::Array::New(env);
  uint64_t used = 0, live = 0, liveRecords = 0, written = 0;
  uint32_t usedSegments = 0, freeSegments = 0, prefilled = 0, quarantined = 0;
  std::lock_guard<std::mutex> lock(table.mutex());
  for (uint32_t s = 0; s < g.segmentCount; s++) {
    const Segment& seg = table.at(s);
    if (seg.quarantined) {
      quarantined++;
      continue;
    }
    // A segment whose FREE descriptor is still on its way to the disk counts as used until
    // that flush is durable (and the writer's `frees` counter has it).
    if (seg.state != kSegmentUsed && !seg.freeing) {
      freeSegments++;
      if (seg.flags & kSegmentPrefilled) prefilled++;
      continue;
    }
    usedSegments++;
    used += g.segmentBytes;
    written += seg.writeOffset;
    live += seg.liveBytes;
    liveRecords += seg.liveRecords;
    Napi::Object e = Napi::Object::New(env);
    e.Set("index", s);
    e.Set("pageSet", seg.pageSet);
    e.Set("generation", seg.generation);
    e.Set("writtenBytes", seg.writeOffset);
    e.Set("liveBytes", double(seg.liveBytes));
    e.Set("liveRecords", seg.liveRecords);
    e.Set("records", double(seg.records.size()));
    e.Set("tail", table.tail(seg.pageSet) == int32_t(s));
    e.Set("dependsOn", Napi::Number::New(env, double(seg.dependsOn.size())));
    e.Set("freeing", seg.freeing);
    segments.Set(segments.Length(), e);
  }
  o.Set("segmentBytes", g.segmentBytes);
  o.Set("segmentCount", g.segmentCount);
  o.Set("usedSegments", usedSegments);
  o.Set("freeSegments", freeSegments);
  o.Set("prefilledFreeSegments", prefilled);
  o.Set("reservedSegments", reserveSegments(g.segmentCount));
  o.Set("quarantinedSegments", quarantined);
  o.Set("logBytes", double(uint64_t(g.segmentCount) * g.segmentBytes));
  o.Set("usedBytes", double(used));
  o.Set("writtenBytes", double(written));
  o.Set("freeBytes", double(uint64_t(freeSegments) * g.segmentBytes));
  o.Set("liveBytes", double(live));
  o.Set("liveRecords", double(liveRecords));
  o.Set("segments", segments);
  return o;
}

Napi::Value NativeLun::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  WriterStats s = writer(env).stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("flushes", double(s.flushes));
  o.Set("syncs", double(s.syncs));
  o.Set("chunks", double(s.chunks));
  o.Set("records", double(s.records));
  o.Set("releases", double(s.releases));
  o.Set("moves", double(s.moves));
  o.Set("bytesWritten", double(s.bytesWritten));
  o.Set("allocations", double(s.allocations));
  o.Set("frees", double(s.frees));
  o.Set("prefills", double(s.prefills));
  o.Set("maxFlushRecords", double(s.maxFlushRecords));
  o.Set("planNs", double(s.planNs));
  o.Set("writeNs", double(s.writeNs));
  o.Set("syncNs", double(s.syncNs));
  o.Set("applyNs", double(s.applyNs));
  o.Set("gatherNs", double(s.gatherNs));
  o.Set("jsNs", double(s.jsNs));
  o.Set("jsRounds", double(s.jsRounds));
  return o;
}

Napi::Value NativeLun::slotRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Lun& l = lun(env);
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  if (slot >= l.geometry().casSlots) {
    throwCoded(env, code::E_INVALID_ARGUMENT, "slot must be below casSlots");
  }
  auto value = std::make_shared<std::vector<uint8_t>>();
  Lun* target = &l;
  auto* worker = new LambdaWorker(
      env, [target, slot, value] { *value = target->slots().read(kInternalSlots + slot); },
      [value](Napi::Env e) -> Napi::Value {
        return Napi::Buffer<uint8_t>::Copy(e, value->data(), value->size());
      });
  worker->Queue();
  return worker->promise();
}

Napi::Value NativeLun::slotCas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Lun& l = lun(env);
  if (l.mode() == OpenMode::ReadOnly) {
    throwCoded(env, code::E_READ_ONLY, "the LUN was opened read-only");
  }
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  uint32_t bytes = l.geometry().casSlotBytes;
  if (slot >= l.geometry().casSlots) {
    throwCoded(env, code::E_INVALID_ARGUMENT, "slot must be below casSlots");
  }
  auto before = std::make_shared<std::vector<uint8_t>>();
  auto after = std::make_shared<std::vector<uint8_t>>();
  for (auto [arg, copy] : {std::pair{1, before.get()}, std::pair{2, after.get()}}) {
    Napi::Uint8Array a = info[size_t(arg)].As<Napi::Uint8Array>();
    if (a.ByteLength() != bytes) {
      throwCoded(env, code::E_INVALID_ARGUMENT, "images must hold casSlotBytes bytes");
    }
    copy->assign(a.Data(), a.Data() + bytes);
  }
  auto swapped = std::make_shared<bool>(false);
  Lun* target = &l;
  auto* worker = new LambdaWorker(
      env,
      [target, slot, before, after, swapped] {
        *swapped = target->slots().compareAndSwap(kInternalSlots + slot, before->data(),
                                                  after->data());
      },
      [swapped](Napi::Env e) -> Napi::Value { return Napi::Boolean::New(e, *swapped); });
  worker->Queue();
  return worker->promise();
}

Napi::Value NativeLun::faultCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FaultCounters c = faulty(env).counters();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ios", double(c.ios));
  o.Set("mutations", double(c.mutations));
  o.Set("syncs", double(c.syncs));
  o.Set("pendingWrites", double(c.pendingWrites));
  o.Set("crashed", c.crashed);
  return o;
}

Napi::Value NativeLun::faultCrash(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  faulty(env).crash(crashModeOf(env, info[0].As<Napi::String>().Utf8Value()));
  return env.Undefined();
}

Napi::Value NativeLun::faultFlipBit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    faulty(env).flipBit(uint64_t(info[0].As<Napi::Number>().DoubleValue()),
                        info[1].As<Napi::Number>().Uint32Value() & 7);
  } catch (const LunError& e) {
    throwCoded(env, e.code(), e.what());
  }
  return env.Undefined();
}

Napi::Value NativeLun::faultArm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  faulty(env).armFailure(uint64Option(env, o, "failAtIo", 0), failOnOf(env, stringOption(o, "failOn")),
                         failKindOf(env, stringOption(o, "failKind")),
                         boolOption(o, "failPersistent", false));
  return env.Undefined();
}

Napi::Value NativeLun::close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_ || !lun_) throwCoded(env, code::E_CLOSED, "the LUN is closed");
  closed_ = true;
  Lun* target = lun_.get();
  auto* worker = new LambdaWorker(
      env, [target] { target->close(); },
      [this](Napi::Env e) -> Napi::Value {
        // Completions the writer produced while stopping are delivered before close resolves.
        drain(e);
        if (tsfnLive_) {
          tsfnLive_ = false;
          tsfn_.Release();
        }
        data_->open.erase(this);
        self_.Reset();
        return e.Undefined();
      });
  worker->Queue();
  return worker->promise();
}

}  // namespace sanmq
