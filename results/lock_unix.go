//go:build unix

package results

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lock takes an advisory lock (flock) on f without waiting: exclusive for a writer, shared for a
// reader that must not see a table being written. The kernel releases it when f is closed or the
// process dies.
func lock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return fmt.Errorf("%w: %s is locked (another `fisens` run on the same file? wait for it, or write elsewhere)", ErrLocked, f.Name())
		}
		return fmt.Errorf("results: locking %s: %w", f.Name(), err)
	}
}
