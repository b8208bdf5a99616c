package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// valueError is a bad value in the YAML file. It keeps its node's position
// so that ParseFile can name the key the value belongs to: the types that
// read a value (Dec, Duration, WholeNumber) do not know it.
type valueError struct {
	line, column int
	msg          string
}

func (e *valueError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// badValue is a valueError at n.
func badValue(n *yaml.Node, format string, args ...any) error {
	return &valueError{line: n.Line, column: n.Column, msg: fmt.Sprintf(format, args...)}
}

// entry is one key (or list item) of the file: its path from the top
// ("predictive.purchases.r", "tiers[1].min"), its key node (nil for a
// list item) and its value node.
type entry struct {
	path       string
	key, value *yaml.Node
}

// entries lists every key and list item under n, depth first. Aliases are
// not followed (their anchored node is listed where it stands).
func entries(n *yaml.Node, path string, out []entry) []entry {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = entries(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			out = append(out, entry{p, k, v})
			out = entries(v, p, out)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out = append(out, entry{p, nil, v})
			out = entries(v, p, out)
		}
	}
	return out
}

var (
	reEntry     = regexp.MustCompile(`^line (\d+): (.*)$`)
	reUnknown   = regexp.MustCompile(`^field (.+) not found in type .*$`)
	reRepeated  = regexp.MustCompile(`^mapping key (.*) already defined at line (\d+)$`)
	reWrongKind = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
)

// nameKeys rewrites an error of the strict decoder of data so that it
// names the key at fault, in the file's terms and on one line: "line 3:
// tiers[1].min: "x" is not a decimal number", "line 1: unknown key
// "lifespan_yeers"" instead of yaml's "field lifespan_yeers not found in
// type config.File" (and its header line). An error it cannot place is
// returned as it is.
func nameKeys(data []byte, err error) error {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return err
	}
	all := entries(&root, "", nil)
	var ve *valueError
	if errors.As(err, &ve) {
		for _, e := range all {
			if e.value.Line == ve.line && e.value.Column == ve.column {
				return fmt.Errorf("line %d: %s: %s", ve.line, e.path, ve.msg)
			}
		}
		return err
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = nameKey(all, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// nameKey rewrites one of a yaml.TypeError's lines ("line N: ...").
func nameKey(all []entry, m string) string {
	sub := reEntry.FindStringSubmatch(m)
	if sub == nil {
		return m
	}
	line, _ := strconv.Atoi(sub[1])
	msg := sub[2]
	// only returns the path of the single entry at line that match
	// accepts ("" for none or several).
	only := func(match func(entry) bool) string {
		found := ""
		for _, e := range all {
			if match(e) {
				if found != "" && found != e.path {
					return ""
				}
				found = e.path
			}
		}
		return found
	}
	if s := reUnknown.FindStringSubmatch(msg); s != nil {
		path := only(func(e entry) bool { return e.key != nil && e.key.Line == line && e.key.Value == s[1] })
		if path == "" {
			path = s[1]
		}
		return fmt.Sprintf("line %d: unknown key %q", line, path)
	}
	if s := reRepeated.FindStringSubmatch(msg); s != nil {
		name, err := strconv.Unquote(s[1])
		if err != nil {
			name = s[1]
		}
		path := only(func(e entry) bool { return e.key != nil && e.key.Line == line && e.key.Value == name })
		if path == "" {
			path = name
		}
		return fmt.Sprintf("line %d: %s: given twice (first at line %s)", line, path, s[2])
	}
	if s := reWrongKind.FindStringSubmatch(msg); s != nil {
		tag, value, goType := s[1], s[2], s[3]
		path := only(func(e entry) bool {
			return e.value.Line == line && e.value.ShortTag() == tag && (value == "" || e.value.Value == value)
		})
		if path == "" {
			return fmt.Sprintf("line %d: want %s, got %s", line, wantOf(goType), gotOf(tag, value))
		}
		return fmt.Sprintf("line %d: %s: want %s, got %s", line, path, wantOf(goType), gotOf(tag, value))
	}
	return m
}

// wantOf says in the file's terms what a Go type reads.
func wantOf(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	switch {
	case strings.HasPrefix(goType, "float"), strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	default: // maps and structs (config.Predictive, the parameter blocks)
		return "a mapping"
	}
}

// gotOf says what a YAML node of tag (and scalar value) is.
func gotOf(tag, value string) string {
	switch tag {
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!str":
		return strconv.Quote(value)
	}
	return value
}
