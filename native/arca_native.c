/*
 * arca_native: what Node does not offer or offers slowly: extended attributes, a directory listed and
 * lstat-ed in one call, keyed BLAKE3 without an object per hash, the chunker's scan without copying the data.
 *
 *   listXattrs(path)              -> [name: Buffer, value: Buffer][]   llistxattr + lgetxattr (symlinks not followed)
 *   setXattr(path | fd, name, v)  -> undefined                         lsetxattr / fsetxattr
 *   scanDir(path)                 -> { names, stats, errors, invalid }  readdir + fstatat (symlinks not followed)
 *   scanDirAsync(path)            -> Promise of the same                on a libuv thread
 *   blake3KeyedInto(key, data, out)          -> undefined   keyed BLAKE3 of data into the 32 bytes of out
 *   findCut(gear, data, from, normal, to, maskS, maskL) -> n   the chunker's gear-hash scan (see chunker.ts)
 *   sealBatch(dataKey, level, input, jobs, salts, out, results, threads) -> Promise   objects sealed on a seal thread
 *   sealBatchSync(the same arguments)                                -> undefined the same on the calling thread
 *   openBatch(dataKey, chunkIdKey, input, jobs, places, paths, results, threads) -> Promise   chunks opened, verified
 *                                              and written (restore) or dropped (check) on a seal thread
 *
 * A file system without extended attributes (ENOTSUP) lists none. Other failures throw an Error carrying `code`
 * (the errno name), `errno`, `syscall` and `path`, as node:fs errors do.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>
#include "blake3.h"
#include <openssl/evp.h>
#include "zstd.h"
#include "zstd_errors.h"

#define PATH_BYTES 4096
#define NAME_BYTES 256

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case ENODATA: return "ENODATA";
    case ENOTSUP: return "ENOTSUP";
    case EDQUOT: return "EDQUOT";
    default: return "UNKNOWN";
  }
}

/* A node:fs-like error: message "CODE: text, syscall 'path'", with code, errno, syscall and path. */
static napi_value errno_error(napi_env env, int e, const char *syscall, const char *path) {
  char message[PATH_BYTES + 160];
  snprintf(message, sizeof message, "%s: %s, %s '%s'", errno_name(e), strerror(e), syscall, path);
  napi_value msg, code, err, num, sys, p;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &err);
  napi_create_int32(env, -e, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &p);
  napi_set_named_property(env, err, "errno", num);
  napi_set_named_property(env, err, "syscall", sys);
  napi_set_named_property(env, err, "path", p);
  return err;
}

/* Throws a node:fs-like error; always returns NULL for the caller to return. */
static napi_value throw_errno(napi_env env, int e, const char *syscall, const char *path) {
  napi_throw(env, errno_error(env, e, syscall, path));
  return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

/* Throws a TypeError "The "what" argument <expectation>"; returns 0 for the caller to return. */
static int fail_arg(napi_env env, const char *what, const char *expectation) {
  char m[160];
  snprintf(m, sizeof m, "The \"%s\" argument %s", what, expectation);
  throw_type(env, m);
  return 0;
}

/* Copies a JS string argument into buf; false (with a TypeError thrown) when it is not a string or too long. */
static int get_string(napi_env env, napi_value v, char *buf, size_t cap, const char *what) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) return fail_arg(env, what, "must be a string");
  if (len + 1 >= cap || strlen(buf) != len) return fail_arg(env, what, "is too long or contains NUL");
  return 1;
}

/* Reads a Buffer / Uint8Array argument; false (with a TypeError thrown) otherwise. */
static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *length, const char *what) {
  bool isTyped = false;
  napi_is_typedarray(env, v, &isTyped);
  napi_typedarray_type type = napi_int8_array;
  napi_value arrayBuffer;
  size_t offset;
  void *raw = NULL;
  if (isTyped) napi_get_typedarray_info(env, v, &type, length, &raw, &arrayBuffer, &offset);
  if (!isTyped || type != napi_uint8_array) return fail_arg(env, what, "must be a Buffer or Uint8Array");
  *data = raw;
  return 1;
}

static napi_value list_xattrs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  char path[PATH_BYTES];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !get_string(env, argv[0], path, sizeof path, "path")) return argc < 1 ? throw_type(env, "path is required") : NULL;
  napi_create_array(env, &result);

  char *names = NULL;
  ssize_t size;
  for (;;) {
    size = llistxattr(path, NULL, 0);
    if (size < 0) {
      if (errno == ENOTSUP) return result;
      return throw_errno(env, errno, "llistxattr", path);
    }
    if (size == 0) return result;
    char *grown = realloc(names, (size_t)size);
    if (grown == NULL) { free(names); return throw_errno(env, ENOMEM, "llistxattr", path); }
    names = grown;
    ssize_t got = llistxattr(path, names, (size_t)size);
    if (got >= 0) { size = got; break; }
    if (errno != ERANGE) { int e = errno; free(names); return throw_errno(env, e, "llistxattr", path); }
  }

  uint32_t index = 0;
  for (ssize_t at = 0; at < size;) {
    const char *name = names + at;
    size_t nameLen = strnlen(name, (size_t)(size - at));
    at += (ssize_t)nameLen + 1;
    if (nameLen == 0) continue;
    void *value = NULL;
    ssize_t valueLen;
    for (;;) {
      valueLen = lgetxattr(path, name, NULL, 0);
      if (valueLen < 0) break;
      void *grown = realloc(value, valueLen > 0 ? (size_t)valueLen : 1);
      if (grown == NULL) { free(value); free(names); return throw_errno(env, ENOMEM, "lgetxattr", path); }
      value = grown;
      ssize_t got = lgetxattr(path, name, value, (size_t)valueLen);
      if (got >= 0) { valueLen = got; break; }
      if (errno != ERANGE) { valueLen = -1; break; }
    }
    if (valueLen < 0) {
      int e = errno;
      free(value);
      if (e == ENODATA) continue; /* removed between the list and the read */
      free(names);
      return throw_errno(env, e, "lgetxattr", path);
    }
    napi_value pair, nameBuf, valueBuf;
    void *data;
    napi_create_buffer_copy(env, nameLen, name, &data, &nameBuf);
    napi_create_buffer_copy(env, (size_t)valueLen, valueLen > 0 ? value : "", &data, &valueBuf);
    free(value);
    napi_create_array_with_length(env, 2, &pair);
    napi_set_element(env, pair, 0, nameBuf);
    napi_set_element(env, pair, 1, valueBuf);
    napi_set_element(env, result, index++, pair);
  }
  free(names);
  return result;
}

