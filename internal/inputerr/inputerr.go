// Package inputerr is vmtest's one kind of bad-input error: a problem with
// what the user gave (a flag, a spec key, a file it names), found before
// anything was built, downloaded or booted. Every library reports one as
// an *Error, which errors.Is matches against ErrBadInput, so the CLI needs
// one test for "exit 2" however deep the error was wrapped.
//
// An Error names the field and the value, not a command-line flag: the
// libraries do not know how a caller spells its options. The CLI renders
// the outermost field as its flag (see Error.Named).
package inputerr

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadInput is matched by errors.Is for every *Error.
var ErrBadInput = errors.New("bad input")

// Error is a problem with one input.
type Error struct {
	// Field names the input: "out", "cache", "kernel", "tree", ... Empty
	// when Err names its input itself.
	Field string
	// Value is what was given ("" when nothing was).
	Value string
	// Err says what is wrong with it and, where it can, what to do.
	Err error
}

// New returns an *Error for field and value.
func New(field, value string, err error) error {
	return &Error{Field: field, Value: value, Err: err}
}

// Errorf returns an *Error for field and value with a formatted problem.
func Errorf(field, value, format string, args ...any) error {
	return &Error{Field: field, Value: value, Err: fmt.Errorf(format, args...)}
}

// Wrap marks err, whose message names its input itself, as bad input;
// bad input already, or nil, it is returned as it is.
func Wrap(err error) error {
	if err == nil || errors.Is(err, ErrBadInput) {
		return err
	}
	return &Error{Err: err}
}

// Error is one line: "field value: problem".
func (e *Error) Error() string { return e.Named(e.Field) }

// Named is Error with the field spelled name (a flag, say "--out").
func (e *Error) Named(name string) string {
	var b strings.Builder
	b.WriteString(name)
	if e.Value != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(e.Value)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Is reports whether target is ErrBadInput.
func (e *Error) Is(target error) bool { return target == ErrBadInput }

// Unwrap returns the problem.
func (e *Error) Unwrap() error { return e.Err }

// Render writes err as a command line shows it: the field of its
// outermost *Error (whatever wraps it) spelled by flag, which returns the
// field's flag or "" when the command has none (the field is then shown
// as it is). Any other error is its Error().
func Render(err error, flag func(field string) string) string {
	msg := err.Error()
	var e *Error
	if !errors.As(err, &e) || e.Field == "" {
		return msg
	}
	name := flag(e.Field)
	if name == "" {
		return msg
	}
	inner := e.Error()
	prefix, ok := strings.CutSuffix(msg, inner)
	if !ok {
		return msg // a wrapper that does not end with it: leave it alone
	}
	return prefix + e.Named(name)
}

// OneOf is the problem with a value outside valid: "want a, b or c".
func OneOf[T ~string](valid []T) error {
	s := make([]string, len(valid))
	for i, v := range valid {
		s[i] = string(v)
	}
	switch len(s) {
	case 0:
		return errors.New("no value is valid")
	case 1:
		return fmt.Errorf("want %s", s[0])
	}
	return fmt.Errorf("want %s or %s", strings.Join(s[:len(s)-1], ", "), s[len(s)-1])
}
