{
  "targets": [
    {
      "target_name": "arca_native",
      "sources": ["native/arca_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
