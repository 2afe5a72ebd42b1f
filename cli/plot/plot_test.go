package plot

import (
	"bytes"
	"image/png"
	"testing"
)

func TestWritePNG(t *testing.T) {
	var buf bytes.Buffer
	pts := []Point{
		{Label: "all remote", LatencyMS: 237, Cost: 2.291e-5, Kind: Baseline},
		{Label: "I+CW+SE@256", LatencyMS: 190, Cost: 1.9e-5},
		{Label: "final", LatencyMS: 171, Cost: 1.681e-5, Kind: Final},
	}
	if err := WritePNG(&buf, pts, Options{Title: "iot"}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 900 || b.Dy() != 600 {
		t.Fatalf("size %v", b)
	}
	// The final point is drawn in green where it should be.
	found := false
	for y := 0; y < 600 && !found; y++ {
		for x := 0; x < 900; x++ {
			if r, g, b, _ := img.At(x, y).RGBA(); r>>8 == 40 && g>>8 == 150 && b>>8 == 70 {
				found = true
				break
			}
		}
	}
	if !found {
		t.Fatal("final setup not drawn")
	}
	if err := WritePNG(&buf, nil, Options{}); err == nil {
		t.Fatal("empty plot accepted")
	}
}
