package cwlogs

import (
	"strings"
	"testing"
	"time"
)

func TestLogRetentionIsBounded(t *testing.T) {
	s := New(4096, 1<<30)
	now := time.Now()
	for i := 0; i < 1000; i++ {
		s.Append("/aws/lambda/f", "stream", now, strings.Repeat("x", 100))
	}
	out, err := s.filter(&filterInput{LogGroupName: "/aws/lambda/f"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.Events); n == 0 || n*(100+eventOverhead) > 4096 {
		t.Errorf("kept %d events of 126 bytes in a 4096-byte group", n)
	}
	if last := out.Events[len(out.Events)-1].EventID; last != "999" {
		t.Errorf("newest event %s, want 999 kept", last)
	}
}

func TestFilterPattern(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"", []string{"anything", ""}, nil},
		{"ERROR", []string{"an ERROR here"}, []string{"an error here"}},
		{"ERROR timeout", []string{"ERROR: timeout"}, []string{"ERROR only"}},
		{`"Task timed out"`, []string{"x Task timed out after 3.00 seconds"}, []string{"Task was timed out"}},
		{"REPORT -Init", []string{"REPORT RequestId: 1\tDuration: 1 ms"}, []string{"REPORT Init Duration: 2 ms"}},
		{"?ERROR ?WARN", []string{"WARN x", "ERROR y"}, []string{"INFO z"}},
	}
	for _, tc := range tests {
		p, err := parseFilterPattern(tc.pattern)
		if err != nil {
			t.Fatalf("parse %q: %v", tc.pattern, err)
		}
		for _, m := range tc.match {
			if !p.match(m) {
				t.Errorf("%q does not match %q", tc.pattern, m)
			}
		}
		for _, m := range tc.miss {
			if p.match(m) {
				t.Errorf("%q matches %q", tc.pattern, m)
			}
		}
	}
	for _, bad := range []string{`{ $.level = "error" }`, `"unterminated`, `[ip, user]`} {
		if _, err := parseFilterPattern(bad); err == nil {
			t.Errorf("pattern %q accepted, want an error", bad)
		}
	}
}
