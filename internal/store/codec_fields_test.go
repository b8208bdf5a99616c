// Tests that the field table and its lookup switch agree.

package store

import "testing"

// indexOf (a switch, for speed) and fieldNames (the table Encode writes
// from) list the same fields: every name maps back to its own index, and a
// blob piece or unknown name maps to none.
func TestIndexOfInvertsFieldNames(t *testing.T) {
	for s := fieldIndex(0); s < numFields; s++ {
		if got, ok := indexOf(fieldNames[s]); !ok || got != s {
			t.Errorf("indexOf(%q) = %d, %v; want %d", fieldNames[s], got, ok, s)
		}
	}
	for _, name := range []string{"_g1", "_d0", "future_field", ""} {
		if _, ok := indexOf(name); ok {
			t.Errorf("indexOf(%q) found an index", name)
		}
	}
	if numFields > 32 {
		t.Fatalf("%d fields do not fit loaded.has", numFields)
	}
}