static napi_value set_xattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char path[PATH_BYTES], name[NAME_BYTES];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_type(env, "setXattr(target, name, value) takes three arguments");
  napi_valuetype targetType;
  napi_typeof(env, argv[0], &targetType);
  int fd = -1;
  if (targetType == napi_number) {
    napi_get_value_int32(env, argv[0], &fd);
    if (fd < 0) return throw_type(env, "The \"fd\" argument must be a non-negative integer");
    snprintf(path, sizeof path, "fd %d", fd);
  } else if (!get_string(env, argv[0], path, sizeof path, "path")) return NULL;
  if (!get_string(env, argv[1], name, sizeof name, "name")) return NULL;
  uint8_t *value = NULL;
  size_t valueLen = 0;
  if (!get_bytes(env, argv[2], &value, &valueLen, "value")) return NULL;
  const void *bytes = valueLen > 0 ? (const void *)value : (const void *)"";
  int rc = fd >= 0 ? fsetxattr(fd, name, bytes, valueLen, 0) : lsetxattr(path, name, bytes, valueLen, 0);
  if (rc != 0) return throw_errno(env, errno, fd >= 0 ? "fsetxattr" : "lsetxattr", path);
  return NULL;
}

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int is_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) { i++; continue; }
    size_t len;
    unsigned int cp;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    i += len;
  }
  return 1;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

#define SCAN_FIELDS 9

/* One directory scan: filled by scan_run (any thread, no napi calls), turned into JS values by scan_result. */
typedef struct {
  char path[PATH_BYTES];
  char **names;
  size_t count;
  int64_t *stats;
  int32_t *errs;
  int err;
  const char *syscall;
  napi_deferred deferred;
  napi_async_work work;
} scan_job;

static void scan_free(scan_job *job) {
  for (size_t i = 0; i < job->count; i++) free(job->names[i]);
  free(job->names);
  free(job->stats);
  free(job->errs);
  free(job);
}

/* Lists job->path, sorts the names by their bytes, lstats each relative to the open directory. */
static void scan_run(scan_job *job) {
  DIR *dir = opendir(job->path);
  if (dir == NULL) { job->err = errno; job->syscall = "opendir"; return; }
  size_t cap = 64;
  job->names = malloc(cap * sizeof *job->names);
  if (job->names == NULL) { job->err = ENOMEM; job->syscall = "readdir"; closedir(dir); return; }
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(dir);
    if (e == NULL) {
      if (errno != 0) { job->err = errno; job->syscall = "readdir"; }
      break;
    }
    if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
    if (job->count == cap) {
      char **grown = realloc(job->names, 2 * cap * sizeof *job->names);
      if (grown != NULL) { job->names = grown; cap *= 2; }
    }
    char *copy = job->count < cap ? strdup(e->d_name) : NULL;
    if (copy == NULL) { job->err = ENOMEM; job->syscall = "readdir"; break; }
    job->names[job->count++] = copy;
  }
  if (job->err == 0) {
    qsort(job->names, job->count, sizeof *job->names, compare_names);
    job->stats = calloc(job->count * SCAN_FIELDS + 1, sizeof *job->stats);
    job->errs = calloc(job->count + 1, sizeof *job->errs);
    if (job->stats == NULL || job->errs == NULL) { job->err = ENOMEM; job->syscall = "scandir"; }
  }
  int fd = dirfd(dir);
  for (size_t i = 0; job->err == 0 && i < job->count; i++) {
    struct stat st;
    int64_t *f = job->stats + i * SCAN_FIELDS;
    if (fstatat(fd, job->names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
      job->errs[i] = errno;
      continue;
    }
    f[0] = st.st_mode;
    f[1] = st.st_uid;
    f[2] = st.st_gid;
    f[3] = st.st_size;
    f[4] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    f[5] = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    f[6] = (int64_t)st.st_ino;
    f[7] = (int64_t)st.st_dev;
    f[8] = (int64_t)st.st_nlink;
  }
  closedir(dir);
}

/*
 * The scan as { names, stats, errors, invalid } (see native-addon.ts), or a node:fs-like error when the
 * directory could not be opened or read.
 */
static napi_value scan_result(napi_env env, scan_job *job, bool *isError) {
  *isError = job->err != 0;
  if (*isError) return errno_error(env, job->err, job->syscall, job->path);
  napi_value result, nameList, invalidList, statsBuffer, stats, errorsBuffer, errors;
  void *statsData, *errorsData;
  napi_create_object(env, &result);
  napi_create_array(env, &nameList);
  napi_create_array(env, &invalidList);
  napi_create_arraybuffer(env, job->count * SCAN_FIELDS * sizeof(int64_t), &statsData, &statsBuffer);
  napi_create_arraybuffer(env, job->count * sizeof(int32_t), &errorsData, &errorsBuffer);
  int64_t *st64 = statsData;
  int32_t *errs = errorsData;
  uint32_t valid = 0, invalid = 0;
  for (size_t i = 0; i < job->count; i++) {
    size_t len = strlen(job->names[i]);
    napi_value value;
    if (!is_utf8((const unsigned char *)job->names[i], len)) {
      void *data;
      napi_create_buffer_copy(env, len, job->names[i], &data, &value);
      napi_set_element(env, invalidList, invalid++, value);
      continue;
    }
    napi_create_string_utf8(env, job->names[i], len, &value);
    napi_set_element(env, nameList, valid, value);
    memcpy(st64 + (size_t)valid * SCAN_FIELDS, job->stats + i * SCAN_FIELDS, SCAN_FIELDS * sizeof *st64);
    errs[valid] = job->errs[i];
    valid++;
  }
  napi_create_typedarray(env, napi_bigint64_array, (size_t)valid * SCAN_FIELDS, statsBuffer, 0, &stats);
  napi_create_typedarray(env, napi_int32_array, valid, errorsBuffer, 0, &errors);
  napi_set_named_property(env, result, "names", nameList);
  napi_set_named_property(env, result, "stats", stats);
  napi_set_named_property(env, result, "errors", errors);
  napi_set_named_property(env, result, "invalid", invalidList);
  return result;
}

