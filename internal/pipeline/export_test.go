package pipeline

// Hooks into the CloudEvents header code for its tests (package
// pipeline_test, which may import testutil; this package may not).
var (
	CEHeaders     = ceHeaders
	CEHeaderCount = ceHeaderCount
)

// CEAttrs is ceAttrsOf (parsed false) or ceAttrsParsed (parsed true).
func CEAttrs(doc []byte, parsed bool) (typ, id, time []byte, ok bool) {
	f := ceAttrsOf
	if parsed {
		f = ceAttrsParsed
	}
	a, ok := f(doc)
	return a.typ, a.id, a.time, ok
}
