// Package ctoken splits C source into tokens with their byte offsets,
// lines and columns, matches brackets, and finds function definitions.
// It is not a C parser: it knows the lexical grammar (comments, string
// and character literals, preprocessor lines, numbers, identifiers and
// punctuators by maximal munch) and bracket structure, which is enough to
// find a function's body and to tell code from everything that must never
// be mutated. It works on the source as written, before preprocessing:
// macros are ordinary identifiers.
package ctoken

import (
	"fmt"
	"strings"
)

// Kind is a token's lexical class.
type Kind int

// The token kinds. Comment, Preproc, String and Char tokens are never
// mutated; only Ident, Number and Punct are code.
const (
	Ident   Kind = iota // identifiers and keywords
	Number              // preprocessing numbers: 10, 0x1fUL, 1e-3
	String              // "...", L"...", u8"..."
	Char                // 'a', '<', L'x'
	Punct               // operators and punctuators: -> <<= ( {
	Comment             // /* ... */ and // ...
	Preproc             // a whole directive line, continuations included
)

var kindNames = [...]string{"ident", "number", "string", "char", "punct", "comment", "preproc"}

// String names the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Token is one lexeme: Text is Src[Off:End]. Line and Col (1-based, Col
// counted in bytes) are where it starts; EndLine is the line of its last
// byte, different from Line only for multi-line comments, directives and
// literals with line continuations.
type Token struct {
	Kind    Kind
	Text    string
	Off     int
	End     int
	Line    int
	Col     int
	EndLine int
}

// IsCode reports whether the token is part of the program proper rather
// than a comment, a directive or a literal.
func (t Token) IsCode() bool { return t.Kind == Ident || t.Kind == Number || t.Kind == Punct }

// Is reports whether the token is the punctuator or identifier s.
func (t Token) Is(s string) bool { return (t.Kind == Punct || t.Kind == Ident) && t.Text == s }

// puncts are the multi-character punctuators, longest first so that the
// first match is the maximal munch.
var puncts = []string{
	"<<=", ">>=", "...",
	"->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
	"+=", "-=", "*=", "/=", "%=", "&=", "^=", "|=", "##",
}

// Error is a lexical error at a position.
type Error struct {
	Line, Col int
	Msg       string
}

// Error gives the position and the problem.
func (e *Error) Error() string { return fmt.Sprintf("line %d:%d: %s", e.Line, e.Col, e.Msg) }

type lexer struct {
	src       []byte
	pos       int
	line, col int
	// lineStart is true while only white space has been seen on the
	// current line: a '#' there opens a directive.
	lineStart bool
}

func (l *lexer) peek(n int) byte {
	if l.pos+n < len(l.src) {
		return l.src[l.pos+n]
	}
	return 0
}

func (l *lexer) advance() {
	if l.src[l.pos] == '\n' {
		l.line++
		l.col = 1
		l.lineStart = true
	} else {
		l.col++
	}
	l.pos++
}