/* A new job for the path argument, or NULL with a TypeError thrown. */
static scan_job *scan_job_from(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) { throw_type(env, "path is required"); return NULL; }
  scan_job *job = calloc(1, sizeof *job);
  if (job == NULL) { throw_errno(env, ENOMEM, "scandir", ""); return NULL; }
  if (!get_string(env, argv[0], job->path, sizeof job->path, "path")) { free(job); return NULL; }
  return job;
}

static napi_value scan_dir(napi_env env, napi_callback_info info) {
  scan_job *job = scan_job_from(env, info);
  if (job == NULL) return NULL;
  scan_run(job);
  bool isError;
  napi_value result = scan_result(env, job, &isError);
  scan_free(job);
  if (isError) { napi_throw(env, result); return NULL; }
  return result;
}

static void scan_execute(napi_env env, void *data) {
  (void)env;
  scan_run(data);
}

static void scan_complete(napi_env env, napi_status status, void *data) {
  scan_job *job = data;
  if (status != napi_ok && job->err == 0) { job->err = EINTR; job->syscall = "scandir"; }
  bool isError;
  napi_value result = scan_result(env, job, &isError);
  if (isError) napi_reject_deferred(env, job->deferred, result);
  else napi_resolve_deferred(env, job->deferred, result);
  napi_delete_async_work(env, job->work);
  scan_free(job);
}

/* scanDir on a libuv thread: a promise of the same result. */
static napi_value scan_dir_async(napi_env env, napi_callback_info info) {
  scan_job *job = scan_job_from(env, info);
  if (job == NULL) return NULL;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "arca:scanDir", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, scan_execute, scan_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

/* blake3KeyedInto(key (32 bytes), data, out (32 bytes)): the keyed hash, written into out. */
static napi_value blake3_keyed_into(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_type(env, "blake3KeyedInto(key, data, out) takes three arguments");
  uint8_t *key, *data, *out;
  size_t keyLength, dataLength, outLength;
  if (!get_bytes(env, argv[0], &key, &keyLength, "key") || !get_bytes(env, argv[1], &data, &dataLength, "data") ||
      !get_bytes(env, argv[2], &out, &outLength, "out")) return NULL;
  if (keyLength != BLAKE3_KEY_LEN) return throw_type(env, "The \"key\" argument must be 32 bytes");
  if (outLength != BLAKE3_OUT_LEN) return throw_type(env, "The \"out\" argument must be 32 bytes");
  blake3_hasher hasher;
  blake3_hasher_init_keyed(&hasher, key);
  blake3_hasher_update(&hasher, data, dataLength);
  blake3_hasher_finalize(&hasher, out, BLAKE3_OUT_LEN);
  return NULL;
}

#define GEAR_WARM_UP 31

/* Gear hash over data[from - 31, from) to warm up, then the index just past the first byte of [from, to) whose
 * hash has all `mask` bits zero, or -1. */
static int64_t scan_gear(const uint32_t *gear, const uint8_t *data, size_t from, size_t to, uint32_t mask) {
  uint32_t h = 0;
  size_t i = from - GEAR_WARM_UP;
  for (; i < from; i++) h = (h << 1) + gear[data[i]];
#define GEAR_STEP(k) h = (h << 1) + gear[data[i + k]]; if ((h & mask) == 0) return (int64_t)(i + k) + 1;
  for (; i + 8 <= to; i += 8) {
    GEAR_STEP(0) GEAR_STEP(1) GEAR_STEP(2) GEAR_STEP(3) GEAR_STEP(4) GEAR_STEP(5) GEAR_STEP(6) GEAR_STEP(7)
  }
#undef GEAR_STEP
  for (; i < to; i++) {
    h = (h << 1) + gear[data[i]];
    if ((h & mask) == 0) return (int64_t)i + 1;
  }
  return -1;
}

/* findCut(gear (Uint32Array of 256), data, from, normal, to, maskS, maskL): as CutFinder.findCut in chunker.ts. */
static napi_value find_cut(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7) return throw_type(env, "findCut(gear, data, from, normal, to, maskS, maskL) takes seven arguments");
  bool isTyped = false;
  napi_is_typedarray(env, argv[0], &isTyped);
  napi_typedarray_type gearType = napi_int8_array;
  size_t gearLength = 0, offset;
  void *gearData = NULL;
  napi_value arrayBuffer;
  if (isTyped) napi_get_typedarray_info(env, argv[0], &gearType, &gearLength, &gearData, &arrayBuffer, &offset);
  if (!isTyped || gearType != napi_uint32_array || gearLength != 256) return throw_type(env, "The \"gear\" argument must be a Uint32Array of 256 entries");
  uint8_t *data;
  size_t length;
  if (!get_bytes(env, argv[1], &data, &length, "data")) return NULL;
  int64_t from, normal, to;
  uint32_t maskS, maskL;
  if (napi_get_value_int64(env, argv[2], &from) != napi_ok || napi_get_value_int64(env, argv[3], &normal) != napi_ok ||
      napi_get_value_int64(env, argv[4], &to) != napi_ok || napi_get_value_uint32(env, argv[5], &maskS) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &maskL) != napi_ok) return throw_type(env, "findCut: from, normal, to and the masks must be numbers");
  if (from < GEAR_WARM_UP || from > normal || normal > to || (uint64_t)to > length) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "findCut: requires 31 <= from <= normal <= to <= data.length");
    return NULL;
  }
  int64_t cut = scan_gear(gearData, data, (size_t)from, (size_t)normal, maskS);
  if (cut < 0 && normal < to) cut = scan_gear(gearData, data, (size_t)normal, (size_t)to, maskL);
  napi_create_int64(env, cut, &result);
  return result;
}

/*
 * Sealing a batch of objects, as sealParts in src/dedup/seal.ts does one at a time (DESIGN.md, "Sealed objects"):
 *   out      = header | salt (16) | AES-256-GCM(key, zero nonce, aad, plaintext) | tag (16)
 *   plaintext= compression (u8) | rawLength (u32 LE) | bodyLength (u32 LE) | body | zeros to padmeLength(9 + bodyLength)
 *   key      = keyed BLAKE3(dataKey, salt), aad = "arca/object/v1" | id | header
 * with the same choice of compression as compressChunk in src/dedup/compression.ts. AES-GCM is OpenSSL's, as
 * exported by the node binary (the same code node:crypto runs); zstd is the library zstd-napi ships.
 */
