package local

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestParseProcStat catches counting iowait as busy, or idle as busy, and a parser that takes
// the per-CPU lines.
func TestParseProcStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	got, err := parseProcStat([]byte("cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (cpuTimes{busy: 160, total: 1000}); got != want {
		t.Errorf("parseProcStat = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5\n", "cpu 1 x 3 4 5\n"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) = nil error", bad)
		}
	}
}

// TestCPUMonitor catches a monitor that flags one busy sample (it needs ten seconds of
// samples), one without hysteresis (flapping around 90 %), and one that never clears.
func TestCPUMonitor(t *testing.T) {
	var m cpuMonitor
	var now cpuTimes
	step := func(busyShare float64) bool {
		now.total += 1000
		now.busy += uint64(busyShare * 1000)
		return m.add(now)
	}
	step(0)
	for i := 0; i < cpuWindow-1; i++ {
		if step(1) {
			t.Fatalf("saturated after %d busy samples, before the window is full", i+1)
		}
	}
	if !step(1) {
		t.Fatal("not saturated after a full window at 100 %")
	}
	if _, sat := m.state(); !sat {
		t.Fatal("state() does not say saturated")
	}
	// 85 % over the window: between the thresholds, it stays saturated.
	for range cpuWindow {
		if step(0.85) {
			t.Fatal("left saturation at 85 % (no hysteresis)")
		}
	}
	for i := 0; ; i++ {
		if step(0.2) {
			break
		}
		if i > cpuWindow {
			t.Fatal("never left saturation at 20 %")
		}
	}
	if busy, sat := m.state(); sat || busy >= saturatedBelow {
		t.Errorf("after the load went: busy %.2f saturated %t", busy, sat)
	}
}

// TestUsage checks the instances' CPU time counts running and exited processes: it catches
// losing an instance's CPU when it exits, and memory that reads nothing.
func TestUsage(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.create(t, "cpu", func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(1769) })
	before := e.p.Usage().InstanceCPU
	_, resp := e.invoke(t, "cpu", map[string]any{"op": "spin", "rounds": 3000})
	spun := time.Duration(resp.CPUMs * float64(time.Millisecond))
	if spun < 50*time.Millisecond {
		t.Fatalf("spin used %v of CPU, too little to measure", spun)
	}
	u := e.p.Usage()
	// /proc counts user and system time in clock ticks (10 ms each), so up to two ticks
	// may be missing; an instance's CPU not counted at all still fails.
	if u.InstanceCPU-before < spun-25*time.Millisecond {
		t.Errorf("InstanceCPU grew by %v while the instance spun %v", u.InstanceCPU-before, spun)
	}
	if u.Instances != 1 || u.InstanceRSS < 1<<20 || u.PlatformRSS < 1<<20 || u.Cores < 1 {
		t.Errorf("Usage = %+v, want one instance with its memory", u)
	}
	if _, err := e.lc.DeleteFunction(context.Background(), &lambda.DeleteFunctionInput{FunctionName: aws.String("cpu")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the instance to exit", func() bool { return e.p.Usage().Instances == 0 })
	if after := e.p.Usage().InstanceCPU; after < u.InstanceCPU {
		t.Errorf("InstanceCPU fell from %v to %v when the instance exited", u.InstanceCPU, after)
	}
}

// TestNextLine catches a log reader that splits lines at its small buffer instead of at
// Lambda's 256 KB, or loses the bytes of a long line.
func TestNextLine(t *testing.T) {
	long := strings.Repeat("x", 10000)
	huge := strings.Repeat("y", maxLogLine+5000)
	br := bufio.NewReaderSize(strings.NewReader("short\n"+long+"\n"+huge+"\nlast"), 4096)
	var scratch []byte
	var got []string
	for {
		line, s, err := nextLine(br, scratch)
		scratch = s
		if len(line) > 0 {
			got = append(got, string(line))
		}
		if err != nil {
			break
		}
	}
	joined := strings.Join(got, "")
	if want := "short\n" + long + "\n" + huge + "\nlast"; joined != want {
		t.Fatalf("lines do not add up to the input (%d bytes, want %d)", len(joined), len(want))
	}
	if len(got) != 5 || got[1] != long+"\n" || len(got[2]) < maxLogLine || len(got[2]) > maxLogLine+4096 {
		t.Errorf("got %d lines of lengths %d, want short, the 10000-byte line whole, the huge one in two pieces split near 256 KB, last",
			len(got), lens(got))
	}
}

func lens(ss []string) []int {
	var n []int
	for _, s := range ss {
		n = append(n, len(s))
	}
	return n
}
