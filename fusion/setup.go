package fusion

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Lambda's memory bounds in MB.
const (
	MinMemoryMB = 128
	MaxMemoryMB = 10240
)

// MBPerVCPU is the memory size at which Lambda gives a function one full vCPU; its CPU
// share is proportional to memory below and above ("Lambda allocates CPU power in
// proportion to the amount of memory configured … at 1,769 MB, a function has the
// equivalent of one vCPU", AWS Lambda Developer Guide, "Configure Lambda function memory").
const MBPerVCPU = 1769

// Group is one deployed function: a root task (its entry point), the tasks inlined with it,
// and its memory size.
type Group struct {
	Root     string   `json:"root"`
	Inlined  []string `json:"inlined,omitempty"` // other tasks run in-process, without Root
	MemoryMB int      `json:"memoryMB"`
}

// Has reports whether task runs inside the group (as its root or inlined).
func (g Group) Has(task string) bool { return g.Root == task || slices.Contains(g.Inlined, task) }

// Tasks returns the root followed by the inlined tasks.
func (g Group) Tasks() []string { return append([]string{g.Root}, g.Inlined...) }

// String returns the group's text form, e.g. "I+CW+SE@256".
func (g Group) String() string {
	var b strings.Builder
	g.appendText(&b)
	return b.String()
}

func (g Group) appendText(b *strings.Builder) {
	b.WriteString(g.Root)
	for _, t := range g.Inlined {
		b.WriteByte('+')
		b.WriteString(t)
	}
	b.WriteByte('@')
	b.WriteString(strconv.Itoa(g.MemoryMB))
}

// Setup is a whole deployment choice: the list of groups. A task may be inlined in several
// groups. A call from a task running in group G to task C is local if C is in G, else remote
// to the group rooted at C.
type Setup struct {
	Groups []Group `json:"groups"`
}

// ParseSetup reads a setup's text form: groups separated by ',', each group its root task
// followed by '+'-separated inlined tasks and '@' memory in MB, e.g.
// "I+CW+SE@256,CT@1024,CS+CSL+CSA@128". Spaces around names are allowed. Every problem is
// reported at once in an *Issues error with positions.
func ParseSetup(text string) (Setup, error) {
	p := setupParser{text: text, issues: &Issues{Source: "setup", Text: text}}
	s := p.parse()
	if err := p.issues.Err(); err != nil {
		return Setup{}, err
	}
	return s.Canonical(), nil
}

// MustParseSetup is ParseSetup for setups known to be valid, such as literals in tests; it
// panics on error.
func MustParseSetup(text string) Setup {
	s, err := ParseSetup(text)
	if err != nil {
		panic(err)
	}
	return s
}

type setupParser struct {
	text   string
	pos    int
	issues *Issues
	// at holds, per group parsed (in the order of the text), each task's offset.
	at []map[string]int
}

func (p *setupParser) skipSpace() {
	for p.pos < len(p.text) && (p.text[p.pos] == ' ' || p.text[p.pos] == '\t') {
		p.pos++
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// name reads a task name; it reports and returns "" when there is none.
func (p *setupParser) name(what string) (string, int) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.text) && isNameByte(p.text[p.pos]) {
		p.pos++
	}
	n := p.text[start:p.pos]
	if n == "" {
		p.issues.Add(start, "expected %s, found %s", what, p.found())
		return "", start
	}
	if err := ValidTaskName(n); err != nil {
		p.issues.Add(start, "%v", err)
	}
	return n, start
}

func (p *setupParser) found() string {
	if p.pos >= len(p.text) {
		return "end of text"
	}
	return strconv.QuoteRune(rune(p.text[p.pos]))
}

// recover skips to the next group separator after an error.
func (p *setupParser) recover() {
	for p.pos < len(p.text) && p.text[p.pos] != ',' {
		p.pos++
	}
}

func (p *setupParser) parse() Setup {
	var s Setup
	roots := map[string]int{}
	if strings.TrimSpace(p.text) == "" {
		p.issues.Add(0, "setup is empty: want groups such as \"A+B@256,C@128\"")
		return s
	}
	for {
		g, at, ok := p.group(roots)
		if ok {
			s.Groups = append(s.Groups, g)
			p.at = append(p.at, at)
		} else {
			p.recover()
		}
		p.skipSpace()
		if p.pos >= len(p.text) {
			return s
		}
		if p.text[p.pos] != ',' {
			p.issues.Add(p.pos, "expected ',' between groups, found %s", p.found())
			p.recover()
			if p.pos >= len(p.text) {
				return s
			}
		}
		p.pos++
	}
}

