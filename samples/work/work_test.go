package work_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fusionize/fusionize/samples/work"
)

// TestIOFails: FUSIONIZE_WORK_FAIL fails that share of I/O waits with ErrInjected. Catches a
// knob that is ignored (the fault tests' erroring candidate would serve) or that fails
// everything whatever its share.
func TestIOFails(t *testing.T) {
	t.Setenv(work.EnvScale, "0")
	count := func(share string) int {
		t.Setenv(work.EnvFail, share)
		n := 0
		for range 400 {
			if err := work.IO(context.Background(), 1); errors.Is(err, work.ErrInjected) {
				n++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	if n := count(""); n != 0 {
		t.Errorf("unset: %d of 400 failed", n)
	}
	if n := count("1"); n != 400 {
		t.Errorf("share 1: %d of 400 failed", n)
	}
	if n := count("0.5"); n < 140 || n > 260 {
		t.Errorf("share 0.5: %d of 400 failed", n)
	}
}
