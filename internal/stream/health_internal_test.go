package stream

import (
	"errors"
	"strings"
	"testing"
)

// A broker outage fails every partition's fetch: the report names the
// first few parts in a stable order and counts the rest.
func TestFailingErrorNamesAFewPartsAndCountsTheRest(t *testing.T) {
	down := errors.New("connection refused")
	e := &failingError{}
	for n := range 6 {
		e.parts = append(e.parts, fetchPart("orders", n))
		e.errs = append(e.errs, errors.New("fetch orders/"+string(rune('0'+n))+": connection refused"))
	}
	e.parts = append(e.parts, healthPart{what: "worker", n: 1})
	e.errs = append(e.errs, down)
	got := e.Error()
	for _, want := range []string{"7 parts failing: ", "fetch orders/0: connection refused; fetch orders/1", "fetch orders/3: connection refused; and 3 more"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "orders/4") || !errors.Is(e, down) {
		t.Errorf("%q names a part past the first four, or errors.Is misses one left out of the text", got)
	}
	two := &failingError{parts: []healthPart{commitPart, {what: "worker", n: 2}}, errs: []error{errors.New("commit: x"), down}}
	if got := two.Error(); got != "2 parts failing: commit: x; worker 2: connection refused" {
		t.Errorf("%q", got)
	}
}