func (p *setupParser) group(roots map[string]int) (Group, map[string]int, bool) {
	root, at := p.name("a task name")
	if root == "" {
		return Group{}, nil, false
	}
	offsets := map[string]int{root: at}
	if prev, dup := roots[root]; dup {
		p.issues.Add(at, "two groups are rooted at %q (first at column %d)", root, PositionOf(p.text, prev).Column)
	}
	roots[root] = at
	g := Group{Root: root}
	inGroup := map[string]bool{root: true}
	for {
		p.skipSpace()
		if p.pos < len(p.text) && p.text[p.pos] == '+' {
			p.pos++
			t, at := p.name("a task name after '+'")
			if t == "" {
				return Group{}, nil, false
			}
			if inGroup[t] {
				p.issues.Add(at, "task %q appears twice in group %q", t, root)
			} else {
				offsets[t] = at
			}
			inGroup[t] = true
			g.Inlined = append(g.Inlined, t)
			continue
		}
		break
	}
	if p.pos >= len(p.text) || p.text[p.pos] != '@' {
		p.issues.Add(p.pos, "expected '+' or '@memory' after %q, found %s", g.Tasks()[len(g.Tasks())-1], p.found())
		return Group{}, nil, false
	}
	p.pos++
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.text) && p.text[p.pos] >= '0' && p.text[p.pos] <= '9' {
		p.pos++
	}
	if start == p.pos {
		p.issues.Add(start, "expected memory in MB after '@', found %s", p.found())
		return Group{}, nil, false
	}
	mem, err := strconv.Atoi(p.text[start:p.pos])
	if err != nil || mem < MinMemoryMB || mem > MaxMemoryMB {
		p.issues.Add(start, "memory %s MB is outside Lambda's %d–%d MB", p.text[start:p.pos], MinMemoryMB, MaxMemoryMB)
	}
	g.MemoryMB = mem
	return g, offsets, true
}

// Canonical returns the setup with groups sorted by root and each group's inlined tasks
// sorted, so that equal setups have equal text forms and IDs.
func (s Setup) Canonical() Setup {
	out := Setup{Groups: make([]Group, len(s.Groups))}
	for i, g := range s.Groups {
		g.Inlined = slices.Clone(g.Inlined)
		slices.Sort(g.Inlined)
		if len(g.Inlined) == 0 {
			g.Inlined = nil
		}
		out.Groups[i] = g
	}
	slices.SortFunc(out.Groups, func(a, b Group) int { return strings.Compare(a.Root, b.Root) })
	return out
}

// String returns the canonical text form, e.g. "CS+CSA+CSL@128,CT@1024,I+CW+SE@256".
func (s Setup) String() string {
	c := s.Canonical()
	var b strings.Builder
	for i, g := range c.Groups {
		if i > 0 {
			b.WriteByte(',')
		}
		g.appendText(&b)
	}
	return b.String()
}

// IDLength is the number of hex digits in a setup ID.
const IDLength = 12

// ID returns the setup's stable identifier: the first 12 hex digits of the SHA-256 of its
// canonical text form. The zero Setup (nothing deployed) has the ID "".
func (s Setup) ID() string {
	if s.IsZero() {
		return ""
	}
	sum := sha256.Sum256([]byte(s.String()))
	return hex.EncodeToString(sum[:])[:IDLength]
}

// Group returns the group rooted at root.
func (s Setup) Group(root string) (Group, bool) {
	for _, g := range s.Groups {
		if g.Root == root {
			return g, true
		}
	}
	return Group{}, false
}

// Equal reports whether two setups are the same deployment choice.
func (s Setup) Equal(o Setup) bool { return s.String() == o.String() }

// IsZero reports whether the setup has no groups (the zero Setup: nothing deployed).
func (s Setup) IsZero() bool { return len(s.Groups) == 0 }

