package mutate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/host/mutate/ctoken"
)

// The mutation operators, by the name reports use.
const (
	OpRelational   = "relational-boundary" // < <=, > >=
	OpNegate       = "negate-condition"    // if/while (c) -> (!(c))
	OpAndOr        = "and-or"              // && ||
	OpCondTrue     = "condition-true"      // if (1 || (c))
	OpCondFalse    = "condition-false"     // if (0 && (c))
	OpConstant     = "constant-off-by-one" // N -> N+1, N-1
	OpErrno        = "errno-swap"          // -EINVAL -> -EPERM
	OpRemoveExit   = "remove-error-exit"   // guarded return / goto deleted
	OpDeleteStmt   = "delete-statement"    // a call or assignment deleted
	OpRemoveIncDec = "remove-incdec"       // x++ -> x
	OpSwapArg      = "swap-argument"       // f(a) -> f(b), b a same-typed variable
)

var operatorNames = []string{OpRelational, OpNegate, OpAndOr, OpCondTrue, OpCondFalse, OpConstant, OpErrno, OpRemoveExit, OpDeleteStmt, OpRemoveIncDec, OpSwapArg}

// OperatorNames lists the operators in report order.
func OperatorNames() []string { return append([]string(nil), operatorNames...) }

func knownOperator(n string) bool {
	for _, o := range operatorNames {
		if o == n {
			return true
		}
	}
	return false
}

// ErrnoSwap is the errno each errno is swapped for: one plausible mix-up
// per site rather than every pair, since a test that checks the errno at
// all tells any two apart, and each extra mutant costs a kernel build
// and a boot.
var ErrnoSwap = map[string]string{
	"EINVAL": "EPERM", "EPERM": "EINVAL", "EEXIST": "EAGAIN", "EAGAIN": "ENOMEM",
	"ENOMEM": "EAGAIN", "EFAULT": "EINVAL", "ESRCH": "EINVAL", "EBUSY": "EAGAIN",
	"E2BIG": "EINVAL", "ENOSPC": "EAGAIN", "EACCES": "EPERM", "ENOENT": "ESRCH",
	"EOPNOTSUPP": "EINVAL", "ECHILD": "ESRCH", "EINTR": "EAGAIN", "ENOSYS": "EINVAL",
	"EBADF": "EINVAL", "ERANGE": "EINVAL", "EOVERFLOW": "EINVAL", "ENOTSUPP": "EINVAL",
}

// edit is one mutation as found: code tokens first..last replaced by repl.
type edit struct {
	op          string
	first, last int
	repl        string
	rule        string
}

// analysis walks one function body.
type analysis struct {
	src   []byte
	toks  []ctoken.Token
	match []int
	fn    ctoken.Func
	edits []edit
	// skipIncDec marks the step expressions of for loops: removing their
	// ++ can only make the loop endless, which the boot timeout catches
	// at great cost and teaches nothing.
	skipIncDec map[int]bool
	// vars are the parameters and the block-level declarations, for
	// swap-argument; scopes[k] is the block a declaration lives in.
	vars []variable
	// conds is the stack of if conditions around the current statement.
	conds []string
}

// variable is a declared name with its type as written (storage classes
// dropped) and where it is visible: from its declaration to the end of
// its block.
type variable struct {
	name, typ string
	from, to  int
}

func (a *analysis) run() []edit {
	a.skipIncDec = map[int]bool{}
	a.params()
	a.block(a.fn.LBrace, 0)
	a.tokenOps()
	a.swapArgs()
	return a.edits
}

func (a *analysis) text(i, j int) string { return string(a.src[a.toks[i].Off:a.toks[j].End]) }

// short is code for a one-line rule: white space collapsed, long text cut.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 90 {
		s = s[:87] + "..."
	}
	return s
}

// lineOf is the trimmed source line of token i, the context a rule quotes.
func (a *analysis) lineOf(i int) string {
	off := a.toks[i].Off
	s := strings.LastIndexByte(string(a.src[:off]), '\n') + 1
	e := strings.IndexByte(string(a.src[off:]), '\n')
	if e < 0 {
		e = len(a.src) - off
	}
	return short(string(a.src[s : off+e]))
}

func (a *analysis) add(op string, first, last int, repl, rule string) {
	a.edits = append(a.edits, edit{op: op, first: first, last: last, repl: repl, rule: rule})
}

