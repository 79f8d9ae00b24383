package experiments

import "github.com/fisens/fisens/models"

// quickPair returns the quick-scale pair of zoo models the Shu & Zhu setups compare: the small
// ResNet and DenseNet (the paper's two families) when the zoo holds both, else the small
// AlexNet- and VGG-style nets, so that a quick run works with whatever the zoo was built with.
// The models used are recorded in every output.
func quickPair() []string {
	want := []string{models.ZooPrefix + "resnet-small-mnist", models.ZooPrefix + "densenet-small-mnist"}
	if keep, _ := availableZooModels(want); len(keep) == len(want) {
		return want
	}
	return []string{models.ZooPrefix + "alexnet-small-mnist", models.ZooPrefix + "vgg-small-mnist"}
}
