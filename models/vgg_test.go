package models

import "testing"

func TestVGGSmall(t *testing.T) {
	// conv1, conv2 3×3 (32), pool; conv3, conv4 (64), pool; conv5, conv6 (128), pool; fc7 (256),
	// fc8 (10). Spatial 28 → 14 → 7 → 3, 32 → 16 → 8 → 4.
	body := func(c int) int {
		return conv(3, c, 32) + conv(3, 32, 32) + conv(3, 32, 64) + conv(3, 64, 64) + conv(3, 64, 128) + conv(3, 128, 128)
	}
	mnist := body(1) + dense(3*3*128, 256) + dense(256, 10) // = 584,170
	cifar := body(3) + dense(4*4*128, 256) + dense(256, 10) // = 814,122
	if mnist != 584170 || cifar != 814122 {
		t.Fatalf("hand arithmetic: %d %d", mnist, cifar)
	}
	scopes := "[/conv1 /conv2 /conv3 /conv4 /conv5 /conv6 /fc7 /fc8]"
	t.Run("28x28x1", func(t *testing.T) { checkConvNet(t, mnistCfg("vgg-small"), scopes, mnist) })
	t.Run("32x32x3", func(t *testing.T) { checkConvNet(t, cifarCfg("vgg-small"), scopes, cifar) })
}

func TestVGGSmallModes(t *testing.T) {
	cfg := mnistCfg("vgg-small")
	cfg.Dropout = 0.5
	checkModes(t, cfg, false)
}