// operandEnd reports whether token i can end an operand, which makes the
// operator after it binary (a && b, not &&label; a < b).
func (a *analysis) operandEnd(i int) bool {
	if i < 0 {
		return false
	}
	t := a.toks[i]
	switch t.Kind {
	case ctoken.Number, ctoken.String, ctoken.Char:
		return true
	case ctoken.Ident:
		return !stmtKeyword[t.Text]
	}
	return t.Text == ")" || t.Text == "]" || t.Text == "++" || t.Text == "--"
}

var stmtKeyword = map[string]bool{
	"return": true, "goto": true, "if": true, "else": true, "while": true, "for": true, "do": true,
	"switch": true, "case": true, "default": true, "break": true, "continue": true, "sizeof": true,
}

// block walks the statements of the block opened at toks[open].
func (a *analysis) block(open, guarded int) {
	close := a.match[open]
	for i := open + 1; i < close; {
		i = a.stmt(i, close, guarded, false)
	}
}

// stmt walks the statement at i (ending before limit) and returns the
// index after it. guarded counts the if/else/loop/switch bodies around
// it; direct is true when it is itself such a body, where a deleted
// statement must become {} rather than ; (if (x) ; draws -Wempty-body).
func (a *analysis) stmt(i, limit, guarded int, direct bool) int {
	t := a.toks[i]
	next := func(j int) int { return a.stmt(j, limit, guarded+1, true) }
	switch {
	case t.Is("{"):
		a.block(i, guarded)
		return a.match[i] + 1
	case t.Is(";"):
		return i + 1
	case t.Is("if") && a.isParen(i+1):
		cl := a.match[i+1]
		a.condition(i+1, cl, true)
		a.conds = append(a.conds, a.text(i+2, cl-1))
		j := next(cl + 1)
		a.conds = a.conds[:len(a.conds)-1]
		if j < limit && a.toks[j].Is("else") {
			a.conds = append(a.conds, "!("+a.text(i+2, cl-1)+")")
			j = next(j + 1)
			a.conds = a.conds[:len(a.conds)-1]
		}
		return j
	case t.Is("while") && a.isParen(i+1):
		cl := a.match[i+1]
		a.condition(i+1, cl, false)
		return next(cl + 1)
	case t.Is("switch") && a.isParen(i+1):
		return next(a.match[i+1] + 1)
	case t.Is("for") && a.isParen(i+1):
		cl := a.match[i+1]
		// The step is what follows the header's second top-level ';'.
		semis := 0
		for k := i + 2; k < cl; k++ {
			if a.match[k] > k && (a.toks[k].Is("(") || a.toks[k].Is("[") || a.toks[k].Is("{")) {
				k = a.match[k]
				continue
			}
			if a.toks[k].Is(";") {
				semis++
				continue
			}
			if semis == 2 {
				a.skipIncDec[k] = true
			}
		}
		return next(cl + 1)
	case t.Is("do"):
		j := next(i + 1)
		if j+1 < limit && a.toks[j].Is("while") && a.isParen(j+1) {
			cl := a.match[j+1]
			a.condition(j+1, cl, false)
			return a.endOf(cl+1, limit) + 1
		}
		return j
	case t.Is("case") || t.Is("default"):
		for k := i + 1; k < limit; k++ {
			if a.toks[k].Is(":") {
				return k + 1
			}
		}
		return limit
	case t.Kind == ctoken.Ident && i+1 < limit && a.toks[i+1].Is(":") && !stmtKeyword[t.Text]:
		return i + 2 // a label
	case t.Kind == ctoken.Ident && !stmtKeyword[t.Text] && a.isParen(i+1) && a.match[i+1]+1 < limit &&
		(a.toks[a.match[i+1]+1].Is("{") || a.toks[a.match[i+1]+1].Kind == ctoken.Ident):
		// A loop macro, list_for_each_entry(pos, head, member) { ... }:
		// nothing else puts a block or a statement right after a call.
		return next(a.match[i+1] + 1)
	case t.Is("else"):
		// An else whose if this walk did not see (a macro expanding to
		// an if): walk its body.
		return next(i + 1)
	}
	end := a.endOf(i, limit)
	switch {
	case t.Is("return") || t.Is("goto"):
		if t.Is("goto") || guarded > 0 {
			a.removeExit(i, end, direct)
		}
	case t.Is("break") || t.Is("continue"):
	case a.isDecl(i, end):
		a.declare(i, end)
	default:
		a.deleteStmt(i, end, direct)
	}
	return end + 1
}

func (a *analysis) isParen(i int) bool { return i < len(a.toks) && a.toks[i].Is("(") }

