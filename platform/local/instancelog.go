package local

// What an instance writes: its output read line by line into its log stream (and the tails
// of invocations asking for one), and the START, END and REPORT lines with the billed
// duration and the peak memory.

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " seconds"
}

// report writes END and REPORT for a finished request and records its metrics.
func (inst *instance) report(inv *invocation, outcome string, d time.Duration, suffix string) {
	billed := time.Duration(math.Ceil(float64(d)/float64(time.Millisecond))) * time.Millisecond
	if billed < time.Millisecond {
		billed = time.Millisecond
	}
	mem := inst.peakMemory(d)
	var b strings.Builder
	b.Grow(200)
	b.WriteString("REPORT RequestId: ")
	b.WriteString(inv.id)
	b.WriteString("\tDuration: ")
	b.WriteString(strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64))
	b.WriteString(" ms\tBilled Duration: ")
	b.WriteString(strconv.FormatInt(billed.Milliseconds(), 10))
	b.WriteString(" ms\tMemory Size: ")
	b.WriteString(strconv.Itoa(inst.cfg.MemorySize))
	b.WriteString(" MB\tMax Memory Used: ")
	b.WriteString(strconv.FormatInt((mem+(1<<20)-1)>>20, 10))
	b.WriteString(" MB\t")
	if inv.cold {
		inst.mu.Lock()
		initD := inst.initDuration
		if !inst.ready {
			initD = time.Since(inst.started) // the runtime died or timed out during init
		}
		inst.mu.Unlock()
		b.WriteString("Init Duration: ")
		b.WriteString(strconv.FormatFloat(float64(initD)/float64(time.Millisecond), 'f', 2, 64))
		b.WriteString(" ms\t")
	}
	if suffix != "" {
		b.WriteString(strings.TrimPrefix(suffix, "\t"))
	}
	inst.writeLog(logLine{'L', "", "END RequestId: " + inv.id}, logLine{'E', inv.id, b.String()})
	inst.p.metrics.observe(inst.fn, outcome, inv.cold, d, billed, inst.cfg.MemorySize)
}

// peakMemory is the instance's highest memory use so far: the peak of its cgroup on v2 (where
// the process starts inside it), else the process's peak resident set (VmHWM). Both only grow,
// so after a short request a reading younger than memoryReadEvery is reused: generating
// /proc/<pid>/status is the costliest part of a warm invocation. The file stays open.
func (inst *instance) peakMemory(d time.Duration) int64 {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	now := time.Now()
	if d < 10*time.Millisecond && now.Sub(inst.memReadAt) < memoryReadEvery && inst.maxMemory > 0 {
		return inst.maxMemory
	}
	inst.memReadAt = now
	if inst.memFile == nil && inst.cmd != nil {
		if inst.cg != nil && inst.cg.Peak != "" {
			if inst.memFile, _ = os.Open(inst.cg.Peak); inst.memFile == nil {
				inst.cg.Peak = "" // no memory.peak before Linux 5.19: use VmHWM
			}
		}
		if inst.memFile == nil {
			inst.memFile, _ = os.Open("/proc/" + strconv.Itoa(inst.cmd.Process.Pid) + "/status")
		}
	}
	if inst.memFile != nil {
		var buf [2048]byte
		n, _ := inst.memFile.ReadAt(buf[:], 0)
		var v int64
		var ok bool
		if inst.cg != nil && inst.cg.Peak != "" {
			v, ok = parseInt(string(buf[:n]))
		} else {
			v, ok = parseVmHWM(string(buf[:n]))
		}
		if ok {
			inst.maxMemory = max(inst.maxMemory, v)
		}
	}
	return inst.maxMemory
}

func (inst *instance) closeMemFile() {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.memFile != nil {
		inst.memFile.Close()
		inst.memFile = nil
	}
}

// logLine is one of the platform's own lines for an instance's log: kind 'S' (START, begins a
// tail), 'L' (a line) or 'E' (REPORT, ends a tail); id names the request for 'S' and 'E'.
type logLine struct {
	kind     byte
	id, text string
}

// writeLog puts the platform's own lines into the instance's log pipe in one write, so that
// they are ordered after everything the function wrote before.
func (inst *instance) writeLog(lines ...logLine) {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(inst.secret)
		b.WriteByte(l.kind)
		b.WriteString(l.id)
		b.WriteByte(0x1f)
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	inst.logMu.Lock()
	defer inst.logMu.Unlock()
	if !inst.logClosed {
		_, _ = inst.logW.Write(b.Bytes())
	}
}

func (inst *instance) dropTail(inv *invocation) {
	inst.mu.Lock()
	delete(inst.tails, inv.id)
	inst.mu.Unlock()
}

// readLogs turns the process's output into log events, one per line, and collects the lines
// of requests that asked for a tail.
func (inst *instance) readLogs(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 4096) // hundreds of instances each hold one: lines grow in scratch
	var scratch []byte
	var tail *bytes.Buffer
	var tailID string
	for {
		var line []byte
		var err error
		line, scratch, err = nextLine(br, scratch)
		if len(line) > 0 {
			text := string(line)
			if !strings.HasSuffix(text, "\n") {
				text += "\n"
			}
			kind, id := byte(0), ""
			if rest, ok := strings.CutPrefix(text, inst.secret); ok && len(rest) > 1 {
				kind = rest[0]
				id, text, _ = strings.Cut(rest[1:], "\x1f")
			}
			now := time.Now()
			inst.p.logs.Append(inst.group, inst.stream, now, text)
			switch kind {
			case 'S':
				inst.mu.Lock()
				_, want := inst.tails[id]
				inst.mu.Unlock()
				tail, tailID = nil, ""
				if want {
					tail, tailID = &bytes.Buffer{}, id
				}
			}
			if tail != nil {
				tail.WriteString(text)
				if tail.Len() > 4*tailBytes {
					tail.Next(tail.Len() - tailBytes)
				}
			}
			if kind == 'E' && id == tailID && tail != nil {
				b := tail.Bytes()
				if len(b) > tailBytes {
					b = b[len(b)-tailBytes:]
				}
				inst.mu.Lock()
				ch := inst.tails[id]
				delete(inst.tails, id)
				inst.mu.Unlock()
				if ch != nil {
					ch <- bytes.Clone(b)
				}
				tail, tailID = nil, ""
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// nextLine returns the next line of br, at most about maxLogLine bytes (a longer line comes in
// pieces, as Lambda splits it), using scratch for lines longer than br's buffer. The line is
// valid until the next call.
func nextLine(br *bufio.Reader, scratch []byte) (line, scratchOut []byte, err error) {
	scratch = scratch[:0]
	for {
		frag, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			if len(scratch) == 0 {
				return frag, scratch, err
			}
			scratch = append(scratch, frag...)
			return scratch, scratch, err
		}
		scratch = append(scratch, frag...)
		if len(scratch) >= maxLogLine {
			return scratch, scratch, nil
		}
	}
}

// parseVmHWM reads the peak resident set size from the text of /proc/<pid>/status.
func parseVmHWM(status string) (int64, bool) {
	i := strings.Index(status, "VmHWM:")
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(status[i+len("VmHWM:"):])
	if len(f) < 1 {
		return 0, false
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	return kb << 10, err == nil
}

func parseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}
