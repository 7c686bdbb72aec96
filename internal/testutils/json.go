package testutils

import (
	"encoding/json"
	"os"
	"testing"
)

// ReadJSON decodes the JSON file at path into a new T, failing the test
// when it cannot: for fixtures (a result.json, a build manifest) that tests
// of several packages share.
func ReadJSON[T any](tb testing.TB, path string) *T {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return v
}
