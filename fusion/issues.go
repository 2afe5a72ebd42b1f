package fusion

import (
	"fmt"
	"strings"
)

// Position is a place in a source text: a byte offset and the 1-based line and column (in
// runes) it falls on.
type Position struct {
	Offset int
	Line   int
	Column int
}

// Issue is one problem found in user input, with the place it was found.
type Issue struct {
	Pos     Position
	Message string
}

// Issues is every problem found in one source text (a setup, an app spec, a constraint). It is
// returned beside the result, the way cel-go returns *Issues: all problems at once, each with
// file:line:col and a caret under the place.
type Issues struct {
	Source string // name shown before the position, e.g. "setup" or "iot.yaml"
	Text   string // the text the positions refer to
	List   []Issue
}

// Add records a problem at byte offset off of the source text.
func (is *Issues) Add(off int, format string, args ...any) {
	is.List = append(is.List, Issue{Pos: PositionOf(is.Text, off), Message: fmt.Sprintf(format, args...)})
}

// AddAt records a problem at a known line and column (1-based).
func (is *Issues) AddAt(line, col int, format string, args ...any) {
	is.List = append(is.List, Issue{Pos: Position{Offset: -1, Line: line, Column: col}, Message: fmt.Sprintf(format, args...)})
}

// Err returns is as an error, or nil when there is no problem.
func (is *Issues) Err() error {
	if is == nil || len(is.List) == 0 {
		return nil
	}
	return is
}

// Error renders every issue as "source:line:col: message" followed by the source line and a
// caret under the column.
func (is *Issues) Error() string {
	var b strings.Builder
	lines := strings.Split(is.Text, "\n")
	for i, it := range is.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s", is.Source, it.Pos.Line, it.Pos.Column, it.Message)
		if it.Pos.Line >= 1 && it.Pos.Line <= len(lines) {
			line := strings.TrimRight(lines[it.Pos.Line-1], "\r")
			b.WriteString("\n | ")
			b.WriteString(line)
			b.WriteString("\n | ")
			col := it.Pos.Column
			if n := len([]rune(line)) + 1; col > n {
				col = n
			}
			b.WriteString(strings.Repeat(".", max(col-1, 0)))
			b.WriteByte('^')
		}
	}
	return b.String()
}

// PositionOf returns the line and column of byte offset off in text.
func PositionOf(text string, off int) Position {
	if off > len(text) {
		off = len(text)
	}
	if off < 0 {
		off = 0
	}
	line, col := 1, 1
	for _, r := range text[:off] {
		if r == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return Position{Offset: off, Line: line, Column: col}
}