// endOf finds the ';' ending the statement at i, skipping brackets (a
// compound literal's braces, a statement expression's).
func (a *analysis) endOf(i, limit int) int {
	for k := i; k < limit; k++ {
		if a.match[k] > k {
			k = a.match[k]
			continue
		}
		if a.toks[k].Is(";") {
			return k
		}
	}
	return limit - 1
}

// condition records the condition mutants of the parenthesised condition
// open..close of an if (forced true or false as well) or a loop.
func (a *analysis) condition(open, close int, isIf bool) {
	if close-open < 2 {
		return
	}
	first, last := open+1, close-1
	c := a.text(first, last)
	kw := "if"
	if !isIf {
		kw = "while"
	}
	a.add(OpNegate, first, last, "!("+c+")", fmt.Sprintf("condition negated: `%s (%s)` now runs its body exactly when the condition is false", kw, short(c)))
	if isIf {
		a.add(OpCondTrue, first, last, "1 || ("+c+")", fmt.Sprintf("check bypassed: `if (%s)` is always taken, as if the condition always held", short(c)))
		a.add(OpCondFalse, first, last, "0 && ("+c+")", fmt.Sprintf("check removed: `if (%s)` is never taken, as if the condition never held", short(c)))
	}
}

// guard describes the innermost if around a statement, for rules.
func (a *analysis) guard() string {
	if len(a.conds) == 0 {
		return ""
	}
	return fmt.Sprintf(" when `%s` holds", short(a.conds[len(a.conds)-1]))
}

func emptyStmt(direct bool) string {
	if direct {
		return "{}"
	}
	return ";"
}

func (a *analysis) removeExit(i, end int, direct bool) {
	s := a.text(i, end)
	a.add(OpRemoveExit, i, end, emptyStmt(direct), fmt.Sprintf("error exit removed: `%s` is gone, so%s the code carries on past it instead of leaving", short(s), a.guard()))
}

var assignOps = map[string]bool{"=": true, "+=": true, "-=": true, "*=": true, "/=": true, "%=": true, "&=": true, "|=": true, "^=": true, "<<=": true, ">>=": true}

// deleteStmt records the deletion of an expression statement that is a
// call or an assignment (at its top level, outside brackets).
func (a *analysis) deleteStmt(i, end int, direct bool) {
	if end <= i {
		return
	}
	kind := ""
	for k := i; k < end; k++ {
		if a.match[k] > k {
			k = a.match[k]
			continue
		}
		if a.toks[k].Kind == ctoken.Punct && assignOps[a.toks[k].Text] {
			kind = "assignment"
			break
		}
	}
	if kind == "" && a.toks[end-1].Is(")") && a.match[end-1] > i && a.toks[a.match[end-1]-1].Kind == ctoken.Ident {
		kind = "call"
	}
	if kind == "" {
		return
	}
	s := a.text(i, end)
	a.add(OpDeleteStmt, i, end, emptyStmt(direct), fmt.Sprintf("%s deleted: `%s` no longer happens%s", kind, short(s), a.guard()))
}

var typeStart = map[string]bool{
	"struct": true, "union": true, "enum": true, "const": true, "volatile": true, "static": true,
	"register": true, "extern": true, "unsigned": true, "signed": true, "int": true, "char": true,
	"short": true, "long": true, "void": true, "float": true, "double": true, "_Bool": true, "bool": true,
	"typeof": true, "__typeof__": true, "auto": true,
}

// isDecl tells a declaration from an expression statement by its first
// tokens: a type keyword, `T name`, or `T *name` followed by = ; , or [.
// `a * b;` would read as a declaration, but as a statement it does
// nothing anyway.
func (a *analysis) isDecl(i, end int) bool {
	t := a.toks[i]
	if t.Kind != ctoken.Ident || stmtKeyword[t.Text] {
		return false
	}
	if typeStart[t.Text] {
		return true
	}
	if i+1 >= end {
		return false
	}
	if a.toks[i+1].Kind == ctoken.Ident {
		return true
	}
	k := i + 1
	for k < end && a.toks[k].Is("*") {
		k++
	}
	if k == i+1 || k+1 > end || a.toks[k].Kind != ctoken.Ident {
		return false
	}
	n := a.toks[k+1]
	return n.Is("=") || n.Is(";") || n.Is(",") || n.Is("[")
}

var storage = map[string]bool{"static": true, "register": true, "extern": true, "auto": true, "inline": true, "noinline": true, "__maybe_unused": true}