#define SALT_BYTES 16
#define TAG_BYTES 16
#define SEAL_HEADER_BYTES 9
#define SAMPLE_BYTES (32 * 1024)
#define MIN_COMPRESS_BYTES 128
#define JOB_FIELDS 4
#define RESULT_FIELDS 3
static const char AAD_PREFIX[] = "arca/object/v1";
static const uint8_t ZERO_NONCE[12] = { 0 };
static const uint8_t ZERO_BLOCK[4096] = { 0 };

/* Per thread (the JS thread and each seal thread that runs a batch): the zstd and cipher contexts. */
static __thread ZSTD_CCtx *cctx_main = NULL;
static __thread int cctx_main_level = -1000;
static __thread ZSTD_CCtx *cctx_sample = NULL;
static __thread EVP_CIPHER_CTX *cipher_ctx = NULL;

/* As padmeLength in src/dedup/padme.ts. */
static uint64_t padme_length(uint64_t length) {
  if (length < 2) return length;
  int e = 63 - __builtin_clzll(length);
  int s = (31 - __builtin_clz((unsigned)e)) + 1;
  int lastBits = e - s;
  if (lastBits <= 0) return length;
  uint64_t mask = ((uint64_t)1 << lastBits) - 1;
  return (length + mask) & ~mask;
}

/* zstd of src into dst[0, capacity): its length; SIZE_MAX when it does not fit (it does not pay then); 0 with
 * *error set on any other failure. */
static size_t compress_into(ZSTD_CCtx **ctx, int *ctxLevel, int level, uint8_t *dst, size_t capacity, const uint8_t *src, size_t length, const char **error) {
  if (*ctx == NULL && (*ctx = ZSTD_createCCtx()) == NULL) { *error = "cannot create a zstd context"; return 0; }
  if (*ctxLevel != level) {
    if (ZSTD_isError(ZSTD_CCtx_setParameter(*ctx, ZSTD_c_compressionLevel, level))) { *error = "invalid zstd level"; return 0; }
    *ctxLevel = level;
  }
  size_t n = ZSTD_compress2(*ctx, dst, capacity, src, length);
  if (ZSTD_isError(n)) {
    if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) return SIZE_MAX;
    *error = ZSTD_getErrorName(n);
    return 0;
  }
  return n;
}

/*
 * The same choice as compressChunk: *alg 1 and the body compressed into dst (which holds at least `length` bytes and
 * is also the sample's scratch space), or *alg 0 and the data itself. Compressing straight into the output keeps no
 * buffer per thread (one of 8 MiB, for the largest chunk, cost each seal thread's malloc arena that much). With room
 * for zstd's bound (sealingRoom in src/dedup/seal.ts) the body is the one compressChunk makes; with less, zstd may
 * end a block raw where it ran short, which is still a valid body.
 */
static const uint8_t *choose_body(int level, const uint8_t *data, size_t length, uint8_t *dst, size_t dstCapacity, uint8_t *alg, size_t *bodyLength, const char **error) {
  static __thread int sampleLevel = -1000;
  *alg = 0;
  *bodyLength = length;
  if (length < MIN_COMPRESS_BYTES) return data;
  if (length > 4 * SAMPLE_BYTES) {
    size_t start = length / 2 - SAMPLE_BYTES / 2;
    size_t n = compress_into(&cctx_sample, &sampleLevel, 1, dst, dstCapacity, data + start, SAMPLE_BYTES, error);
    if (*error != NULL) return NULL;
    if (n == SIZE_MAX || (double)n > (double)SAMPLE_BYTES * (1 - 0.03)) return data;
  }
  size_t packed = compress_into(&cctx_main, &cctx_main_level, level, dst, dstCapacity, data, length, error);
  if (*error != NULL) return NULL;
  if (packed == SIZE_MAX || (double)packed > (double)length * (1 - 0.03)) return data;
  *alg = 1;
  *bodyLength = packed;
  return dst;
}

static int gcm_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t length) {
  while (length > 0) {
    int piece = length > (1 << 30) ? (1 << 30) : (int)length, written = 0;
    if (EVP_EncryptUpdate(ctx, out, &written, in, piece) != 1 || written != piece) return 0;
    out += piece;
    in += piece;
    length -= (size_t)piece;
  }
  return 1;
}

/* Seals one object into out[0, capacity): its sealed length, or 0 with *error set. */
static size_t seal_one(const uint8_t *dataKey, int level, const uint8_t *id, size_t idLength, const uint8_t *header,
                       size_t headerLength, const uint8_t *data, size_t length, const uint8_t *salt, uint8_t *out,
                       size_t capacity, size_t *compressedBytes, const char **error) {
  if (length > 0xffffffffu) { *error = "object too large to seal"; return 0; }
  size_t bodyAt = headerLength + SALT_BYTES + SEAL_HEADER_BYTES;
  if (capacity < bodyAt + length + TAG_BYTES) { *error = "output buffer too small for a sealed object"; return 0; }
  uint8_t alg;
  size_t bodyLength;
  /* a compressed body lands where it is encrypted in place (AES-GCM allows in == out) */
  const uint8_t *body = choose_body(level, data, length, out + bodyAt, capacity - bodyAt - TAG_BYTES, &alg, &bodyLength, error);
  if (*error != NULL) return 0;
  uint64_t padded = padme_length(SEAL_HEADER_BYTES + bodyLength);
  uint64_t total = headerLength + SALT_BYTES + padded + TAG_BYTES;
  if (total > capacity) { *error = "output buffer too small for a sealed object"; return 0; }
  uint8_t key[BLAKE3_OUT_LEN];
  blake3_hasher hasher;
  blake3_hasher_init_keyed(&hasher, dataKey);
  blake3_hasher_update(&hasher, salt, SALT_BYTES);
  blake3_hasher_finalize(&hasher, key, BLAKE3_OUT_LEN);
  if (cipher_ctx == NULL && (cipher_ctx = EVP_CIPHER_CTX_new()) == NULL) { *error = "cannot create a cipher context"; return 0; }
  EVP_CIPHER_CTX *ctx = cipher_ctx;
  int ignored = 0;
  uint8_t head[SEAL_HEADER_BYTES] = { alg,
    (uint8_t)length, (uint8_t)(length >> 8), (uint8_t)(length >> 16), (uint8_t)(length >> 24),
    (uint8_t)bodyLength, (uint8_t)(bodyLength >> 8), (uint8_t)(bodyLength >> 16), (uint8_t)(bodyLength >> 24) };
  memcpy(out, header, headerLength);
  memcpy(out + headerLength, salt, SALT_BYTES);
  uint8_t *cipherText = out + headerLength + SALT_BYTES;
  int ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, ZERO_NONCE) == 1 &&
           EVP_EncryptUpdate(ctx, NULL, &ignored, (const uint8_t *)AAD_PREFIX, (int)(sizeof AAD_PREFIX - 1)) == 1 &&
           EVP_EncryptUpdate(ctx, NULL, &ignored, id, (int)idLength) == 1 &&
           (headerLength == 0 || EVP_EncryptUpdate(ctx, NULL, &ignored, header, (int)headerLength) == 1) &&
           gcm_update(ctx, cipherText, head, SEAL_HEADER_BYTES) &&
           gcm_update(ctx, cipherText + SEAL_HEADER_BYTES, body, bodyLength);
  size_t at = SEAL_HEADER_BYTES + bodyLength;
  while (ok && at < padded) {
    size_t piece = padded - at > sizeof ZERO_BLOCK ? sizeof ZERO_BLOCK : padded - at;
    ok = gcm_update(ctx, cipherText + at, ZERO_BLOCK, piece);
    at += piece;
  }
  ok = ok && EVP_EncryptFinal_ex(ctx, cipherText + padded, &ignored) == 1 && ignored == 0 &&
       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, cipherText + padded) == 1;
  memset(key, 0, sizeof key);
  if (!ok) { *error = "AES-256-GCM encryption failed"; return 0; }
  *compressedBytes = bodyLength;
  return (size_t)total;
}

