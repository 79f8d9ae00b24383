// A PJRT plugin that forwards to XLA's CPU plugin, minus the client options the CPU plugin rejects.
//
// go-xla v0.4.0 (compute/xla) always passes the client option "preallocate" (a GPU allocator option);
// XLA's CPU plugin from jaxlib 0.11.x validates option names and fails with "Unexpected option name
// passed to PJRT_Client_Create: preallocate". This shim is what go-xla loads as
// pjrt_c_api_cpu_plugin.so: GetPjrtApi dlopen()s the real plugin (REAL_NAME, in the same folder),
// copies its PJRT_Api table and replaces only PJRT_Client_Create by a wrapper that drops the GPU-only
// options before calling the real one. Every other entry is the real plugin's own function.
// Built by scripts/install-xla.sh against go-xla's pjrt_c_api.h (fields are only ever appended to
// PJRT_Api, so the offset of PJRT_Client_Create is the same in the plugin's newer table).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pjrt_c_api.h"

#ifndef REAL_NAME
#error "define REAL_NAME, the real plugin's file name in the shim's folder"
#endif

static const PJRT_Api* real_api;
static PJRT_Api* shim_api;

static int gpu_only(const PJRT_NamedValue* v) {
  static const char* names[] = {"preallocate", "memory_fraction", "allocator", "visible_devices",
                                "use_tfrt_gpu_client"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (v->name_size == strlen(names[i]) && memcmp(v->name, names[i], v->name_size) == 0) return 1;
  }
  return 0;
}

static PJRT_Error* client_create(PJRT_Client_Create_Args* args) {
  const PJRT_NamedValue* orig = args->create_options;
  size_t n = args->num_options, kept = 0;
  PJRT_NamedValue* opts = n ? malloc(n * sizeof(PJRT_NamedValue)) : NULL;
  for (size_t i = 0; i < n; i++) {
    if (!gpu_only(&orig[i])) opts[kept++] = orig[i];
  }
  args->create_options = opts;
  args->num_options = kept;
  PJRT_Error* err = real_api->PJRT_Client_Create(args);
  args->create_options = orig;
  args->num_options = n;
  free(opts);
  return err;
}

const PJRT_Api* GetPjrtApi(void) {
  if (shim_api) return shim_api;
  Dl_info info;
  if (!dladdr((void*)GetPjrtApi, &info) || !info.dli_fname) return NULL;
  char self[PATH_MAX], path[PATH_MAX];
  snprintf(self, sizeof self, "%s", info.dli_fname);
  snprintf(path, sizeof path, "%s/%s", dirname(self), REAL_NAME);
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "xla-pjrt-shim: %s\n", dlerror());
    return NULL;
  }
  const PJRT_Api* (*get)(void) = (const PJRT_Api* (*)(void))dlsym(h, "GetPjrtApi");
  if (!get || !(real_api = get())) return NULL;
  size_t size = real_api->struct_size;
  if (size < offsetof(PJRT_Api, PJRT_Client_Create) + sizeof(void*)) return NULL;
  PJRT_Api* api = malloc(size);
  memcpy(api, real_api, size);
  api->PJRT_Client_Create = client_create;
  shim_api = api;
  return shim_api;
}
