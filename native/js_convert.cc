// Conversions between JavaScript values and the core's types (see js_convert.h).
#include "js_convert.h"

#include "format.h"
#include "workers.h"

namespace sanmq {

using namespace format;

[[noreturn]] void throwCoded(Napi::Env env, const char* code, const std::string& message) {
  throw codedError(env, code, message);
}

uint32_t uint32Option(Napi::Env env, Napi::Object o, const char* name, uint32_t fallback) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throwCoded(env, code::E_INVALID_ARGUMENT, std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || d != double(uint64_t(d))) {
    throwCoded(env, code::E_INVALID_ARGUMENT, std::string(name) + " must be a 32-bit unsigned integer");
  }
  return uint32_t(d);
}

uint64_t uint64Option(Napi::Env env, Napi::Object o, const char* name, uint64_t fallback) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throwCoded(env, code::E_INVALID_ARGUMENT, std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 9007199254740991.0 || d != double(uint64_t(d))) {
    throwCoded(env, code::E_INVALID_ARGUMENT, std::string(name) + " must be a safe integer");
  }
  return uint64_t(d);
}

bool boolOption(Napi::Object o, const char* name, bool fallback) {
  Napi::Value v = o.Get(name);
  return v.IsUndefined() ? fallback : v.ToBoolean().Value();
}

std::string stringOption(Napi::Object o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

Napi::Object geometryObject(Napi::Env env, const Geometry& g) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("uuid", g.uuidString());
  o.Set("label", g.label);
  o.Set("sizeBytes", double(g.lunBytes));
  o.Set("blockBytes", g.blockBytes);
  o.Set("segmentBytes", g.segmentBytes);
  o.Set("segmentCount", g.segmentCount);
  o.Set("casSlots", g.casSlots);
  o.Set("casSlotBytes", g.casSlotBytes);
  o.Set("slotRegionOffset", double(g.slotRegion));
  o.Set("descriptorRegionOffset", double(g.descriptorRegion));
  o.Set("descriptorBlocks", g.descriptorBlocks);
  o.Set("logRegionOffset", double(g.logRegion));
  o.Set("createdAtMs", double(g.createdAtMs));
  o.Set("appendBytesMax", double(g.segmentBytes - kChunkHeaderBytes));
  return o;
}

Napi::Object reportObject(Napi::Env env, const RecoveryReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("scanMs", r.scanMs);
  o.Set("scannedBytes", double(r.scannedBytes));
  o.Set("chunks", double(r.chunks));
  o.Set("dataRecords", double(r.dataRecords));
  o.Set("releaseRecords", double(r.releaseRecords));
  o.Set("movedCopies", double(r.movedCopies));
  o.Set("liveRecords", double(r.liveRecords));
  o.Set("liveBytes", double(r.liveBytes));
  o.Set("usedSegments", r.usedSegments);
  o.Set("freeSegments", r.freeSegments);
  o.Set("descriptorCopiesBehind", r.descriptorCopiesBehind);
  o.Set("nextRecordSeq", double(r.nextRecordSeq));
  o.Set("nextChunkSeq", double(r.nextChunkSeq));
  o.Set("primarySuperblockValid", r.primarySuperblockValid);
  o.Set("backupSuperblockValid", r.backupSuperblockValid);
  Napi::Array corruptions = Napi::Array::New(env, r.corruptions.size());
  for (size_t i = 0; i < r.corruptions.size(); i++) {
    Napi::Object c = Napi::Object::New(env);
    c.Set("address", double(r.corruptions[i].address));
    c.Set("reason", r.corruptions[i].reason);
    corruptions.Set(uint32_t(i), c);
  }
  o.Set("corruptions", corruptions);
  Napi::Array torn = Napi::Array::New(env, r.tornTails.size());
  for (size_t i = 0; i < r.tornTails.size(); i++) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("pageSet", r.tornTails[i].pageSet);
    t.Set("address", double(r.tornTails[i].address));
    t.Set("bytes", r.tornTails[i].bytes);
    torn.Set(uint32_t(i), t);
  }
  o.Set("tornTails", torn);
  return o;
}

CrashMode crashModeOf(Napi::Env env, const std::string& name) {
  if (name == "drop") return CrashMode::Drop;
  if (name == "apply") return CrashMode::Apply;
  if (name == "partial") return CrashMode::Partial;
  if (name == "tear") return CrashMode::Tear;
  if (name == "trash") return CrashMode::Trash;
  throwCoded(env, code::E_INVALID_ARGUMENT, "unknown crash mode " + name);
}

FailOn failOnOf(Napi::Env env, const std::string& name) {
  if (name.empty() || name == "any") return FailOn::Any;
  if (name == "read") return FailOn::Read;
  if (name == "write") return FailOn::Write;
  if (name == "sync") return FailOn::Sync;
  throwCoded(env, code::E_INVALID_ARGUMENT, "unknown I/O kind " + name);
}

FailKind failKindOf(Napi::Env env, const std::string& name) {
  if (name.empty() || name == "eio") return FailKind::Eio;
  if (name == "enospc") return FailKind::Enospc;
  if (name == "short") return FailKind::ShortWrite;
  throwCoded(env, code::E_INVALID_ARGUMENT, "unknown failure kind " + name);
}

OpenOptions openOptionsOf(Napi::Env env, Napi::Object o) {
  OpenOptions options;
  std::string mode = stringOption(o, "mode");
  options.mode = mode == "readOnly" ? OpenMode::ReadOnly
                 : mode == "shared" ? OpenMode::Shared
                                    : OpenMode::Exclusive;
  options.direct = boolOption(o, "direct", false);
  options.salvage = boolOption(o, "salvage", false);
  options.lockTimeoutMs = uint32Option(env, o, "lockTimeoutMs", 30000);
  options.writer.prefillAhead = uint32Option(env, o, "prefillSegmentsAhead", 4);
  options.writer.pendingBytesMax = uint64Option(env, o, "pendingBytesMax", 256u << 20);
  options.writer.spinUs = uint32Option(env, o, "spinUs", options.writer.spinUs);
  options.writer.gatherUs = uint32Option(env, o, "gatherUs", options.writer.gatherUs);
  Napi::Value faults = o.Get("faults");
  if (faults.IsObject()) {
    Napi::Object f = faults.As<Napi::Object>();
    options.faulty = true;
    options.faults.seed = uint64Option(env, f, "seed", 1);
    options.faults.crashAtMutation = uint64Option(env, f, "crashAtMutation", 0);
    std::string crashMode = stringOption(f, "crashMode");
    options.faults.crashMode = crashModeOf(env, crashMode.empty() ? "drop" : crashMode);
    options.faults.sectorBytes = uint32Option(env, f, "sectorBytes", 512);
    options.faults.failAtIo = uint64Option(env, f, "failAtIo", 0);
    options.faults.failOn = failOnOf(env, stringOption(f, "failOn"));
    options.faults.failKind = failKindOf(env, stringOption(f, "failKind"));
    options.faults.failPersistent = boolOption(f, "failPersistent", false);
    options.faults.lyingSync = boolOption(f, "lyingSync", false);
    options.faults.realSync = boolOption(f, "realSync", false);
  }
  return options;
}

}  // namespace sanmq
