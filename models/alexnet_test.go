package models

import (
	"fmt"
	"testing"
)

// checkConvNet checks layer names, order, counts, parameters and the logits' shape of a plain net.
func checkConvNet(t *testing.T, cfg Config, wantScopes string, wantParams int) {
	t.Helper()
	m, out := buildOnly(t, cfg, 2)
	if got := fmt.Sprint(out.Dimensions); got != "[2 10]" {
		t.Errorf("logits shape %s, want [2 10]", got)
	}
	ls := layersOf(m.Store())
	_, params := kindCounts(t, ls)
	var scopes []string
	for _, l := range ls {
		scopes = append(scopes, l.scope)
	}
	if got := fmt.Sprint(scopes); got != wantScopes {
		t.Errorf("layers %s, want %s", got, wantScopes)
	}
	if params != wantParams {
		t.Errorf("%d trainable parameters, want %d", params, wantParams)
	}
	checkNonTrainable(t, m.Store())
}

func TestAlexNetSmall(t *testing.T) {
	// conv1 5×5 (32), pool; conv2 3×3 (64), pool; conv3, conv4 3×3 (96); conv5 3×3 (64), pool;
	// fc6 (256), fc7 (256), fc8 (10). Spatial 28 → 14 → 7 → 3 ('valid' pool floors), 32 → 16 → 8 → 4.
	body := func(c int) int {
		return conv(5, c, 32) + conv(3, 32, 64) + conv(3, 64, 96) + conv(3, 96, 96) + conv(3, 96, 64)
	}
	head := dense(256, 256) + dense(256, 10)
	mnist := body(1) + dense(3*3*64, 256) + head // = 429,194
	cifar := body(3) + dense(4*4*64, 256) + head // = 545,482
	if mnist != 429194 || cifar != 545482 {
		t.Fatalf("hand arithmetic: %d %d", mnist, cifar)
	}
	scopes := "[/conv1 /conv2 /conv3 /conv4 /conv5 /fc6 /fc7 /fc8]"
	t.Run("28x28x1", func(t *testing.T) { checkConvNet(t, mnistCfg("alexnet-small"), scopes, mnist) })
	t.Run("32x32x3", func(t *testing.T) { checkConvNet(t, cifarCfg("alexnet-small"), scopes, cifar) })
}

func TestAlexNetSmallModes(t *testing.T) {
	cfg := mnistCfg("alexnet-small")
	cfg.Dropout = 0.5
	checkModes(t, cfg, false)
}
