package experiments

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Overrides are settings that differ from an experiment's defaults for its scale: entries
// "experiment.Field=value", as given to `fisens reproduce --set`. They reach the experiments as a
// value (Common.Overrides), never through the environment. The zero value overrides nothing.
type Overrides struct{ entries []override }

// override is one "experiment.Field=value" entry.
type override struct{ entry, exp, field, val string }

// ParseOverrides parses specs, each holding entries separated by ";" (blank entries are ignored):
// "setup1.Images=5000; setup3.Models=zoo:a,zoo:b" (list values separated by ","; experiment and
// field names case-insensitive, fields as in the Config types). It reports an entry that is not of
// the form experiment.Field=value, that names no registered experiment (a typo would otherwise be
// ignored), or whose field or value does not fit the experiment's Config.
func ParseOverrides(specs ...string) (Overrides, error) {
	var o Overrides
	var exps []Experiment
	for _, spec := range specs {
		for _, entry := range strings.Split(spec, ";") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			key, val, ok := strings.Cut(entry, "=")
			exp, field, ok2 := strings.Cut(strings.TrimSpace(key), ".")
			if !ok || !ok2 {
				return Overrides{}, fmt.Errorf("--set entry %q: want experiment.Field=value", entry)
			}
			exp = strings.TrimSpace(exp)
			e, err := Lookup(strings.ToLower(exp))
			if err != nil {
				return Overrides{}, fmt.Errorf("--set entry %q: %v", entry, err)
			}
			exps = append(exps, e)
			o.entries = append(o.entries, override{entry: entry, exp: exp, field: strings.TrimSpace(field), val: strings.TrimSpace(val)})
		}
	}
	for _, e := range exps {
		if e.checkOverrides != nil {
			if err := e.checkOverrides(o); err != nil {
				return Overrides{}, err
			}
		}
	}
	return o, nil
}

// MustParseOverrides is ParseOverrides for specs known to be valid (tests); it panics on an
// error.
func MustParseOverrides(specs ...string) Overrides {
	o, err := ParseOverrides(specs...)
	if err != nil {
		panic(err)
	}
	return o
}

// String returns the entries joined by "; " ("" for none).
func (o Overrides) String() string {
	parts := make([]string, len(o.entries))
	for i, e := range o.entries {
		parts[i] = e.entry
	}
	return strings.Join(parts, "; ")
}

// Apply sets the fields of the config struct pointed to by cfg from the entries whose experiment
// is name (others are ignored). Supported field types: string, int, int64, float64, bool,
// []string and []int.
func (o Overrides) Apply(name string, cfg any) error {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("Overrides.Apply: want a pointer to a config struct, got %T", cfg)
	}
	s := v.Elem()
	for _, e := range o.entries {
		if !strings.EqualFold(e.exp, name) {
			continue
		}
		f := s.FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, e.field) })
		if !f.IsValid() || !f.CanSet() {
			return fmt.Errorf("--set entry %q: %T has no field %q (fields: %s)", e.entry, cfg, e.field, strings.Join(fieldNames(s.Type()), ", "))
		}
		if err := setField(f, e.val); err != nil {
			return fmt.Errorf("--set entry %q: field %s is %s: %v", e.entry, e.field, f.Type(), err)
		}
	}
	return nil
}

// setField parses val into the settable field f.
func setField(f reflect.Value, val string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(val)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Slice:
		parts := strings.Split(val, ",")
		switch f.Type().Elem().Kind() {
		case reflect.String:
			out := make([]string, 0, len(parts))
			for _, p := range parts {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			f.Set(reflect.ValueOf(out))
		case reflect.Int:
			out := make([]int, 0, len(parts))
			for _, p := range parts {
				n, err := strconv.Atoi(strings.TrimSpace(p))
				if err != nil {
					return err
				}
				out = append(out, n)
			}
			f.Set(reflect.ValueOf(out))
		case reflect.Float64:
			out := make([]float64, 0, len(parts))
			for _, p := range parts {
				x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
				if err != nil {
					return err
				}
				out = append(out, x)
			}
			f.Set(reflect.ValueOf(out).Convert(f.Type()))
		default:
			return fmt.Errorf("unsupported list type")
		}
	default:
		return fmt.Errorf("unsupported type")
	}
	return nil
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() {
			out = append(out, t.Field(i).Name)
		}
	}
	return out
}