// Tokenize splits src into tokens, comments and directives included, in
// order; white space is dropped. An unterminated comment or literal is an
// error naming where it starts.
func Tokenize(src []byte) ([]Token, error) {
	l := &lexer{src: src, line: 1, col: 1, lineStart: true}
	var toks []Token
	for l.pos < len(src) {
		c := src[l.pos]
		switch {
		case c == '\\' && l.peek(1) == '\n':
			// A line continuation outside a directive joins lines; it
			// separates nothing.
			l.advance()
			l.advance()
			continue
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.advance()
			continue
		}
		start, line, col, atLineStart := l.pos, l.line, l.col, l.lineStart
		var kind Kind
		var err error
		switch {
		case c == '#' && l.lineStart:
			kind = Preproc
			err = l.directive()
		case c == '/' && l.peek(1) == '*':
			kind = Comment
			err = l.blockComment()
		case c == '/' && l.peek(1) == '/':
			kind = Comment
			l.lineComment()
		case c == '"':
			kind = String
			err = l.quoted('"')
		case c == '\'':
			kind = Char
			err = l.quoted('\'')
		case isDigit(c) || (c == '.' && isDigit(l.peek(1))):
			kind = Number
			l.number()
		case isIdentStart(c):
			kind = Ident
			for l.pos < len(src) && isIdentChar(src[l.pos]) {
				l.advance()
			}
			// An encoding prefix belongs to the literal it starts.
			if p := string(src[start:l.pos]); (p == "L" || p == "u" || p == "U" || p == "u8") && l.pos < len(src) && (src[l.pos] == '"' || src[l.pos] == '\'') {
				q := src[l.pos]
				kind = String
				if q == '\'' {
					kind = Char
				}
				err = l.quoted(q)
			}
		default:
			kind = Punct
			n := 1
			for _, p := range puncts {
				if strings.HasPrefix(string(src[l.pos:min(l.pos+3, len(src))]), p) {
					n = len(p)
					break
				}
			}
			for range n {
				l.advance()
			}
		}
		if err != nil {
			return nil, &Error{Line: line, Col: col, Msg: err.Error()}
		}
		// A comment is white space: a directive may follow it.
		l.lineStart = kind == Comment && atLineStart
		end := l.pos
		endLine := l.line
		if end > start && src[end-1] == '\n' {
			endLine--
		}
		toks = append(toks, Token{Kind: kind, Text: string(src[start:end]), Off: start, End: end, Line: line, Col: col, EndLine: endLine})
	}
	return toks, nil
}

// directive consumes a preprocessor line up to (not including) its
// newline, following backslash continuations and skipping comments and
// literals, which may hide a newline or a quote.
func (l *lexer) directive() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			return nil
		case c == '\\' && l.peek(1) == '\n':
			l.advance()
			l.advance()
		case c == '/' && l.peek(1) == '*':
			if err := l.blockComment(); err != nil {
				return err
			}
		case c == '/' && l.peek(1) == '/':
			l.lineComment()
		case c == '"' || c == '\'':
			// #error don't: an unmatched quote in a directive is text,
			// so a literal ends at the line's end at the latest.
			l.advance()
			for l.pos < len(l.src) && l.src[l.pos] != c && l.src[l.pos] != '\n' {
				if l.src[l.pos] == '\\' && l.peek(1) != 0 {
					l.advance()
				}
				l.advance()
			}
			if l.pos < len(l.src) && l.src[l.pos] == c {
				l.advance()
			}
		default:
			l.advance()
		}
	}
	return nil
}

func (l *lexer) blockComment() error {
	l.advance()
	l.advance()
	for l.pos < len(l.src) {
		if l.src[l.pos] == '*' && l.peek(1) == '/' {
			l.advance()
			l.advance()
			return nil
		}
		l.advance()
	}
	return fmt.Errorf("unterminated /* comment")
}

func (l *lexer) lineComment() {
	for l.pos < len(l.src) && l.src[l.pos] != '\n' {
		if l.src[l.pos] == '\\' && l.peek(1) == '\n' {
			l.advance()
		}
		l.advance()
	}
}

// quoted consumes a string or character literal; a newline before the
// closing quote (not escaped by a continuation) is an error, as in C.
func (l *lexer) quoted(q byte) error {
	l.advance()
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == q:
			l.advance()
			return nil
		case c == '\\' && l.pos+1 < len(l.src):
			l.advance()
			l.advance()
		case c == '\n':
			return fmt.Errorf("unterminated %s literal", literalName(q))
		default:
			l.advance()
		}
	}
	return fmt.Errorf("unterminated %s literal", literalName(q))
}

func literalName(q byte) string {
	if q == '"' {
		return "string"
	}
	return "character"
}

// number consumes a preprocessing number: digits, letters, '.', '_' and
// a sign after an exponent letter (1e-3, 0x1p+4).
func (l *lexer) number() {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if (c == '+' || c == '-') && l.pos > 0 && strings.IndexByte("eEpP", l.src[l.pos-1]) >= 0 {
			l.advance()
			continue
		}
		if !isIdentChar(c) && c != '.' {
			return
		}
		l.advance()
	}
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == '$' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// Code returns toks without comments and directives: what the compiler
// sees of the function bodies. Literals stay, since they are operands.
func Code(toks []Token) []Token {
	var out []Token
	for _, t := range toks {
		if t.Kind != Comment && t.Kind != Preproc {
			out = append(out, t)
		}
	}
	return out
}

