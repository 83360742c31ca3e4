{
  "variables": {
    "blake3_c": "<!(node -p \"require('path').relative(process.cwd(), require('path').join(require('path').dirname(require.resolve('@c4312/blake3-native/package.json')), 'c'))\")",
    "zstd_lib": "<!(node -p \"require('path').relative(process.cwd(), require('path').join(require('path').dirname(require.resolve('zstd-napi/package.json')), 'deps', 'zstd', 'lib'))\")"
  },
  "targets": [
    {
      "target_name": "arca_native",
      "sources": [
        "native/arca_native.c",
        "<(blake3_c)/blake3.c",
        "<(blake3_c)/blake3_dispatch.c",
        "<(blake3_c)/blake3_portable.c",
        "<(zstd_lib)/common/debug.c",
        "<(zstd_lib)/common/entropy_common.c",
        "<(zstd_lib)/common/error_private.c",
        "<(zstd_lib)/common/fse_decompress.c",
        "<(zstd_lib)/common/pool.c",
        "<(zstd_lib)/common/threading.c",
        "<(zstd_lib)/common/xxhash.c",
        "<(zstd_lib)/common/zstd_common.c",
        "<(zstd_lib)/compress/fse_compress.c",
        "<(zstd_lib)/compress/hist.c",
        "<(zstd_lib)/compress/huf_compress.c",
        "<(zstd_lib)/compress/zstd_compress.c",
        "<(zstd_lib)/compress/zstd_compress_literals.c",
        "<(zstd_lib)/compress/zstd_compress_sequences.c",
        "<(zstd_lib)/compress/zstd_compress_superblock.c",
        "<(zstd_lib)/compress/zstd_double_fast.c",
        "<(zstd_lib)/compress/zstd_fast.c",
        "<(zstd_lib)/compress/zstd_lazy.c",
        "<(zstd_lib)/compress/zstd_ldm.c",
        "<(zstd_lib)/compress/zstd_opt.c",
        "<(zstd_lib)/compress/zstd_preSplit.c",
        "<(zstd_lib)/decompress/huf_decompress.c",
        "<(zstd_lib)/decompress/zstd_ddict.c",
        "<(zstd_lib)/decompress/zstd_decompress_block.c",
        "<(zstd_lib)/decompress/zstd_decompress.c"
      ],
      "include_dirs": ["<(blake3_c)", "<(zstd_lib)"],
      "defines": ["XXH_NAMESPACE=ZSTD_", "ZSTD_NO_TRACE", "ZSTDLIB_VISIBLE=", "ZSTDERRORLIB_VISIBLE="],
      "cflags": ["-O3", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "conditions": [
        ["target_arch == 'x64'", {
          "sources": [
            "<(blake3_c)/blake3_sse2_x86-64_unix.S",
            "<(blake3_c)/blake3_sse41_x86-64_unix.S",
            "<(blake3_c)/blake3_avx2_x86-64_unix.S",
            "<(blake3_c)/blake3_avx512_x86-64_unix.S",
            "<(zstd_lib)/decompress/huf_decompress_amd64.S"
          ]
        }, {
          "defines": ["BLAKE3_NO_SSE2", "BLAKE3_NO_SSE41", "BLAKE3_NO_AVX2", "BLAKE3_NO_AVX512", "ZSTD_DISABLE_ASM"]
        }]
      ]
    }
  ]
}
