package fusion

import (
	"fmt"
	"slices"
	"strconv"
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

// AddAt records a problem at a known line and column (1-based). A place past the text's last
// line (a parser's empty node after "---") is moved to the end of the text.
func (is *Issues) AddAt(line, col int, format string, args ...any) {
	if lines := strings.Split(is.Text, "\n"); line > len(lines) {
		line, col = len(lines), len([]rune(lines[len(lines)-1]))+1
	}
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

// yamlParserProblems are the problems gopkg.in/yaml.v3's parser (as opposed to its scanner)
// reports. For these it prints a 0-based line, one line early; it prints the line of the
// construct being parsed when it has one (an unclosed '[' or '{'), else of the problem.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// AddYAMLSyntax records a syntax error of gopkg.in/yaml.v3 ("yaml: line N: problem") at its
// line, corrected where the parser counts lines from 0, and at the column of the unclosed
// bracket or quote an unclosed-collection or unclosed-string error is about, else at the
// line's first character after its indentation.
func (is *Issues) AddYAMLSyntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, problem, _ := strings.Cut(rest, ": ")
		if n, err := strconv.Atoi(num); err == nil && n > 0 {
			line, msg = n, problem
			if slices.Contains(yamlParserProblems, problem) {
				line++
			}
		}
	}
	lines := strings.Split(is.Text, "\n")
	if line > len(lines) {
		line = len(lines)
	}
	text, col := lines[line-1], 0
	switch msg {
	case "did not find expected ',' or ']'":
		col = strings.LastIndexByte(text, '[')
		msg = "a '[' list is not closed: " + msg
	case "did not find expected ',' or '}'":
		col = strings.LastIndexByte(text, '{')
		msg = "a '{' mapping is not closed: " + msg
	case "found unexpected end of stream":
		col = strings.LastIndexAny(text, "\"'")
	}
	if col <= 0 {
		col = len(text) - len(strings.TrimLeft(text, " "))
	}
	is.AddAt(line, len([]rune(text[:col]))+1, "%s", msg)
}
