package models

import (
	"os"
	"testing"
	"time"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
)

func TestZZTiming(t *testing.T) {
	name := os.Getenv("ZZ_MODEL")
	if name == "" {
		t.Skip()
	}
	test, err := datasets.Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	sub := test.Subset(test.Range(0, 1000))
	m, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	b := backend.Must("go")
	Accuracy(b, m, sub.Subset(sub.Range(0, 256)), 0) // compile
	start := time.Now()
	acc, err := Accuracy(b, m, sub, 0)
	t.Logf("%s: 1000 images in %.1f s on go (acc %.3f, err %v)", name, time.Since(start).Seconds(), acc, err)
}
