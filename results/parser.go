package results

import (
	"fmt"
	"strconv"
)

// Parser reads typed fields of a row, keeping the first error (so a row is parsed with a run of
// calls and one check):
//
//	p := results.Parser{Row: rec}
//	i, fi := p.Int(0), p.Float(4)
//	if p.Err != nil { ... }
type Parser struct {
	Row []string
	Err error
}

// Text returns field i ("" and an error if the row is shorter).
func (p *Parser) Text(i int) string {
	if i < 0 || i >= len(p.Row) {
		if p.Err == nil {
			p.Err = fmt.Errorf("row has %d fields, want at least %d", len(p.Row), i+1)
		}
		return ""
	}
	return p.Row[i]
}

// Int returns field i as an int.
func (p *Parser) Int(i int) int {
	s := p.Text(i)
	if p.Err != nil {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		p.Err = fmt.Errorf("field %d: %w", i+1, err)
	}
	return v
}

// Float returns field i as a float64 (NaN and ±Inf included).
func (p *Parser) Float(i int) float64 {
	s := p.Text(i)
	if p.Err != nil {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && checkField(Float, s) != nil {
		p.Err = fmt.Errorf("field %d: %w", i+1, err)
	}
	return v
}
