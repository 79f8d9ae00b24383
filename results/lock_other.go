//go:build !unix

package results

import "os"

// lock is a no-op where flock is not available: there a second writer is not detected.
func lock(f *os.File, exclusive bool) error { return nil }
