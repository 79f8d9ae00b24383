package figures

import (
	"github.com/janpfeifer/gonb/gonbui"
)

// Show displays fig inline in a GoNB notebook cell (as PNG). Outside a notebook it does nothing
// and returns nil, so experiment code can call it unconditionally.
func Show(fig *Figure) error {
	if !gonbui.IsNotebook {
		return nil
	}
	png, err := fig.PNG()
	if err != nil {
		return err
	}
	gonbui.DisplayPNG(png)
	gonbui.Sync()
	return nil
}