// declarator splits one declarator's tokens (stars, name, [..], = init)
// into its type prefix and name; ok is false for anything harder
// (function pointers).
func (a *analysis) declarator(first, last int) (prefix []string, name int, ok bool) {
	name = -1
	var words []string // token texts before '=', arrays as []
	for k := first; k <= last; k++ {
		t := a.toks[k]
		if t.Is("=") {
			break
		}
		if t.Is("(") {
			return nil, -1, false
		}
		if t.Is("[") {
			words = append(words, "[]")
			k = a.match[k]
			continue
		}
		if t.Kind == ctoken.Ident {
			name = k
		}
		words = append(words, t.Text)
	}
	if name < 0 {
		return nil, -1, false
	}
	// The name is the last identifier; what follows it is array suffixes.
	pos := -1
	for j, w := range words {
		if w == a.toks[name].Text {
			pos = j
		}
	}
	prefix = append(prefix, words[:pos]...)
	return append(prefix, words[pos+1:]...), name, true
}

// splitTop splits first..last at top-level commas.
func (a *analysis) splitTop(first, last int) [][2]int {
	var out [][2]int
	s := first
	for k := first; k <= last; k++ {
		if a.match[k] > k {
			k = a.match[k]
			continue
		}
		if a.toks[k].Is(",") {
			out = append(out, [2]int{s, k - 1})
			s = k + 1
		}
	}
	if s <= last {
		out = append(out, [2]int{s, last})
	}
	return out
}

func (a *analysis) params() {
	to := a.fn.RBrace
	for _, p := range a.splitTop(a.fn.LParen+1, a.fn.RParen-1) {
		if p[1] < p[0] {
			continue
		}
		prefix, name, ok := a.declarator(p[0], p[1])
		if !ok || len(prefix) == 0 {
			continue
		}
		a.vars = append(a.vars, variable{name: a.toks[name].Text, typ: typeKey(prefix), from: a.fn.LBrace, to: to})
	}
}

