// The read side of NativeLun: verified reads of single records, the live-record list of a page
// set, batched reads of record heads, and the page set of an address. Each read runs on a pool
// thread (LambdaWorker) and resolves a promise; nothing here touches the writer.
#include <memory>
#include <vector>

#include "js_convert.h"
#include "js_lun.h"
#include "workers.h"

namespace sanmq {

Napi::Value NativeLun::read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Lun& l = lun(env);
  if (!l.table()) throwCoded(env, code::E_NOT_WRITER, "a shared attachment has no log to read");
  uint64_t address = uint64_t(info[0].As<Napi::Number>().DoubleValue());
  auto result = std::make_shared<ReadResult>();
  Lun* target = &l;
  auto* worker = new LambdaWorker(
      env, [target, address, result] { *result = target->read(address); },
      [result](Napi::Env e) -> Napi::Value {
        return Napi::Buffer<uint8_t>::Copy(e, result->buffer.get() + result->offset,
                                           result->length);
      });
  worker->Queue();
  return worker->promise();
}

Napi::Value NativeLun::liveRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Lun& l = lun(env);
  if (!l.table()) throwCoded(env, code::E_NOT_WRITER, "a shared attachment has no log");
  uint16_t pageSet = uint16_t(info[0].As<Napi::Number>().Uint32Value());
  auto records = std::make_shared<std::vector<LiveRecord>>();
  Lun* target = &l;
  auto* worker = new LambdaWorker(
      env, [target, pageSet, records] { *records = target->liveRecords(pageSet); },
      [records](Napi::Env e) -> Napi::Value {
        size_t n = records->size();
        Napi::Float64Array addresses = Napi::Float64Array::New(e, n);
        Napi::Float64Array seqs = Napi::Float64Array::New(e, n);
        Napi::Float64Array lengths = Napi::Float64Array::New(e, n);
        for (size_t i = 0; i < n; i++) {
          addresses[i] = double((*records)[i].address);
          seqs[i] = double((*records)[i].seq);
          lengths[i] = double((*records)[i].length);
        }
        Napi::Object o = Napi::Object::New(e);
        o.Set("addresses", addresses);
        o.Set("seqs", seqs);
        o.Set("lengths", lengths);
        return o;
      });
  worker->Queue();
  return worker->promise();
}

// readHeads(addresses: Float64Array, headBytes) -> Promise<{ heads: Buffer, lengths }>
Napi::Value NativeLun::readHeads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Lun& l = lun(env);
  if (!l.table()) throwCoded(env, code::E_NOT_WRITER, "a shared attachment has no log to read");
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) {
    throwCoded(env, code::E_INVALID_ARGUMENT, "readHeads(addresses, headBytes): bad arguments");
  }
  Napi::Float64Array list = info[0].As<Napi::Float64Array>();
  uint32_t headBytes = info[1].As<Napi::Number>().Uint32Value();
  if (headBytes == 0 || headBytes > 4096 || list.ElementLength() > (1u << 20)) {
    throwCoded(env, code::E_INVALID_ARGUMENT,
               "readHeads: headBytes must be 1 to 4096 and addresses at most 1,048,576");
  }
  auto addresses = std::make_shared<std::vector<uint64_t>>(list.ElementLength());
  for (size_t i = 0; i < addresses->size(); i++) (*addresses)[i] = uint64_t(list[i]);
  auto heads = std::make_shared<std::vector<uint8_t>>(addresses->size() * headBytes);
  auto lengths = std::make_shared<std::vector<uint32_t>>(addresses->size());
  Lun* target = &l;
  auto* worker = new LambdaWorker(
      env,
      [target, addresses, headBytes, heads, lengths] {
        target->readHeads(*addresses, headBytes, heads->data(), lengths->data());
      },
      [heads, lengths](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("heads", Napi::Buffer<uint8_t>::Copy(e, heads->data(), heads->size()));
        Napi::Float64Array out = Napi::Float64Array::New(e, lengths->size());
        for (size_t i = 0; i < lengths->size(); i++) out[i] = double((*lengths)[i]);
        o.Set("lengths", out);
        return o;
      });
  worker->Queue();
  return worker->promise();
}

Napi::Value NativeLun::pageSetOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Lun& l = lun(env);
  if (!l.table()) throwCoded(env, code::E_NOT_WRITER, "a shared attachment has no log");
  try {
    return Napi::Number::New(env, l.pageSetOf(uint64_t(info[0].As<Napi::Number>().DoubleValue())));
  } catch (const LunError& e) {
    throwCoded(env, e.code(), e.what());
  }
}

}  // namespace sanmq