/*
 * Seal threads: a process-wide FIFO of batches (tasks) served by threads of their own, started on demand, so that
 * a thread goes on to the next batch without waiting for the JavaScript thread to hand it over (as a libuv work
 * item would: queued batches would wait while the main thread reads files). Each task settles its promise through
 * a thread-safe function of its own, which also keeps the event loop alive until then.
 */
#define MAX_SEAL_THREADS 8
#define MAX_TASK_REFS 8

typedef struct task {
  struct task *next;
  napi_threadsafe_function done;
  napi_deferred deferred;
  napi_ref refs[MAX_TASK_REFS];
  int refCount;
  void (*run)(struct task *);
  void (*cleanup)(struct task *);
  const char *error;
} task;

static pthread_mutex_t task_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t task_ready = PTHREAD_COND_INITIALIZER;
static task *task_head = NULL, *task_tail = NULL;
static int task_threads = 0;

static void *task_thread(void *unused) {
  (void)unused;
  for (;;) {
    pthread_mutex_lock(&task_lock);
    while (task_head == NULL) pthread_cond_wait(&task_ready, &task_lock);
    task *t = task_head;
    task_head = t->next;
    if (task_head == NULL) task_tail = NULL;
    pthread_mutex_unlock(&task_lock);
    t->run(t);
    napi_threadsafe_function done = t->done; /* t may be freed on the JavaScript thread as soon as it is called */
    napi_call_threadsafe_function(done, t, napi_tsfn_nonblocking);
    napi_release_threadsafe_function(done, napi_tsfn_release);
  }
  return NULL;
}

/* On the JavaScript thread: settles the task's promise and frees it. */
static void task_settle(napi_env env, napi_value callback, void *context, void *data) {
  (void)callback;
  (void)context;
  task *t = data;
  if (env != NULL) {
    if (t->error != NULL) {
      napi_value message, err;
      napi_create_string_utf8(env, t->error, NAPI_AUTO_LENGTH, &message);
      napi_create_error(env, NULL, message, &err);
      napi_reject_deferred(env, t->deferred, err);
    } else {
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      napi_resolve_deferred(env, t->deferred, undefined);
    }
    for (int i = 0; i < t->refCount; i++) napi_delete_reference(env, t->refs[i]);
  }
  t->cleanup(t);
}

/* Queues t (run, cleanup and its own fields set) for the task threads, starting them until `threads` run, and keeps
 * `keep` alive until it settles; the promise, or NULL with an error thrown (t is then cleaned up). */
static napi_value task_queue(napi_env env, task *t, const char *name, napi_value *keep, int keepCount, napi_value threadsArg) {
  int32_t threads = 2;
  if (threadsArg != NULL && (napi_get_value_int32(env, threadsArg, &threads) != napi_ok || threads < 1 || threads > MAX_SEAL_THREADS)) {
    t->cleanup(t);
    return throw_type(env, "The \"threads\" argument must be a number from 1 to 8");
  }
  napi_value promise, resource;
  napi_create_promise(env, &t->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  if (napi_create_threadsafe_function(env, NULL, NULL, resource, 0, 1, NULL, NULL, NULL, task_settle, &t->done) != napi_ok) {
    t->cleanup(t);
    return throw_errno(env, ENOMEM, name, "");
  }
  for (int i = 0; i < keepCount; i++) napi_create_reference(env, keep[i], 1, &t->refs[i]);
  t->refCount = keepCount;
  pthread_mutex_lock(&task_lock);
  while (task_threads < threads) {
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, task_thread, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) break;
    task_threads++;
  }
  if (task_threads == 0) {
    pthread_mutex_unlock(&task_lock);
    napi_threadsafe_function done = t->done;
    t->error = "cannot start a seal thread";
    task_settle(env, NULL, NULL, t);
    napi_release_threadsafe_function(done, napi_tsfn_release);
    return promise;
  }
  t->next = NULL;
  if (task_tail != NULL) task_tail->next = t;
  else task_head = t;
  task_tail = t;
  pthread_cond_signal(&task_ready);
  pthread_mutex_unlock(&task_lock);
  return promise;
}

typedef struct seal_batch {
  task base;
  uint8_t dataKey[BLAKE3_KEY_LEN];
  int level;
  const uint8_t *input;
  size_t inputLength;
  const int32_t *jobs;
  size_t jobCount;
  const uint8_t *salts;
  uint8_t *out;
  size_t outLength;
  int32_t *results;
} seal_batch;

static void seal_batch_run(task *t) {
  seal_batch *b = (seal_batch *)t;
  size_t at = 0;
  for (size_t i = 0; i < b->jobCount && t->error == NULL; i++) {
    const int32_t *j = b->jobs + i * JOB_FIELDS;
    const uint8_t *id = b->input + j[0];
    size_t compressed = 0;
    size_t n = seal_one(b->dataKey, b->level, id, (size_t)j[1], id + j[1], (size_t)j[2], id + j[1] + j[2], (size_t)j[3],
                        b->salts + i * SALT_BYTES, b->out + at, b->outLength - at, &compressed, &t->error);
    if (t->error != NULL) break;
    int32_t *r = b->results + i * RESULT_FIELDS;
    r[0] = (int32_t)at;
    r[1] = (int32_t)n;
    r[2] = (int32_t)compressed;
    at += n;
  }
}

