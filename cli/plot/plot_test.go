package plot

import (
	"bytes"
	"image/png"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Catches gonum's default tick labels, which switch to e-notation for small values
// ("1.5e-06"), and labels rounded so that they lie (1.5 written "2").
func TestTickLabelsArePlainDecimals(t *testing.T) {
	for _, r := range [][2]float64{{1.5e-6, 3.1e-6}, {0.0012, 0.0041}, {0.8, 3.17}, {120, 5300}, {9.1, 9.4}, {1.35, 4.0}, {0, 0.5}} {
		var labels []string
		for _, tk := range (decimalTicks{}).Ticks(r[0], r[1]) {
			if tk.Label == "" {
				continue
			}
			labels = append(labels, tk.Label)
			if v, err := strconv.ParseFloat(tk.Label, 64); err != nil || math.Abs(v-tk.Value) > 1e-9*math.Max(math.Abs(tk.Value), 1e-12) {
				t.Errorf("range %v: tick %v labelled %q", r, tk.Value, tk.Label)
			}
		}
		if len(labels) < 2 {
			t.Errorf("range %v: labels %q, want at least two", r, labels)
		}
		for i, l := range labels {
			if strings.ContainsAny(l, "eE") {
				t.Errorf("range %v: label %q in e-notation", r, l)
			}
			if i > 0 && l == labels[i-1] {
				t.Errorf("range %v: labels %q repeat", r, labels)
			}
		}
	}
}

// Catches a legend entry for a series with nothing drawn (the old plot listed "tried" when no
// setup was tried).
func TestLegendOnlyForWhatIsShown(t *testing.T) {
	ch := Chart{Series: []Series{
		{Name: "baseline", Points: []Point{{X: 1, Y: 2}}},
		{Name: "tried"},
		{Name: "final", Points: []Point{{X: 2, Y: 1}}},
		{Points: []Point{{X: 3, Y: 3}}}, // unnamed: no entry
	}, Diagonal: true}
	_, legend, err := ch.plot()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"baseline", "final", "y = x"}; !slices.Equal(legend, want) {
		t.Fatalf("legend %q, want %q", legend, want)
	}
}

// Catches labels that grow outward from points at the edge: the plot then shrinks the data
// area by the label's length (or, drawn by hand, cuts it with "…").
func TestLongLabelsGrowInward(t *testing.T) {
	long := "AS@256,CA@256,CS@256,CSA@256,CSL@256,CT@256,CW@256,DJ@256,I@256,SE@256"
	ch := Chart{Series: []Series{{Labels: true, Points: []Point{
		{X: 10, Y: 1, Label: "short"}, {X: 30, Y: 3, Label: long}, {X: 20, Y: 2.5, Label: long},
	}}}}
	p, _, err := ch.plot()
	if err != nil {
		t.Fatal(err)
	}
	img := vgimg.NewWith(vgimg.UseWH(vg.Inch*1100/dpi, vg.Inch*700/dpi), vgimg.UseDPI(dpi))
	c := draw.New(img)
	data := p.DataCanvas(c)
	if frac := float64(data.Size().X / c.Size().X); frac < 0.8 {
		t.Fatalf("data area is %.0f %% of the width: labels pushed it aside", 100*frac)
	}
}

func TestWritePNG(t *testing.T) {
	green := Palette[2]
	charts := []Chart{{Title: "iot", XLabel: "median latency (ms)", YLabel: "$ per million requests", Series: []Series{
		{Name: "baseline", Points: []Point{{X: 237, Y: 22.91, Label: "all remote"}}, Color: Palette[1], Labels: true},
		{Name: "final", Points: []Point{{X: 171, Y: 16.81, Label: "I+CW+SE@256"}}, Color: green, Size: 7, Labels: true},
	}}}
	var buf bytes.Buffer
	if err := WritePNG(&buf, 900, 600, charts, charts); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 900 || b.Dy() != 600 {
		t.Fatalf("size %v, want 900×600", b)
	}
	found := 0
	gr, gg, gb, _ := green.RGBA()
	for y := 0; y < 600; y++ {
		for x := 0; x < 900; x++ {
			if r, g, b, _ := img.At(x, y).RGBA(); r == gr && g == gg && b == gb {
				found++
			}
		}
	}
	if found < 50 {
		t.Fatalf("%d pixels of the final setup's color: not drawn", found)
	}
	if err := WritePNG(&buf, 900, 600, []Chart{{Title: "empty", Series: []Series{{Name: "x"}}}}); err == nil || !strings.Contains(err.Error(), "no points") {
		t.Fatalf("a chart without points: %v", err)
	}
	if err := SavePNG(filepath.Join(t.TempDir(), "a", "b.png"), 300, 200, charts); err != nil {
		t.Fatalf("SavePNG into a new directory: %v", err)
	}
}
