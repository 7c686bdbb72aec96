//go:build linux && (amd64 || arm64)

package clone3

import (
	"testing"

	"github.com/vmtest/vmtest/internal/testutils"
)

func TestMain(m *testing.M) { testutils.RunReapingChildren(m) }
