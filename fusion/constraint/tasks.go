package constraint

import (
	"fmt"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/fusionize/fusionize/fusion"
)

// TaskRef is a task name written in an expression, with its place (1-based line and column
// in the expression's text).
type TaskRef struct {
	Name string
	Pos  fusion.Position
}

// TaskRefs returns the string literals an expression uses as task names, so that a name the
// app does not have can be flagged (such a constraint silently holds or fails for every
// setup). A literal is a task name where it is compared with a group's root
// (g.root == "AS", g.root != "AS", g.root in ["A", "B"]), tested for membership in a group's
// tasks or the app's tasks ("AS" in g.tasks, "AS" in tasks), or compared with the variable
// of a macro over those lists (g.tasks.exists(t, t == "AS")). The expression must compile.
func TaskRefs(expr string) ([]TaskRef, error) {
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("constraint environment: %w", err)
	}
	a, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, issues("expression", expr, iss)
	}
	native := a.NativeRep()
	info := native.SourceInfo()
	taskVars := map[string]bool{}
	var refs []TaskRef
	literal := func(x celast.Expr) {
		if x.Kind() != celast.LiteralKind {
			return
		}
		s, ok := x.AsLiteral().(types.String)
		if !ok {
			return
		}
		loc := info.GetStartLocation(x.ID())
		refs = append(refs, TaskRef{Name: string(s), Pos: fusion.Position{Offset: -1, Line: max(loc.Line(), 1), Column: loc.Column() + 1}})
	}
	names := func(x celast.Expr) bool {
		return isSelect(x, "root") || x.Kind() == celast.IdentKind && taskVars[x.AsIdent()]
	}
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(x celast.Expr) {
		switch x.Kind() {
		case celast.ComprehensionKind:
			if c := x.AsComprehension(); isTaskList(c.IterRange()) {
				taskVars[c.IterVar()] = true
			}
		case celast.CallKind:
			call := x.AsCall()
			args := call.Args()
			if len(args) != 2 {
				return
			}
			switch call.FunctionName() {
			case operators.Equals, operators.NotEquals:
				if names(args[0]) {
					literal(args[1])
				}
				if names(args[1]) {
					literal(args[0])
				}
			case operators.In:
				switch {
				case isTaskList(args[1]):
					literal(args[0])
				case names(args[0]) && args[1].Kind() == celast.ListKind:
					for _, el := range args[1].AsList().Elements() {
						literal(el)
					}
				}
			}
		}
	}))
	return refs, nil
}

// isSelect reports whether x is a field selection of the given field (g.root).
func isSelect(x celast.Expr, field string) bool {
	return x.Kind() == celast.SelectKind && x.AsSelect().FieldName() == field
}

// isTaskList reports whether x is a group's tasks or the app's tasks.
func isTaskList(x celast.Expr) bool {
	return isSelect(x, "tasks") || x.Kind() == celast.IdentKind && x.AsIdent() == "tasks"
}

// SetupOnly reports whether an expression reads nothing but the setup (setup, candidate.setup)
// and the app's tasks, so that it can be decided for a setup before anything has run or been
// predicted. Expressions reading metrics, the baseline or the verdict cannot.
func SetupOnly(expr string) (bool, error) {
	e, err := env()
	if err != nil {
		return false, fmt.Errorf("constraint environment: %w", err)
	}
	a, iss := e.Compile(expr)
	if iss.Err() != nil {
		return false, issues("expression", expr, iss)
	}
	root := celast.NavigateAST(a.NativeRep())
	local := map[string]bool{}
	for _, c := range celast.MatchDescendants(root, celast.KindMatcher(celast.ComprehensionKind)) {
		comp := c.AsComprehension()
		local[comp.IterVar()], local[comp.AccuVar()] = true, true
		if comp.HasIterVar2() {
			local[comp.IterVar2()] = true
		}
	}
	for _, id := range celast.MatchDescendants(root, celast.KindMatcher(celast.IdentKind)) {
		switch name := id.AsIdent(); {
		case name == "setup" || name == "tasks" || local[name]:
		case name == "candidate":
			parent, ok := id.Parent()
			if !ok || !isSelect(parent, "setup") {
				return false, nil
			}
		default:
			return false, nil
		}
	}
	return true, nil
}

// SetupOnly returns the names of the policy's constraints that read the setup alone (see
// the function SetupOnly), in the order of the spec.
func (p *Policy) SetupOnly() []string {
	var out []string
	for i, r := range p.spec.Constraints {
		if ok, err := SetupOnly(r.Expr); err == nil && ok {
			out = append(out, p.constraints[i].name)
		}
	}
	return out
}
