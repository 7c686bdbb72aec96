//go:build linux

package agent

import (
	"testing"

	"github.com/vmtest/vmtest/internal/testutils"
)

func TestMain(m *testing.M) { testutils.RunReapingChildren(m) }
