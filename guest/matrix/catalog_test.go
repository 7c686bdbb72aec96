//go:build linux

package matrix

import (
	"bytes"
	"os"
	"testing"

	"github.com/vmtest/vmtest/internal/catalog"
)

// TestCatalogIsCurrent: the host's view of the matrix (internal/catalog) is
// generated from the cases here; editing a case without regenerating it
// would make the host list, select and report stale metadata.
func TestCatalogIsCurrent(t *testing.T) {
	want, err := catalog.Render(Infos())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../internal/catalog/cases.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("internal/catalog/cases.go is stale: run `go generate ./internal/catalog`")
	}
	// And what the host then reads back equals the matrix, entry by entry.
	cat := catalog.All()
	if len(cat) != len(all) {
		t.Fatalf("catalog has %d cases, the matrix %d", len(cat), len(all))
	}
	for i, c := range all {
		if got, want := cat[i].Setup.Describe(), c.Setup.Describe(); cat[i].ID != c.ID || got != want || cat[i].Needs != c.Needs {
			t.Errorf("catalog entry %d = %s (%s, needs %v), matrix has %s (%s, needs %v)", i, cat[i].ID, got, cat[i].Needs, c.ID, want, c.Needs)
		}
	}
}
