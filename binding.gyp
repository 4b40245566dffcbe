{
  "targets": [
    {
      "target_name": "sanmq",
      "sources": [
        "native/crc32c.cc",
        "native/device.cc",
        "native/faulty_device.cc",
        "native/superblock.cc",
        "native/slots.cc",
        "native/segments.cc",
        "native/scan.cc",
        "native/writer.cc",
        "native/flush.cc",
        "native/compaction.cc",
        "native/maintenance.cc",
        "native/lun.cc",
        "native/js_lun.cc",
        "native/js_read.cc",
        "native/js_convert.cc",
        "native/js_open.cc",
        "native/addon.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"
      ],
      "cflags_cc": [
        "-std=c++20",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-missing-field-initializers",
        "-fvisibility=hidden"
      ],
      "cflags_cc!": ["-std=gnu++17", "-fno-exceptions"],
      "cflags!": ["-fno-exceptions"]
    }
  ]
}