static void seal_batch_cleanup(task *t) {
  seal_batch *b = (seal_batch *)t;
  memset(b->dataKey, 0, sizeof b->dataKey);
  free(b);
}

/* A typed array's bytes, element type and count, or 0 with a TypeError thrown. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *count, const char *what, const char *expectation) {
  bool isTyped = false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_is_typedarray(env, v, &isTyped) != napi_ok || !isTyped ||
      napi_get_typedarray_info(env, v, &type, count, data, &buffer, &offset) != napi_ok || type != want) return fail_arg(env, what, expectation);
  return 1;
}

/* Checks the arguments of sealBatch and fills b; 0 with a TypeError or RangeError thrown. */
static int seal_batch_from(napi_env env, napi_callback_info info, seal_batch *b, napi_value argv[8], size_t *argcOut) {
  size_t argc = 8;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  *argcOut = argc;
  if (argc < 7) { throw_type(env, "sealBatch(dataKey, level, input, jobs, salts, out, results) takes seven arguments"); return 0; }
  uint8_t *key, *salts, *out, *input;
  size_t keyLength, saltsLength, jobCount, resultCount;
  int32_t level;
  void *jobs, *results;
  if (!get_bytes(env, argv[0], &key, &keyLength, "dataKey")) return 0;
  if (keyLength != BLAKE3_KEY_LEN) { throw_type(env, "The \"dataKey\" argument must be 32 bytes"); return 0; }
  if (napi_get_value_int32(env, argv[1], &level) != napi_ok) { throw_type(env, "The \"level\" argument must be a zstd level"); return 0; }
  if (!get_bytes(env, argv[2], &input, &b->inputLength, "input") ||
      !get_typed(env, argv[3], napi_int32_array, &jobs, &jobCount, "jobs", "must be an Int32Array") ||
      !get_bytes(env, argv[4], &salts, &saltsLength, "salts") || !get_bytes(env, argv[5], &out, &b->outLength, "out") ||
      !get_typed(env, argv[6], napi_int32_array, &results, &resultCount, "results", "must be an Int32Array")) return 0;
  if (jobCount % JOB_FIELDS != 0) { throw_type(env, "The \"jobs\" argument must hold 4 numbers per job"); return 0; }
  b->jobCount = jobCount / JOB_FIELDS;
  if (saltsLength != b->jobCount * SALT_BYTES || resultCount != b->jobCount * RESULT_FIELDS) {
    throw_type(env, "sealBatch: salts must hold 16 bytes and results 3 numbers per job");
    return 0;
  }
  const int32_t *j = jobs;
  for (size_t i = 0; i < b->jobCount; i++, j += JOB_FIELDS) {
    if (j[0] < 0 || j[1] < 0 || j[2] < 0 || j[3] < 0 || (uint64_t)j[0] + (uint64_t)j[1] + (uint64_t)j[2] + (uint64_t)j[3] > b->inputLength) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sealBatch: a job lies outside the input");
      return 0;
    }
  }
  memcpy(b->dataKey, key, BLAKE3_KEY_LEN);
  b->level = level;
  b->input = input;
  b->jobs = jobs;
  b->salts = salts;
  b->out = out;
  b->results = results;
  return 1;
}

static napi_value seal_batch_sync(napi_env env, napi_callback_info info) {
  seal_batch b;
  memset(&b, 0, sizeof b);
  napi_value argv[8];
  size_t argc;
  if (!seal_batch_from(env, info, &b, argv, &argc)) return NULL;
  seal_batch_run(&b.base);
  memset(b.dataKey, 0, sizeof b.dataKey);
  if (b.base.error != NULL) napi_throw_error(env, "ERR_SEAL", b.base.error);
  return NULL;
}

/* sealBatch(..., threads): queued for the task threads, `threads` of which are running once it returns. The
 * arrays stay referenced until the promise settles; the caller must not touch them meanwhile. */
static napi_value seal_batch_async(napi_env env, napi_callback_info info) {
  seal_batch *b = calloc(1, sizeof *b);
  if (b == NULL) return throw_errno(env, ENOMEM, "sealBatch", "");
  b->base.run = seal_batch_run;
  b->base.cleanup = seal_batch_cleanup;
  napi_value argv[8];
  size_t argc;
  if (!seal_batch_from(env, info, b, argv, &argc)) { free(b); return NULL; }
  napi_value keep[6] = { argv[0], argv[2], argv[3], argv[4], argv[5], argv[6] };
  return task_queue(env, &b->base, "arca:sealBatch", keep, 6, argc >= 8 ? argv[7] : NULL);
}

/*
 * Opening a batch of chunks for restore (written to a file) or check (verified, then dropped), as runJob in
 * src/repo/seal-pool.ts does with openObject: the envelope is read from a pack file (pread) or taken from the
 * input, must be a chunk's, decrypts (AES-256-GCM with the tag checked), decompresses to its recorded length and
 * hashes (keyed BLAKE3 with the chunk-id key) to its id; then it is written with pwrite unless all zeros (left as
 * a hole). A job that fails any of this is marked failed and nothing of it is written: the caller runs it again
 * in JavaScript, which gives the error its exact code and message.
 *
 *   jobs    Int32Array, 6 per job: id offset in input, envelope offset in input, envelope length (when read from a
 *           file: its length there), path index (-1: the envelope is in the input), fd (-2: discard), 0
 *   places  Float64Array, 2 per job: file offset of the envelope, write position
 *   results Int32Array, 3 per job: status (0 done, 1 failed), plaintext bytes, written (0/1)
 */
#define OPEN_FIELDS 6
#define OPEN_RESULT_FIELDS 3
#define MAX_OPEN_ENVELOPE (64 * 1024 * 1024)
#define MAX_PACK_FDS 64
#define CHUNK_ENVELOPE_HEADER 6

typedef struct open_batch {
  task base;
  uint8_t dataKey[BLAKE3_KEY_LEN];
  uint8_t chunkIdKey[BLAKE3_KEY_LEN];
  const uint8_t *input;
  size_t inputLength;
  const int32_t *jobs;
  const double *places;
  size_t jobCount;
  char **paths;
  size_t pathCount;
  int32_t *results;
} open_batch;

