package fusion

import (
	"errors"
	"fmt"
	"slices"
)

// Mode says whether a caller waits for a call's result.
type Mode uint8

const (
	// Sync calls wait for the callee's result (Lambda RequestResponse when remote).
	Sync Mode = iota
	// Async calls are fire and forget (Lambda Event when remote).
	Async
)

// String returns "sync" or "async".
func (m Mode) String() string {
	if m == Async {
		return "async"
	}
	return "sync"
}

// MarshalText encodes the mode as "sync" or "async".
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText decodes "sync" or "async".
func (m *Mode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "sync":
		*m = Sync
	case "async":
		*m = Async
	default:
		return fmt.Errorf("call mode %q: want sync or async", b)
	}
	return nil
}

// Edge is a call from one task to another as the app's code makes it.
type Edge struct {
	Caller string `json:"caller"`
	Callee string `json:"callee"`
	Mode   Mode   `json:"mode"`
}

func (e Edge) String() string { return e.Caller + "→" + e.Callee + " " + e.Mode.String() }

// Graph is an app's static call graph: its tasks, the entry task that outside requests reach,
// and the calls between tasks.
type Graph struct {
	Entry string   `json:"entry"`
	Tasks []string `json:"tasks"`
	Edges []Edge   `json:"edges"`
}

// HasTask reports whether the graph has a task of that name.
func (g Graph) HasTask(name string) bool { return slices.Contains(g.Tasks, name) }

// Callees returns the edges leaving task, in declaration order.
func (g Graph) Callees(task string) []Edge {
	var out []Edge
	for _, e := range g.Edges {
		if e.Caller == task {
			out = append(out, e)
		}
	}
	return out
}

// Validate checks that task names are valid and unique, the entry is a task and every edge
// joins two tasks. It reports every problem at once.
func (g Graph) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, t := range g.Tasks {
		if err := ValidTaskName(t); err != nil {
			errs = append(errs, err)
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("task %q is declared twice", t))
		}
		seen[t] = true
	}
	if !seen[g.Entry] {
		errs = append(errs, fmt.Errorf("entry task %q is not a task of the app", g.Entry))
	}
	edges := map[Edge]bool{}
	for _, e := range g.Edges {
		if !seen[e.Caller] {
			errs = append(errs, fmt.Errorf("call %s: caller %q is not a task of the app", e, e.Caller))
		}
		if !seen[e.Callee] {
			errs = append(errs, fmt.Errorf("call %s: callee %q is not a task of the app", e, e.Callee))
		}
		if e.Caller == e.Callee {
			errs = append(errs, fmt.Errorf("call %s: a task cannot call itself", e))
		}
		if edges[e] {
			errs = append(errs, fmt.Errorf("call %s is declared twice", e))
		}
		edges[e] = true
	}
	return errors.Join(errs...)
}

// ValidTaskName checks a task name: 1 to 40 characters of letters, digits, '_' and '-',
// starting with a letter, so that it fits in a Lambda function name beside the app and setup.
func ValidTaskName(name string) error {
	if name == "" {
		return errors.New("task name is empty")
	}
	if len(name) > 40 {
		return fmt.Errorf("task name %q is longer than 40 characters", name)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-'):
		default:
			return fmt.Errorf("task name %q: character %q at %d is not allowed (letters, digits, '_' and '-', starting with a letter)", name, r, i+1)
		}
	}
	return nil
}
