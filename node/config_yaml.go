package node

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkYAML walks a parsed configuration file against the type of the
// value it is decoded into (Config) and reports every problem at once, in
// the file's terms: the key path and line, never a Go type. It reports
// unknown keys and values of the wrong kind (a bad duration, integer,
// boolean, list or mapping); what a value means is Validate's business.
func checkYAML(doc *yaml.Node, t reflect.Type) []error {
	var errs []error
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil
		}
		doc = doc.Content[0]
	}
	if doc.Kind == 0 { // an empty file
		return nil
	}
	walkYAML(doc, t, "", &errs)
	return errs
}

var durationType = reflect.TypeFor[Duration]()

func walkYAML(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // key: (nothing) leaves the default
	}
	bad := func(format string, args ...any) {
		where := path
		if where == "" {
			where = "the file"
		}
		*errs = append(*errs, fmt.Errorf("%s: "+format+" (line %d)", append([]any{where}, append(args, n.Line)...)...))
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			bad("want a duration like \"25s\" or an integer of milliseconds")
		} else if _, err := ParseDuration(n.Value); err != nil {
			bad("%q is not a duration (Go syntax like \"25s\" or \"1m30s\", or an integer of milliseconds)", n.Value)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping of keys")
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" { // <<: *defaults merges a mapping (or a list of them) here
				if v.Kind == yaml.SequenceNode {
					for _, m := range v.Content {
						walkYAML(m, t, path, errs)
					}
				} else {
					walkYAML(v, t, path, errs)
				}
				continue
			}
			key := join(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, fmt.Errorf("unknown key %q at line %d", key, k.Line))
				continue
			}
			walkYAML(v, f.Type, key, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("want a list, like [a, b]")
			return
		}
		for i, e := range n.Content {
			walkYAML(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping, like {a: b}")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkYAML(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode {
			bad("want %s", kindWord(t.Kind()))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			bad("%q is not %s", n.Value, kindWord(t.Kind()))
		}
	}
}

// kindWord names a value kind as a user would.
func kindWord(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	}
	return "a string"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the yaml keys of a struct to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = f
	}
	return out
}

// errFileProblems joins the problems of one file under its name.
func errFileProblems(path string, problems []error) error {
	return fmt.Errorf("config file %s:\n%w", path, errors.Join(problems...))
}