/* Per thread: open pack files (oldest closed first) and buffers for the envelope, the decrypted and the
 * decompressed bytes, grown as needed and kept. */
static __thread struct { char *path; int fd; } pack_fds[MAX_PACK_FDS];
static __thread int pack_fd_count = 0;
static __thread uint8_t *open_buffers[3] = { NULL, NULL, NULL };
static __thread size_t open_capacity[3] = { 0, 0, 0 };
static __thread ZSTD_DCtx *dctx = NULL;
static __thread EVP_CIPHER_CTX *decipher_ctx = NULL;

static uint8_t *open_buffer(int which, size_t length) {
  if (open_capacity[which] < length) {
    size_t capacity = length < 1024 * 1024 ? 1024 * 1024 : length;
    free(open_buffers[which]);
    open_buffers[which] = malloc(capacity);
    open_capacity[which] = open_buffers[which] == NULL ? 0 : capacity;
  }
  return open_buffers[which];
}

static int pack_fd(const char *path) {
  for (int i = 0; i < pack_fd_count; i++) if (strcmp(pack_fds[i].path, path) == 0) return pack_fds[i].fd;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char *copy = strdup(path);
  if (copy == NULL) { close(fd); return -1; }
  if (pack_fd_count == MAX_PACK_FDS) {
    close(pack_fds[0].fd);
    free(pack_fds[0].path);
    memmove(pack_fds, pack_fds + 1, sizeof pack_fds[0] * (MAX_PACK_FDS - 1));
    pack_fd_count--;
  }
  pack_fds[pack_fd_count].path = copy;
  pack_fds[pack_fd_count].fd = fd;
  pack_fd_count++;
  return fd;
}

/* pread (isWrite 0) or pwrite (1) of all `length` bytes at `offset`, retried on EINTR and short transfers; 1 when done. */
static int transfer_fully(int fd, uint8_t *buf, size_t length, off_t offset, int isWrite) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = isWrite ? pwrite(fd, buf + done, length - done, offset + (off_t)done) : pread(fd, buf + done, length - done, offset + (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    done += (size_t)n;
  }
  return 1;
}

static int all_zeros(const uint8_t *p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w != 0) return 0;
  }
  for (; i < n; i++) if (p[i] != 0) return 0;
  return 1;
}

/* Opens one chunk; 1 with *plainBytes and *written set, or 0 (failed, nothing written). */
static int open_one(open_batch *b, const int32_t *j, const double *place, int32_t *plainBytes, int32_t *written) {
  const uint8_t *id = b->input + j[0];
  size_t length = (size_t)j[2];
  const uint8_t *envelope;
  if (j[3] < 0) envelope = b->input + j[1];
  else {
    if (length > MAX_OPEN_ENVELOPE) return 0;
    int fd = pack_fd(b->paths[j[3]]);
    uint8_t *buf = open_buffer(0, length);
    if (fd < 0 || buf == NULL || !transfer_fully(fd, buf, length, (off_t)place[0], 0)) return 0;
    envelope = buf;
  }
  /* a chunk's envelope: version 1, kind 1, no references, then salt | ciphertext | tag */
  if (length < CHUNK_ENVELOPE_HEADER + SALT_BYTES + SEAL_HEADER_BYTES + TAG_BYTES || envelope[0] != 1 || envelope[1] != 1 ||
      envelope[2] != 0 || envelope[3] != 0 || envelope[4] != 0 || envelope[5] != 0) return 0;
  const uint8_t *salt = envelope + CHUNK_ENVELOPE_HEADER;
  const uint8_t *cipherText = salt + SALT_BYTES;
  size_t cipherLength = length - CHUNK_ENVELOPE_HEADER - SALT_BYTES - TAG_BYTES;
  uint8_t *plain = open_buffer(1, cipherLength);
  if (plain == NULL) return 0;
  uint8_t key[BLAKE3_OUT_LEN];
  blake3_hasher hasher;
  blake3_hasher_init_keyed(&hasher, b->dataKey);
  blake3_hasher_update(&hasher, salt, SALT_BYTES);
  blake3_hasher_finalize(&hasher, key, BLAKE3_OUT_LEN);
  if (decipher_ctx == NULL && (decipher_ctx = EVP_CIPHER_CTX_new()) == NULL) return 0;
  EVP_CIPHER_CTX *ctx = decipher_ctx;
  int n = 0;
  int ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, ZERO_NONCE) == 1 &&
           EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)AAD_PREFIX, (int)(sizeof AAD_PREFIX - 1)) == 1 &&
           EVP_DecryptUpdate(ctx, NULL, &n, id, BLAKE3_OUT_LEN) == 1 &&
           EVP_DecryptUpdate(ctx, NULL, &n, envelope, CHUNK_ENVELOPE_HEADER) == 1 &&
           cipherLength <= 0x7fffffff && EVP_DecryptUpdate(ctx, plain, &n, cipherText, (int)cipherLength) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, (void *)(cipherText + cipherLength)) == 1 &&
           EVP_DecryptFinal_ex(ctx, plain + cipherLength, &n) == 1;
  memset(key, 0, sizeof key);
  if (!ok) return 0;
  uint8_t alg = plain[0];
  size_t rawLength = (size_t)plain[1] | (size_t)plain[2] << 8 | (size_t)plain[3] << 16 | (size_t)plain[4] << 24;
  size_t bodyLength = (size_t)plain[5] | (size_t)plain[6] << 8 | (size_t)plain[7] << 16 | (size_t)plain[8] << 24;
  if (SEAL_HEADER_BYTES + bodyLength > cipherLength || rawLength > 0x7fffffff) return 0;
  const uint8_t *body = plain + SEAL_HEADER_BYTES;
  const uint8_t *data;
  if (alg == 0) {
    if (bodyLength != rawLength) return 0;
    data = body;
  } else if (alg == 1) {
    uint8_t *raw = open_buffer(2, rawLength);
    if (raw == NULL) return 0;
    if (dctx == NULL && (dctx = ZSTD_createDCtx()) == NULL) return 0;
    size_t got = ZSTD_decompressDCtx(dctx, raw, rawLength, body, bodyLength);
    if (ZSTD_isError(got) || got != rawLength) return 0;
    data = raw;
  } else return 0;
  uint8_t actual[BLAKE3_OUT_LEN];
  blake3_hasher_init_keyed(&hasher, b->chunkIdKey);
  blake3_hasher_update(&hasher, data, rawLength);
  blake3_hasher_finalize(&hasher, actual, BLAKE3_OUT_LEN);
  if (memcmp(actual, id, BLAKE3_OUT_LEN) != 0) return 0;
  *plainBytes = (int32_t)rawLength;
  *written = 0;
  if (j[4] >= 0 && !all_zeros(data, rawLength)) {
    if (!transfer_fully(j[4], (uint8_t *)data, rawLength, (off_t)place[1], 1)) return 0;
    *written = 1;
  }
  return 1;
}

