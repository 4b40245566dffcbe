// Module initialisation: CRC32C, the format constants and error codes (the single source the
// TypeScript side reads them from), format(), open() and the NativeLun class. The addon is
// context-aware: its state lives in per-environment instance data, so every worker thread that
// loads it gets its own, and open LUNs are shut down when their environment goes away.
#include <napi.h>

#include "crc32c.h"
#include "errors.h"
#include "format.h"
#include "js_lun.h"
#include "workers.h"

namespace sanmq {
namespace {

Napi::Value crc32cValue(const Napi::CallbackInfo& info, bool portable) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    throw codedError(env, code::E_INVALID_ARGUMENT, "crc32c(data[, crc]): data must be a Uint8Array");
  }
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  uint32_t crc = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  uint32_t out = portable ? crc32c::extendPortable(crc, data.Data(), data.ByteLength())
                          : crc32c::extend(crc, data.Data(), data.ByteLength());
  return Napi::Number::New(env, out);
}

Napi::Object constants(Napi::Env env) {
  using namespace format;
  Napi::Object c = Napi::Object::New(env);
  c.Set("formatVersion", kFormatVersion);
  c.Set("blockBytesMin", kBlockBytesMin);
  c.Set("blockBytesMax", kBlockBytesMax);
  c.Set("segmentBytesMin", kSegmentBytesMin);
  c.Set("segmentBytesMax", kSegmentBytesMax);
  c.Set("segmentBytesDefault", kSegmentBytesDefault);
  c.Set("pageSetCount", kPageSetCount);
  c.Set("casSlotsDefault", kCasSlotsDefault);
  c.Set("casSlotsMax", kCasSlotsMax);
  c.Set("casSlotBytesDefault", kCasSlotBytesDefault);
  c.Set("casSlotBytesMin", kCasSlotBytesMin);
  c.Set("slotHeaderBytes", kSlotHeaderBytes);
  c.Set("internalSlots", kInternalSlots);
  c.Set("labelBytes", kLabelBytes);
  c.Set("superblockBytes", kSuperblockBytes);
  c.Set("chunkHeaderBytes", kChunkHeaderBytes);
  c.Set("recordHeaderBytes", kRecordHeaderBytes);
  c.Set("recordAlign", kRecordAlign);
  c.Set("recordBytesMax", kRecordBytesMax);
  c.Set("releaseEntryBytes", kReleaseEntryBytes);
  c.Set("appendRecordsMax", kAppendRecordsMax);
  c.Set("appendReleasesMax", kAppendReleasesMax);
  c.Set("descriptorHeaderBytes", kDescriptorHeaderBytes);
  c.Set("descriptorBytes", kDescriptorBytes);
  c.Set("addressOffsetBits", kAddressOffsetBits);
  c.Set("addressTagBits", kAddressTagBits);
  return c;
}

Napi::Array errorCodes(Napi::Env env) {
  Napi::Array codes = Napi::Array::New(env);
#define SANMQ_PUSH_CODE(name) codes.Set(codes.Length(), Napi::String::New(env, #name));
  SANMQ_ERROR_CODES(SANMQ_PUSH_CODE)
#undef SANMQ_PUSH_CODE
  return codes;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  data->lunConstructor = Napi::Persistent(NativeLun::define(env));
  env.AddCleanupHook([data] {
    std::set<NativeLun*> open = data->open;
    for (NativeLun* lun : open) {
      lun->shutdown();
      lun->detachFromAddon();
    }
    data->open.clear();
  });
  exports.Set("crc32c", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return crc32cValue(info, false);
              }));
  exports.Set("crc32cPortable", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return crc32cValue(info, true);
              }));
  exports.Set("crc32cImplementation", Napi::String::New(env, crc32c::implementation()));
  exports.Set("constants", constants(env));
  exports.Set("errorCodes", errorCodes(env));
  exports.Set("format", Napi::Function::New(env, NativeLun::format));
  exports.Set("open", Napi::Function::New(env, NativeLun::open));
  exports.Set("NativeLun", data->lunConstructor.Value());
  return exports;
}

}  // namespace
}  // namespace sanmq

static Napi::Object InitSanmq(Napi::Env env, Napi::Object exports) {
  return sanmq::init(env, exports);
}

NODE_API_MODULE(sanmq, InitSanmq)
