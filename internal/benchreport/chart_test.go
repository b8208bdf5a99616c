package benchreport

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"
	"time"
)

func TestWriteChart(t *testing.T) {
	tests := []struct {
		name     string
		report   func() Report
		wantCols []color.RGBA // colours that must appear somewhere
	}{
		{name: "sample", report: sampleReport, wantCols: []color.RGBA{colE2E, colRedis, colKafka, colGood, colMarker}},
		{
			name:     "targets missed",
			report:   sampleRuns(func(_ int, r *Run) { r.P99 = 3 * time.Second }),
			wantCols: []color.RGBA{colBad, colGood},
		},
		{
			name:     "one huge ceiling",
			report:   sampleRuns(func(_ int, r *Run) { r.KafkaConsumeCeiling = 50_000_000 }),
			wantCols: []color.RGBA{colE2E, colKafka},
		},
		{
			name:     "single run",
			report:   sampleWith(func(r *Report) { r.Runs = r.Runs[:1] }),
			wantCols: []color.RGBA{colE2E},
		},
		{name: "all zero", report: func() Report { return Report{Runs: []Run{{}}} }},
		{
			name:     "zero targets",
			report:   sampleWith(func(r *Report) { r.Targets = Targets{} }),
			wantCols: []color.RGBA{colE2E},
		},
		{
			name: "non-finite and negative values",
			report: func() Report {
				return Report{Targets: DefaultTargets(), Runs: []Run{{
					Throughput: math.NaN(), KafkaConsumeCeiling: math.Inf(1), RedisUpdateCeiling: -5,
					RedisBytesPerCustomer: math.Inf(-1), P99: -time.Second, PeakRSSBytes: -1,
				}}}
			},
		},
		{
			name: "values near the float64 limit",
			report: func() Report {
				return Report{Targets: DefaultTargets(), Runs: []Run{{
					Throughput: math.MaxFloat64, KafkaConsumeCeiling: math.MaxFloat64 / 2,
					RedisBytesPerCustomer: math.MaxFloat64, P99: math.MaxInt64, PeakRSSBytes: math.MaxInt64,
				}}}
			},
		},
		{
			name: "tiny values",
			report: func() Report {
				return Report{Targets: DefaultTargets(), Runs: []Run{{Throughput: 1e-9, P99: 1, PeakRSSBytes: 1}}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteChart(&buf, tt.report()); err != nil {
				t.Fatalf("WriteChart: %v", err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("decode png: %v", err)
			}
			if got, want := img.Bounds(), image.Rect(0, 0, ChartWidth, ChartHeight); got != want {
				t.Fatalf("bounds = %v, want %v", got, want)
			}
			seen := colours(img)
			if len(seen) < 2 {
				t.Error("chart is a single colour")
			}
			if seen[colBackground] == 0 {
				t.Error("no white background")
			}
			for _, c := range tt.wantCols {
				if seen[c] == 0 {
					t.Errorf("colour %v not drawn", c)
				}
			}
		})
	}
}

// colours counts the pixels of each colour in img.
func colours(img image.Image) map[color.RGBA]int {
	seen := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			seen[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	return seen
}

// The bars are drawn to scale and the labels are there: in the sample the
// Kafka ceiling (910,000/s) is 2.26 times the Redis one (402,000/s), bars
// are equally thick, and the text is dark on white.
func TestWriteChartContent(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteChart(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	seen := colours(img)
	if ratio := float64(seen[colKafka]) / float64(seen[colRedis]); ratio < 2.1 || ratio > 2.4 {
		t.Errorf("Kafka/Redis bar area = %.2f, want about 910/402 = 2.26", ratio)
	}
	total := ChartWidth * ChartHeight
	if white := seen[colBackground]; white > total*95/100 || white < total/2 {
		t.Errorf("%d of %d pixels white: blank or overdrawn", white, total)
	}
	dark := 0
	for c, n := range seen {
		if int(c.R)+int(c.G)+int(c.B) < 3*100 {
			dark += n
		}
	}
	if dark < 3000 { // the titles, labels and tick values
		t.Errorf("only %d dark pixels: no text?", dark)
	}
}

func TestWriteChartNoRuns(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteChart(&buf, Report{Targets: DefaultTargets()}); !errors.Is(err, ErrNoRuns) {
		t.Fatalf("err = %v, want ErrNoRuns", err)
	}
	if buf.Len() != 0 {
		t.Error("wrote bytes despite the error")
	}
}

func TestWriteChartDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteChart(&a, sampleReport()); err != nil {
		t.Fatal(err)
	}
	if err := WriteChart(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same report rendered to different PNG bytes")
	}
}

func TestWriteChartWriteError(t *testing.T) {
	boom := errors.New("disk full")
	if err := WriteChart(failingWriter{boom}, sampleReport()); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapping %v", err, boom)
	}
}

func TestAxisScale(t *testing.T) {
	tests := []struct {
		name           string
		values         []float64
		wantMax, wantS float64
	}{
		{"nothing", nil, 1, 0.2},
		{"zeros and NaN", []float64{0, math.NaN(), -3}, 1, 0.2},
		{"throughput", []float64{172_340, 402_000, 910_000, 150_000}, 1_000_000, 200_000},
		{"cut above the runner-up", []float64{172_340, 402_000, 50_000_000, 150_000}, 600_000, 200_000},
		{"percentages", []float64{24.6, 78.1, 61.5, 100}, 150, 50},
	}
	for _, tt := range tests {
		maxV, step := axisScale(tt.values)
		if maxV != tt.wantMax || step != tt.wantS {
			t.Errorf("%s: axisScale = %v, %v; want %v, %v", tt.name, maxV, step, tt.wantMax, tt.wantS)
		}
	}
}
