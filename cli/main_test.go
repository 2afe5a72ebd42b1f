package cli

import (
	"testing"

	"github.com/fusionize/fusionize/internal/quiet"
)

// TestMain runs the tests in a shared turn: they load the machine, and a test that measures
// latency live waits for them (package quiet).
func TestMain(m *testing.M) { quiet.Main(m) }
