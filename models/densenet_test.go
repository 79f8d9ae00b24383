package models

import (
	"fmt"
	"testing"
)

// denseNetParams counts a DenseNet-BC by hand: stem conv(3, C, stem) + bn(stem); each dense layer
// on c input channels bn(c) + conv(1, c, B) + bn(B) + conv(3, B, g), then c += g; each transition
// bn(c) + conv(1, c, c/2), then c /= 2; final bn(c) and dense(c, 10).
func denseNetParams(channels, stem int, blocks []int, g, b int) (params, convs, bns int) {
	c := stem
	params, convs, bns = conv(3, channels, stem)+bn(stem), 1, 1
	for i, n := range blocks {
		for range n {
			params += bn(c) + conv(1, c, b) + bn(b) + conv(3, b, g)
			c += g
			convs, bns = convs+2, bns+2
		}
		if i < len(blocks)-1 {
			params += bn(c) + conv(1, c, c/2)
			c /= 2
			convs, bns = convs+1, bns+1
		}
	}
	return params + bn(c) + dense(c, 10), convs, bns + 1
}

func TestDenseNetArchitectures(t *testing.T) {
	// DenseNet121: channels 64 → +6·32 = 256 → 128 → +12·32 = 512 → 256 → +24·32 = 1024 → 512 →
	// +16·32 = 1024 at the head. Layers: 1 + 2·58 + 3 = 120 conv, 1 + 2·58 + 3 + 1 = 121 BN, 1 dense.
	d121m, convs, bns := denseNetParams(1, 64, []int{6, 12, 24, 16}, 32, 128)
	d121c, _, _ := denseNetParams(3, 64, []int{6, 12, 24, 16}, 32, 128)
	// Evaluated: 6,965,514 (28×28×1) and 6,966,666 (32×32×3); 6,956,426 without the 120 conv biases.
	if convs != 120 || bns != 121 || d121m != 6965514 || d121c != 6966666 {
		t.Fatalf("hand arithmetic: %d conv %d bn, %d, %d", convs, bns, d121m, d121c)
	}
	// densenet-small: stem 16, blocks [3, 3, 3], growth 12, bottleneck 48: channels 16 → 52 → 26 →
	// 62 → 31 → 67. Layers: 1 + 2·9 + 2 = 21 conv, 22 BN, 1 dense.
	dsm, sconvs, sbns := denseNetParams(1, 16, []int{3, 3, 3}, 12, 48)
	dsc, _, _ := denseNetParams(3, 16, []int{3, 3, 3}, 12, 48)
	if sconvs != 21 || sbns != 22 || dsm != 68975 {
		t.Fatalf("hand arithmetic: %d conv %d bn, %d", sconvs, sbns, dsm)
	}
	for _, c := range []struct {
		cfg              Config
		conv, bn, params int
	}{
		{mnistCfg("densenet121"), 120, 121, d121m},
		{cifarCfg("densenet121"), 120, 121, d121c},
		{mnistCfg("densenet-small"), 21, 22, dsm},
		{cifarCfg("densenet-small"), 21, 22, dsc},
	} {
		t.Run(fmt.Sprintf("%s_%d", c.cfg.Arch, c.cfg.Height), func(t *testing.T) {
			ls := checkConvBNNet(t, c.cfg, c.conv, c.bn, c.params)
			if ls[0].scope != "/stem/conv" || ls[1].scope != "/stem/bn" || ls[2].scope != "/block1/layer1/bn1" ||
				ls[len(ls)-2].scope != "/final/bn" || ls[len(ls)-1].scope != "/dense" {
				t.Errorf("layer order: %s, %s, %s … %s, %s", ls[0].scope, ls[1].scope, ls[2].scope, ls[len(ls)-2].scope, ls[len(ls)-1].scope)
			}
		})
	}
}

func TestDenseNetSmallModes(t *testing.T) {
	checkModes(t, mnistCfg("densenet-small"), true)
}