static void open_batch_run(task *t) {
  open_batch *b = (open_batch *)t;
  for (size_t i = 0; i < b->jobCount; i++) {
    int32_t *r = b->results + i * OPEN_RESULT_FIELDS;
    r[1] = 0;
    r[2] = 0;
    r[0] = open_one(b, b->jobs + i * OPEN_FIELDS, b->places + i * 2, &r[1], &r[2]) ? 0 : 1;
  }
}

static void open_batch_cleanup(task *t) {
  open_batch *b = (open_batch *)t;
  for (size_t i = 0; i < b->pathCount; i++) free(b->paths[i]);
  free(b->paths);
  memset(b->dataKey, 0, sizeof b->dataKey);
  memset(b->chunkIdKey, 0, sizeof b->chunkIdKey);
  free(b);
}

/* openBatch(dataKey, chunkIdKey, input, jobs, places, paths, results, threads) -> Promise: see above. */
static napi_value open_batch_async(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8) return throw_type(env, "openBatch(dataKey, chunkIdKey, input, jobs, places, paths, results, threads) takes eight arguments");
  open_batch *b = calloc(1, sizeof *b);
  if (b == NULL) return throw_errno(env, ENOMEM, "openBatch", "");
  b->base.run = open_batch_run;
  b->base.cleanup = open_batch_cleanup;
  uint8_t *dataKey, *chunkIdKey, *input;
  size_t dataKeyLength, chunkIdKeyLength, jobCount, placeCount, resultCount;
  void *jobs, *places, *results;
  uint32_t pathCount = 0;
  bool isArray = false;
  if (!get_bytes(env, argv[0], &dataKey, &dataKeyLength, "dataKey") || !get_bytes(env, argv[1], &chunkIdKey, &chunkIdKeyLength, "chunkIdKey") ||
      !get_bytes(env, argv[2], &input, &b->inputLength, "input") ||
      !get_typed(env, argv[3], napi_int32_array, &jobs, &jobCount, "jobs", "must be an Int32Array") ||
      !get_typed(env, argv[4], napi_float64_array, &places, &placeCount, "places", "must be a Float64Array") ||
      !get_typed(env, argv[6], napi_int32_array, &results, &resultCount, "results", "must be an Int32Array")) { open_batch_cleanup(&b->base); return NULL; }
  if (dataKeyLength != BLAKE3_KEY_LEN || chunkIdKeyLength != BLAKE3_KEY_LEN) { open_batch_cleanup(&b->base); return throw_type(env, "openBatch: the keys must be 32 bytes"); }
  if (napi_is_array(env, argv[5], &isArray) != napi_ok || !isArray) { open_batch_cleanup(&b->base); return throw_type(env, "The \"paths\" argument must be an array of strings"); }
  napi_get_array_length(env, argv[5], &pathCount);
  b->jobCount = jobCount / OPEN_FIELDS;
  if (jobCount % OPEN_FIELDS != 0 || placeCount != b->jobCount * 2 || resultCount != b->jobCount * OPEN_RESULT_FIELDS) {
    open_batch_cleanup(&b->base);
    return throw_type(env, "openBatch: jobs must hold 6 numbers, places 2 and results 3 per job");
  }
  b->paths = calloc(pathCount == 0 ? 1 : pathCount, sizeof(char *));
  if (b->paths == NULL) { open_batch_cleanup(&b->base); return throw_errno(env, ENOMEM, "openBatch", ""); }
  for (uint32_t i = 0; i < pathCount; i++) {
    napi_value item;
    char path[PATH_BYTES];
    napi_get_element(env, argv[5], i, &item);
    if (!get_string(env, item, path, sizeof path, "paths")) { open_batch_cleanup(&b->base); return NULL; }
    b->paths[i] = strdup(path);
    b->pathCount = i + 1;
    if (b->paths[i] == NULL) { open_batch_cleanup(&b->base); return throw_errno(env, ENOMEM, "openBatch", ""); }
  }
  const int32_t *j = jobs;
  for (size_t i = 0; i < b->jobCount; i++, j += OPEN_FIELDS) {
    int inInput = j[3] < 0;
    if (j[0] < 0 || (uint64_t)j[0] + BLAKE3_OUT_LEN > b->inputLength || j[2] < 0 || j[3] >= (int32_t)pathCount ||
        (inInput && (j[1] < 0 || (uint64_t)j[1] + (uint64_t)j[2] > b->inputLength)) || j[4] < -2 || j[4] == -1) {
      open_batch_cleanup(&b->base);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "openBatch: a job lies outside the input or names no path or target");
      return NULL;
    }
  }
  memcpy(b->dataKey, dataKey, BLAKE3_KEY_LEN);
  memcpy(b->chunkIdKey, chunkIdKey, BLAKE3_KEY_LEN);
  b->input = input;
  b->jobs = jobs;
  b->places = places;
  b->results = results;
  napi_value keep[4] = { argv[2], argv[3], argv[4], argv[6] };
  return task_queue(env, &b->base, "arca:openBatch", keep, 4, argv[7]);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "listXattrs", NULL, list_xattrs, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setXattr", NULL, set_xattr, NULL, NULL, NULL, napi_enumerable, NULL },
    { "scanDir", NULL, scan_dir, NULL, NULL, NULL, napi_enumerable, NULL },
    { "scanDirAsync", NULL, scan_dir_async, NULL, NULL, NULL, napi_enumerable, NULL },
    { "blake3KeyedInto", NULL, blake3_keyed_into, NULL, NULL, NULL, napi_enumerable, NULL },
    { "findCut", NULL, find_cut, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sealBatch", NULL, seal_batch_async, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sealBatchSync", NULL, seal_batch_sync, NULL, NULL, NULL, napi_enumerable, NULL },
    { "openBatch", NULL, open_batch_async, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
