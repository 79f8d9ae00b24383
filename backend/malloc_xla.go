//go:build xla

package backend

/*
#include <malloc.h>

// fisensTuneMalloc makes glibc keep freed memory for reuse: one arena for all threads (a thread's
// own arena gets at most 64 MiB heaps, beyond which every allocation is a fresh mmap), no mmap for
// blocks under 1 GiB, no trimming of the heap below 2 GiB free. It returns how many settings glibc
// accepted (3 when all).
static int fisensTuneMalloc(void) {
	return mallopt(M_ARENA_MAX, 1) + mallopt(M_MMAP_THRESHOLD, 1 << 30) + mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}
*/
import "C"

import "os"

// XLA's CPU runtime allocates its temporary buffers (tens of MB for a training step) with malloc on
// every execution, from its worker threads. With glibc's defaults those blocks come from fresh
// mmaps (a worker thread's arena cannot hold them, and the main heap is trimmed after each free),
// so every step page-faults its whole working set in again: 13–17% of the process' CPU time was in
// the kernel (perf) for the small ResNet's Adam step at batch 128. Keeping the memory (the same
// settings PyTorch's performance guide asks for via GLIBC_TUNABLES, plus one arena) cut the step's
// CPU time by a fifth to a quarter (docs/performance.md, "Session 5"). Binaries built with the xla tag
// apply it at start-up, before any thread allocates; FISENS_MALLOC=default keeps glibc's defaults
// (for A/B timings).
func init() {
	if os.Getenv("FISENS_MALLOC") == "default" {
		return
	}
	C.fisensTuneMalloc()
}