var closer = map[string]string{"(": ")", "[": "]", "{": "}"}

// Match pairs brackets in code tokens (as returned by Code): m[i] is the
// index of the bracket matching toks[i], or -1 for other tokens. A
// mismatch is an error naming both positions; preprocessor conditionals
// whose branches each open a brace produce one, since both branches are
// read.
func Match(toks []Token) ([]int, error) {
	m := make([]int, len(toks))
	var stack []int
	for i, t := range toks {
		m[i] = -1
		if t.Kind != Punct {
			continue
		}
		switch t.Text {
		case "(", "[", "{":
			stack = append(stack, i)
		case ")", "]", "}":
			if len(stack) == 0 {
				return nil, &Error{Line: t.Line, Col: t.Col, Msg: fmt.Sprintf("unmatched %q", t.Text)}
			}
			o := stack[len(stack)-1]
			if closer[toks[o].Text] != t.Text {
				return nil, &Error{Line: t.Line, Col: t.Col, Msg: fmt.Sprintf("%q does not match %q at line %d:%d", t.Text, toks[o].Text, toks[o].Line, toks[o].Col)}
			}
			stack = stack[:len(stack)-1]
			m[o], m[i] = i, o
		}
	}
	if len(stack) > 0 {
		o := toks[stack[len(stack)-1]]
		return nil, &Error{Line: o.Line, Col: o.Col, Msg: fmt.Sprintf("unclosed %q", o.Text)}
	}
	return m, nil
}

// Func is a function definition, as indices into the code tokens it was
// found in.
type Func struct {
	Name string
	// NameTok is the name's index; LParen and RParen bound the parameter
	// list, LBrace and RBrace the body.
	NameTok, LParen, RParen, LBrace, RBrace int
	// Line is the line of the name, EndLine the line of the closing brace.
	Line, EndLine int
}

// Functions finds the function definitions in code tokens: an identifier
// followed by a parenthesised parameter list and then a '{' at brace
// depth 0. Struct bodies and initialisers (`= {`) do not match; a macro
// that defines a function (SYSCALL_DEFINE3(clone3, ...) {) is named by the
// macro.
func Functions(toks []Token, m []int) []Func {
	var out []Func
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !t.Is("{") {
			continue
		}
		close := m[i]
		if i >= 1 && toks[i-1].Is(")") {
			lp := m[i-1]
			if lp >= 1 && toks[lp-1].Kind == Ident && !keyword[toks[lp-1].Text] {
				out = append(out, Func{Name: toks[lp-1].Text, NameTok: lp - 1, LParen: lp, RParen: i - 1, LBrace: i, RBrace: close, Line: toks[lp-1].Line, EndLine: toks[close].Line})
			}
		}
		i = close // skip the body: nothing inside is at depth 0
	}
	return out
}

// keyword holds the C keywords that can precede a parenthesis, so that a
// stray `if (x) {` at depth 0 (in a macro body's leftovers) is no function.
var keyword = map[string]bool{
	"if": true, "while": true, "for": true, "switch": true, "return": true, "sizeof": true,
	"__attribute__": true, "typeof": true, "__typeof__": true, "_Alignof": true, "do": true,
}

// FindFunction returns the definition of name, or an error listing what
// was found instead when there is none or more than one (#ifdef'd
// alternatives).
func FindFunction(toks []Token, m []int, name string) (Func, error) {
	var found []Func
	fs := Functions(toks, m)
	for _, f := range fs {
		if f.Name == name {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Func{}, fmt.Errorf("no definition of function %s (the file defines %d functions; give FILE:FIRST-LAST for code outside a function)", name, len(fs))
	default:
		var lines []string
		for _, f := range found {
			lines = append(lines, fmt.Sprint(f.Line))
		}
		return Func{}, fmt.Errorf("function %s is defined %d times (lines %s, likely #ifdef alternatives): give FILE:FIRST-LAST instead", name, len(found), strings.Join(lines, ", "))
	}
}