func typeKey(parts []string) string {
	var keep []string
	for _, p := range parts {
		if !storage[p] {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, " ")
}

// declare records the variables of the declaration i..end (the ';'):
// the base type is what precedes the first declarator's stars and name.
func (a *analysis) declare(i, end int) {
	to := a.fn.RBrace
	for k := i - 1; k > a.fn.LBrace; k-- {
		if a.toks[k].Is("{") && a.match[k] > i {
			to = a.match[k]
			break
		}
		if a.toks[k].Is("}") {
			k = a.match[k]
		}
	}
	segs := a.splitTop(i, end-1)
	if len(segs) == 0 {
		return
	}
	prefix, name, ok := a.declarator(segs[0][0], segs[0][1])
	if !ok || len(prefix) == 0 {
		return
	}
	// The base is the prefix up to the first '*' or '[]'.
	base := prefix
	for j, p := range prefix {
		if p == "*" || p == "[]" {
			base = prefix[:j]
			break
		}
	}
	a.vars = append(a.vars, variable{name: a.toks[name].Text, typ: typeKey(prefix), from: end, to: to})
	for _, s := range segs[1:] {
		pre, name, ok := a.declarator(s[0], s[1])
		if !ok {
			continue
		}
		a.vars = append(a.vars, variable{name: a.toks[name].Text, typ: typeKey(append(append([]string(nil), base...), pre...)), from: end, to: to})
	}
}

// visible returns the innermost declaration of name visible at token k.
func (a *analysis) visible(name string, k int) (variable, bool) {
	var best variable
	found := false
	for _, v := range a.vars {
		if v.name == name && v.from <= k && k <= v.to && (!found || v.from >= best.from) {
			best, found = v, true
		}
	}
	return best, found
}

// swapArgs finds call arguments that are a variable, its address, or a
// member path from it (tmp, &tmp->idr, args.flags), and swaps the
// variable for each other variable of the same declared type in scope.
func (a *analysis) swapArgs() {
	for k := a.fn.LBrace + 1; k < a.fn.RBrace; k++ {
		t := a.toks[k]
		if t.Kind != ctoken.Ident || stmtKeyword[t.Text] || typeStart[t.Text] || !a.isParen(k+1) {
			continue
		}
		cl := a.match[k+1]
		for _, arg := range a.splitTop(k+2, cl-1) {
			root := arg[0]
			if a.toks[root].Is("&") || a.toks[root].Is("*") {
				root++
			}
			if root > arg[1] || a.toks[root].Kind != ctoken.Ident || !a.memberPath(root+1, arg[1]) {
				continue
			}
			v, ok := a.visible(a.toks[root].Text, root)
			if !ok {
				continue
			}
			shadowed := map[string]bool{v.name: true}
			for _, w := range a.vars {
				if w.typ != v.typ || shadowed[w.name] {
					continue
				}
				if u, ok := a.visible(w.name, root); !ok || u.from != w.from {
					continue // not in scope here, or shadowed by another
				}
				shadowed[w.name] = true
				a.add(OpSwapArg, root, root, w.name, fmt.Sprintf("wrong variable: `%s` passes `%s` where it passed `%s` (both %s)", t.Text+"()", w.name, v.name, v.typ))
			}
		}
	}
}

// memberPath reports whether first..last is empty or a chain of
// `->name` / `.name`.
func (a *analysis) memberPath(first, last int) bool {
	for k := first; k <= last; k += 2 {
		if k+1 > last || !(a.toks[k].Is("->") || a.toks[k].Is(".")) || a.toks[k+1].Kind != ctoken.Ident {
			return false
		}
	}
	return true
}

var intLiteral = regexp.MustCompile(`^(0[xX][0-9a-fA-F]+|[0-9]+)([uUlL]*)$`)

// tokenOps records the mutants of single tokens anywhere in the body:
// relational operators, && and ||, integer constants, errnos, ++ and --.
func (a *analysis) tokenOps() {
	for k := a.fn.LBrace + 1; k < a.fn.RBrace; k++ {
		t := a.toks[k]
		line := a.lineOf(k)
		switch {
		case t.Kind == ctoken.Punct && relSwap[t.Text] != "" && a.operandEnd(k-1):
			r := relSwap[t.Text]
			a.add(OpRelational, k, k, r, fmt.Sprintf("boundary moved: `%s` becomes `%s` in `%s`, so the case where both sides are equal goes the other way", t.Text, r, line))
		case (t.Is("&&") || t.Is("||")) && a.operandEnd(k-1):
			r, what := "||", "either side alone is now enough"
			if t.Text == "||" {
				r, what = "&&", "both sides are now needed"
			}
			a.add(OpAndOr, k, k, r, fmt.Sprintf("`%s` becomes `%s` in `%s`: %s", t.Text, r, line, what))
		case t.Kind == ctoken.Number:
			a.constant(k, line)
		case t.Kind == ctoken.Ident && ErrnoSwap[t.Text] != "":
			r := ErrnoSwap[t.Text]
			a.add(OpErrno, k, k, r, fmt.Sprintf("wrong error: %s becomes %s in `%s`", t.Text, r, line))
		case (t.Is("++") || t.Is("--")) && !a.skipIncDec[k]:
			what := "increment"
			if t.Text == "--" {
				what = "decrement"
			}
			a.add(OpRemoveIncDec, k, k, "", fmt.Sprintf("%s removed: `%s` no longer changes its operand in `%s`", what, t.Text, line))
		}
	}
}

var relSwap = map[string]string{"<": "<=", "<=": "<", ">": ">=", ">=": ">"}

// constant records N+1 and N-1 for an integer literal, written in the
// literal's base with its suffix; 0-1 becomes (-1), parenthesised so
// that `a-0` cannot turn into `a--1`.
func (a *analysis) constant(k int, line string) {
	t := a.toks[k]
	m := intLiteral.FindStringSubmatch(t.Text)
	if m == nil {
		return
	}
	v, err := strconv.ParseUint(m[1], 0, 64)
	if err != nil {
		return
	}
	format := func(n uint64) string {
		switch {
		case strings.HasPrefix(m[1], "0x") || strings.HasPrefix(m[1], "0X"):
			return m[1][:2] + strconv.FormatUint(n, 16) + m[2]
		case len(m[1]) > 1 && m[1][0] == '0':
			return "0" + strconv.FormatUint(n, 8) + m[2]
		}
		return strconv.FormatUint(n, 10) + m[2]
	}
	if v < 1<<63 {
		a.add(OpConstant, k, k, format(v+1), fmt.Sprintf("constant off by one: %s becomes %s in `%s`", t.Text, format(v+1), line))
	}
	switch {
	case v > 0:
		a.add(OpConstant, k, k, format(v-1), fmt.Sprintf("constant off by one: %s becomes %s in `%s`", t.Text, format(v-1), line))
	case m[2] == "":
		a.add(OpConstant, k, k, "(-1)", fmt.Sprintf("constant off by one: 0 becomes -1 in `%s`", line))
	}
}