// MarshalText returns the canonical text form, so that a Setup crosses JSON (Temporal
// payloads, files) and environment variables as one short string. The zero Setup is "".
func (s Setup) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a text form (ParseSetup); "" gives the zero Setup.
func (s *Setup) UnmarshalText(text []byte) error {
	if len(bytes.TrimSpace(text)) == 0 {
		*s = Setup{}
		return nil
	}
	v, err := ParseSetup(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalJSON accepts the text form as a JSON string and, for payloads written before
// Setup had a text form (recorded workflow histories), the object {"groups": [...]}.
func (s *Setup) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '{':
		var v struct {
			Groups []Group `json:"groups"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("setup object: %w", err)
		}
		*s = Setup{Groups: v.Groups}
		if !s.IsZero() {
			*s = s.Canonical()
		}
		return nil
	}
	var text string
	if err := json.Unmarshal(b, &text); err != nil {
		return fmt.Errorf("setup: want a text form such as \"A+B@256,C@128\": %w", err)
	}
	return s.UnmarshalText([]byte(text))
}

// Validate checks the setup against the app's graph: every task exists, the entry is a root,
// every remotely called task is the root of a group, memory is within Lambda's bounds, no
// root or inlined task repeats. It reports every problem at once.
func (s Setup) Validate(g Graph) error {
	var errs []error
	for _, p := range s.problems(g) {
		errs = append(errs, errors.New(p.msg))
	}
	return errors.Join(errs...)
}

// ParseSetupFor reads a setup's text form and checks it against the app's graph (Validate),
// reporting every problem, of the text and of the setup alike, in one *Issues error with
// the position of the group or task it is about.
func ParseSetupFor(text string, g Graph) (Setup, error) {
	p := setupParser{text: text, issues: &Issues{Source: "setup", Text: text}}
	s := p.parse()
	if err := p.issues.Err(); err != nil {
		return Setup{}, err
	}
	for _, pr := range s.problems(g) {
		off := 0
		if pr.group >= 0 {
			off = p.at[pr.group][pr.task]
		}
		p.issues.Add(off, "%s", pr.msg)
	}
	if err := p.issues.Err(); err != nil {
		return Setup{}, err
	}
	return s.Canonical(), nil
}

// setupProblem is one way a setup does not fit an app: the message, and the index of the
// group (-1 for the whole setup) and the task of that group it is about.
type setupProblem struct {
	group int
	task  string
	msg   string
}

func (s Setup) problems(g Graph) []setupProblem {
	if len(s.Groups) == 0 {
		return []setupProblem{{group: -1, msg: "setup has no groups"}}
	}
	var out []setupProblem
	add := func(group int, task, format string, args ...any) {
		out = append(out, setupProblem{group: group, task: task, msg: fmt.Sprintf(format, args...)})
	}
	roots := map[string]bool{}
	for i, gr := range s.Groups {
		if roots[gr.Root] {
			add(i, gr.Root, "two groups are rooted at %q", gr.Root)
		}
		roots[gr.Root] = true
		if gr.MemoryMB < MinMemoryMB || gr.MemoryMB > MaxMemoryMB {
			add(i, gr.Root, "group %q: memory %d MB is outside Lambda's %d–%d MB", gr.Root, gr.MemoryMB, MinMemoryMB, MaxMemoryMB)
		}
		seen := map[string]bool{}
		for _, t := range gr.Tasks() {
			if !g.HasTask(t) {
				add(i, t, "group %q: %q is not a task of the app", gr.Root, t)
			}
			if seen[t] {
				add(i, t, "group %q: task %q appears twice", gr.Root, t)
			}
			seen[t] = true
		}
	}
	if !roots[g.Entry] {
		add(-1, "", "entry task %q is not the root of a group", g.Entry)
	}
	for i, gr := range s.Groups {
		for _, t := range gr.Tasks() {
			for _, e := range g.Callees(t) {
				if !gr.Has(e.Callee) && !roots[e.Callee] {
					add(i, t, "group %q: %s is remote, but no group is rooted at %q", gr.Root, e, e.Callee)
				}
			}
		}
	}
	return out
}

// AllRemote returns the setup that deploys every task as its own function with the given
// memory: the starting point of every optimization.
func AllRemote(g Graph, memoryMB int) Setup {
	s := Setup{}
	for _, t := range g.Tasks {
		s.Groups = append(s.Groups, Group{Root: t, MemoryMB: memoryMB})
	}
	return s.Canonical()
}
