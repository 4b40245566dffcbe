// Conversions between JavaScript values and the core's types: option objects in, geometry and
// recovery reports out, and coded exceptions. Used by the files that define NativeLun.
#pragma once

#include <napi.h>

#include <string>

#include "faulty_device.h"
#include "lun.h"
#include "report.h"
#include "superblock.h"

namespace sanmq {

[[noreturn]] void throwCoded(Napi::Env env, const char* code, const std::string& message);
uint32_t uint32Option(Napi::Env env, Napi::Object o, const char* name, uint32_t fallback);
uint64_t uint64Option(Napi::Env env, Napi::Object o, const char* name, uint64_t fallback);
bool boolOption(Napi::Object o, const char* name, bool fallback);
std::string stringOption(Napi::Object o, const char* name);
Napi::Object geometryObject(Napi::Env env, const Geometry& g);
Napi::Object reportObject(Napi::Env env, const RecoveryReport& r);
CrashMode crashModeOf(Napi::Env env, const std::string& name);
FailOn failOnOf(Napi::Env env, const std::string& name);
FailKind failKindOf(Napi::Env env, const std::string& name);
OpenOptions openOptionsOf(Napi::Env env, Napi::Object o);

}  // namespace sanmq
