{
  "variables": {
    "blake3_c": "<!(node -p \"require('path').relative(process.cwd(), require('path').join(require('path').dirname(require.resolve('@c4312/blake3-native/package.json')), 'c'))\")"
  },
  "targets": [
    {
      "target_name": "arca_native",
      "sources": [
        "native/arca_native.c",
        "<(blake3_c)/blake3.c",
        "<(blake3_c)/blake3_dispatch.c",
        "<(blake3_c)/blake3_portable.c"
      ],
      "include_dirs": ["<(blake3_c)"],
      "cflags": ["-O3", "-Wall", "-Wextra"],
      "conditions": [
        ["target_arch == 'x64'", {
          "sources": [
            "<(blake3_c)/blake3_sse2_x86-64_unix.S",
            "<(blake3_c)/blake3_sse41_x86-64_unix.S",
            "<(blake3_c)/blake3_avx2_x86-64_unix.S",
            "<(blake3_c)/blake3_avx512_x86-64_unix.S"
          ]
        }, {
          "defines": ["BLAKE3_NO_SSE2", "BLAKE3_NO_SSE41", "BLAKE3_NO_AVX2", "BLAKE3_NO_AVX512"]
        }]
      ]
    }
  ]
}
